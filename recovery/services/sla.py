"""The complaint's side of SLA handling: the read-side clock summary, assignment, and
awaiting the customer. Called by the escalation app and by views."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.db.models.functions import Greatest

from recovery import events, rules
from recovery.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from recovery.models import Complaint


def complaints_refresh_sla(complaint_ids) -> None:
    """Recompute next deadline, escalation level and next escalation from the clocks."""
    from escalation.selectors import sla_snapshot_expressions

    Complaint.objects.filter(pk__in=list(complaint_ids)).update(**sla_snapshot_expressions())


def complaints_raise_escalation_level(levels: dict[int, int]) -> None:
    """The ladder moved these complaints up: ``{complaint id: level reached}``, one UPDATE.

    Only ever raises, so a complaint already escalated higher by hand keeps its level.
    """
    if not levels:
        return
    reached = Case(
        *(When(pk=complaint_id, then=Value(level)) for complaint_id, level in levels.items()),
        default=F("escalation_level"),
        output_field=IntegerField(),
    )
    Complaint.objects.filter(pk__in=list(levels)).update(
        escalation_level=Greatest(F("escalation_level"), reached)
    )


def complaint_set_escalation_level(complaint: Complaint, level: int) -> None:
    Complaint.objects.filter(pk=complaint.pk).update(escalation_level=level)
    complaint.escalation_level = level


def complaint_assign(*, complaint: Complaint, assignee, actor=None, reason: str = "") -> Complaint:
    """Give the complaint to ``assignee``; ``actor=None`` is the system (the ladder)."""
    if actor is not None and not (
        actor.has_perm("recovery.assign_complaint")
        or (assignee is not None and assignee.pk == actor.pk and rules.works_on(complaint, actor))
    ):
        raise PermissionDenied(f"You may not reassign {complaint.reference}.")
    if assignee is not None and not get_user_model().objects.filter(pk=assignee.pk).exists():
        raise ValidationFailed("No such user.", details={"assignee": ["Unknown user."]})
    with transaction.atomic():
        previous = complaint.assignee_id
        Complaint.objects.filter(pk=complaint.pk).update(assignee=assignee)
        complaint.assignee = assignee
        events.complaint_assigned(complaint, actor, previous, reason)
    return complaint


def complaint_set_awaiting_customer(
    *, complaint: Complaint, actor, awaiting: bool, reason: str = ""
) -> Complaint:
    """Put an open complaint on hold for the customer's answer, or take it off hold.

    Pausable clocks pause and resume in the same transaction.
    """
    from escalation.services import clocks

    if actor is not None and not rules.works_on(complaint, actor):
        raise PermissionDenied(f"You may not change {complaint.reference}.")
    with transaction.atomic():
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        if not locked.is_open:
            raise TransitionNotAllowed(
                f"{locked.reference} is {locked.state}; only open complaints wait for customers.",
                details={"state": locked.state},
            )
        if locked.awaiting_customer == awaiting:
            return locked
        locked.awaiting_customer = awaiting
        locked.save(update_fields=["awaiting_customer", "updated_at"])
        # Callers go on using their own instance in the same transaction (a customer's reply
        # then starts the respond clock, which must not see a stale "awaiting" and pause).
        complaint.awaiting_customer = awaiting
        if awaiting:
            clocks.pause(locked)
            events.awaiting_customer(locked, actor, reason)
        else:
            clocks.resume(locked)
            events.awaiting_ended(locked, actor, reason or "agent")
        complaints_refresh_sla([locked.pk])
    return locked
