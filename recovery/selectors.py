"""Reads of the recovery app: what a user may see, fetched in a fixed number of queries."""

from django.db.models import Prefetch, QuerySet

from escalation.models import Clock, Escalation
from recovery import roles
from recovery.errors import NotFound
from recovery.models import (
    STAFF_ONLY_EVENT_TYPES,
    Complaint,
    ComplaintEvent,
    ComplaintRootCause,
    Message,
)


def complaints_visible_to(user) -> QuerySet[Complaint]:
    """Staff with the view permission see every complaint; a customer sees their own."""
    queryset = Complaint.objects.all()
    if roles.is_staff_member(user) and user.has_perm("recovery.view_complaint"):
        return queryset
    customer = getattr(user, "customer", None)
    if customer is None:
        return queryset.none()
    return queryset.filter(customer=customer)


def complaint_queue(user) -> QuerySet[Complaint]:
    """The queue: one query per page whatever its size (joins, no per-row lookups)."""
    return complaints_visible_to(user).select_related(
        "customer", "team", "assignee", "category", "touchpoint", "journey_stage"
    )


def complaint_detail(*, reference: str, user) -> Complaint:
    """One complaint with its timeline, messages and root causes; 404 if not visible."""
    if "\x00" in reference:
        # No reference contains NUL, and PostgreSQL refuses it even in a WHERE clause.
        raise NotFound(f"No complaint {reference!r} that you can see.")
    messages = Message.objects.select_related("author").order_by("created_at", "id")
    timeline = ComplaintEvent.objects.select_related("actor").order_by("created_at", "id")
    if not roles.is_staff_member(user):
        messages = messages.exclude(direction="internal")
        timeline = timeline.exclude(type__in=STAFF_ONLY_EVENT_TYPES)
    complaint = (
        complaint_queue(user)
        .prefetch_related(
            Prefetch("events", queryset=timeline),
            Prefetch("messages", queryset=messages),
            Prefetch(
                "clocks",
                queryset=Clock.objects.select_related("policy", "calendar").order_by(
                    "started_at", "id"
                ),
            ),
            Prefetch(
                "escalations",
                queryset=Escalation.objects.select_related("owner", "actor", "clock").order_by(
                    "created_at", "id"
                ),
            ),
            Prefetch(
                "root_causes",
                queryset=ComplaintRootCause.objects.select_related(
                    "root_cause__parent__parent"
                ).order_by("-is_primary", "id"),
            ),
        )
        .filter(reference=reference.upper())
        .first()
    )
    if complaint is None:
        raise NotFound(f"No complaint {reference!r} that you can see.")
    return complaint


def complaint_for_email(complaint_id: int) -> Complaint | None:
    """The complaint with what a customer email needs (customer, team), in one query."""
    return Complaint.objects.select_related("customer", "team").filter(pk=complaint_id).first()


def message_body(message_id: int | None) -> str:
    if message_id is None:
        return ""
    return Message.objects.filter(pk=message_id).values_list("body", flat=True).first() or ""
