"""The complaint's side of SLA handling: assignment and awaiting the customer. Called by
the escalation app's ladder and by the interfaces."""

from django.db import transaction

from common.errors import Conflict, PermissionDenied, TransitionNotAllowed, ValidationFailed
from recovery import events, roles, rules
from recovery.models import Complaint

# "Whoever it is assigned to now": a caller that did not see the assignee checks nothing.
ANY_ASSIGNEE = object()


def complaint_assign(
    *, complaint: Complaint, assignee, actor=None, reason: str = "", notify_staff: bool = True
) -> Complaint:
    """Give the complaint to ``assignee``; ``actor=None`` is the system (the ladder).

    ``notify_staff=False`` when another event of the same change tells them (an escalation)."""
    if actor is not None and not (
        actor.has_perm("recovery.assign_complaint")
        or (assignee is not None and assignee.pk == actor.pk and rules.works_on(complaint, actor))
    ):
        raise PermissionDenied(f"You may not reassign {complaint.reference}.")
    if assignee is not None and not roles.staff_members().filter(pk=assignee.pk).exists():
        raise ValidationFailed(
            "Complaints are assigned to active staff only.",
            details={"assignee": ["Give an active member of staff."]},
        )
    # A person's choice must be someone who works the complaint; the ladder (no actor)
    # hands it to the owner of its escalation, which that rule lets through anyway.
    if (
        actor is not None
        and assignee is not None
        and assignee.pk != complaint.assignee_id
        and not rules.may_be_assigned(complaint, assignee)
    ):
        team = complaint.team.name if complaint.team else ""
        message = f"{assignee.get_username()} does not work in the {team} team."
        raise ValidationFailed(message, details={"assignee": [message]})
    with transaction.atomic():
        previous = complaint.assignee_id
        Complaint.objects.filter(pk=complaint.pk).update(assignee=assignee)
        complaint.assignee = assignee
        events.complaint_assigned(complaint, actor, previous, reason, notify_staff=notify_staff)
    return complaint


def complaint_hand_out(*, complaint: Complaint, assignee, actor, reason: str = "") -> Complaint:
    """Assign an open complaint, as a supervisor's bulk assignment does.

    1. a supervisor's step (``recovery.assign_complaint``); lock the row: a complaint resolved or withdrawn since the supervisor's queue was
       shown is refused (409) rather than handed to someone with nothing left to do;
    2. already theirs: nothing to record (a second run of the same bulk action);
    3. else ``complaint_assign``, which records the event.
    """
    if not actor.has_perm("recovery.assign_complaint"):
        raise PermissionDenied(f"You may not reassign {complaint.reference}.")
    with transaction.atomic():
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        if not locked.is_open:
            raise TransitionNotAllowed(
                f"{locked.reference} is {locked.get_state_display().lower()}; only open complaints are handed out.",
                details={"state": locked.state},
            )
        if assignee is not None and locked.assignee_id == assignee.pk:
            return locked
        return complaint_assign(complaint=locked, assignee=assignee, actor=actor, reason=reason)


def complaint_take(
    *, complaint: Complaint, actor, seen_assignee_id=ANY_ASSIGNEE, reason: str = ""
) -> Complaint:
    """``actor`` takes an open complaint (assigns it to themselves).

    1. lock the row, so that two people taking it at once are told in turn;
    2. refuse a complaint no longer open (409), and one whose assignee changed since the
       caller saw it (``seen_assignee_id``, ``None`` for nobody): someone took it meanwhile,
       and taking it from them is a decision to make knowingly (409, naming them);
    3. already the actor's: nothing to record (a double click);
    4. else ``complaint_assign``, which checks the actor works on it and records the event.
    """
    with transaction.atomic():
        # No select_related: waiting on the lock, PostgreSQL re-reads the complaint row but
        # not a joined one, so a joined assignee would be the one from before the wait.
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        if not locked.is_open:
            raise TransitionNotAllowed(
                f"{locked.reference} is {locked.get_state_display().lower()}; only open complaints are taken.",
                details={"state": locked.state},
            )
        if seen_assignee_id is not ANY_ASSIGNEE and locked.assignee_id != seen_assignee_id:
            if locked.assignee_id == actor.pk:
                return locked
            who = _name_of(locked.assignee) if locked.assignee else "nobody"
            raise Conflict(
                f"{locked.reference} changed hands while you were looking: it is now assigned "
                f"to {who}. Look again before taking it.",
                details={"assignee": [who]},
            )
        if locked.assignee_id == actor.pk:
            return locked
        return complaint_assign(complaint=locked, assignee=actor, actor=actor, reason=reason)


def _name_of(user) -> str:
    return user.get_full_name() or user.get_username()


def complaint_set_awaiting_customer(
    *, complaint: Complaint, actor, awaiting: bool, reason: str = ""
) -> Complaint:
    """Put an open complaint on hold for the customer's answer, or take it off hold.

    Pausable clocks pause and resume in the same transaction.
    """
    from escalation.services import clocks, snapshot

    if actor is not None and not rules.works_on(complaint, actor):
        raise PermissionDenied(f"You may not change {complaint.reference}.")
    with transaction.atomic():
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        if not locked.is_open:
            raise TransitionNotAllowed(
                f"{locked.reference} is {locked.get_state_display().lower()}; only open complaints wait for customers.",
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
        snapshot.complaints_refresh_sla([locked.pk])
    return locked
