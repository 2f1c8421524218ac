"""Reads of the recovery app: what a user may see, fetched in a fixed number of queries."""

from django.db.models import Prefetch, QuerySet

from recovery import roles
from recovery.errors import NotFound
from recovery.models import Complaint, ComplaintEvent, ComplaintRootCause, Message


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
    messages = Message.objects.select_related("author").order_by("created_at", "id")
    if not roles.is_staff_member(user):
        messages = messages.exclude(direction="internal")
    complaint = (
        complaint_queue(user)
        .prefetch_related(
            Prefetch(
                "events",
                queryset=ComplaintEvent.objects.select_related("actor").order_by(
                    "created_at", "id"
                ),
            ),
            Prefetch("messages", queryset=messages),
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
