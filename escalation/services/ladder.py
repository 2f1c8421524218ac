"""The escalation ladder: who owns a complaint at each level, and moving between levels."""

from django.contrib.auth import get_user_model
from django.db import transaction

from common.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from escalation import events
from escalation.models import Escalation, EscalationLadder, EscalationLevel, EscalationTarget
from escalation.services import snapshot
from recovery import roles
from recovery.events import record_many
from recovery.models import Complaint

ROLE_OF_TARGET = {
    EscalationTarget.TEAM_SUPERVISOR: roles.SUPERVISOR,
    EscalationTarget.COMPLAINTS_MANAGER: roles.COMPLAINTS_MANAGER,
    EscalationTarget.HEAD_OF_CX: roles.HEAD_OF_CX,
}
# When nobody holds the role (no supervisor on the team, no head of CX yet), the complaint
# goes one rung higher rather than to nobody.
FALLBACK = {
    EscalationTarget.TEAM_SUPERVISOR: EscalationTarget.COMPLAINTS_MANAGER,
    EscalationTarget.COMPLAINTS_MANAGER: EscalationTarget.HEAD_OF_CX,
}


def owners_for(complaint: Complaint, target: str) -> list[int]:
    """User ids who own the complaint at ``target``, first one being the named owner."""
    users = (
        get_user_model()
        .objects.filter(is_active=True, groups__name=ROLE_OF_TARGET[target])
        .order_by("username")
    )
    if target == EscalationTarget.TEAM_SUPERVISOR:
        users = users.filter(teams=complaint.team_id) if complaint.team_id else users.none()
    found = list(users.values_list("pk", flat=True).distinct())
    if not found and target in FALLBACK:
        return owners_for(complaint, FALLBACK[target])
    return found


def ladder_levels(ladder: EscalationLadder | None) -> dict[int, EscalationLevel]:
    if ladder is None:
        return {}
    return {level.level: level for level in ladder.levels.all()}


def complaint_escalate_by_hand(*, complaint: Complaint, actor, direction: str, reason: str):
    """A supervisor moves the complaint one level up or down, with a reason."""
    if not actor.has_perm("recovery.escalate_complaint"):
        raise PermissionDenied(f"You may not escalate {complaint.reference}.")
    if direction not in ("up", "down"):
        raise ValidationFailed(
            "Say which way: up or down.", details={"direction": ["Choose up or down."]}
        )
    if not reason.strip():
        raise ValidationFailed("Give a reason.", details={"reason": ["This field is required."]})
    with transaction.atomic():
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        if not locked.is_open:
            raise TransitionNotAllowed(
                f"{locked.reference} is {locked.get_state_display().lower()}; only open complaints escalate.",
                details={"state": locked.state},
            )
        levels = sorted(EscalationTarget.values)
        previous = locked.escalation_level
        level = previous + 1 if direction == "up" else previous - 1
        if level < 0 or level > len(levels):
            raise ValidationFailed(
                f"{locked.reference} is at level {previous}; it cannot go {direction}.",
                details={"direction": [f"Level must stay between 0 and {len(levels)}."]},
            )
        target = _target_of_level(level)
        owners = owners_for(locked, target) if target else []
        escalation = Escalation.objects.create(
            complaint=locked,
            level=level,
            previous_level=previous,
            target=target or "",
            owner_id=owners[0] if owners else None,
            actor=actor,
            manual=True,
            reason=reason.strip(),
        )
        snapshot.complaint_set_escalation_level(locked, level)
        record_many([events.escalated(escalation, actor)])
    return escalation


def _target_of_level(level: int) -> str:
    # Hand escalation follows the default ladder's order of roles.
    order = [
        EscalationTarget.TEAM_SUPERVISOR,
        EscalationTarget.COMPLAINTS_MANAGER,
        EscalationTarget.HEAD_OF_CX,
    ]
    return order[level - 1] if 1 <= level <= len(order) else ""


def complaint_request_escalation(*, complaint: Complaint, actor, reason: str) -> None:
    """The customer asks for escalation: recorded and routed to the team's supervisors."""
    from recovery import rules

    if not rules.owns(complaint, actor):
        raise PermissionDenied("Only the customer who complained may ask for escalation.")
    _record_escalation_request(complaint, actor, reason)


def customer_request_escalation(*, complaint: Complaint, reason: str) -> None:
    """The customer asks for escalation without a login, from the tracking page.

    The caller has already decided the request is the customer's: it came through the
    complaint's signed tracking link, which only the customer was given. The actor is the
    customer's portal user when they have one, else nobody. Otherwise the same as
    ``complaint_request_escalation``.
    """
    _record_escalation_request(complaint, complaint.customer.user, reason)


def _record_escalation_request(complaint: Complaint, actor, reason: str) -> None:
    if not complaint.is_open:
        raise TransitionNotAllowed(
            f"{complaint.reference} is {complaint.get_state_display().lower()}; it can no longer be escalated.",
            details={"state": complaint.state},
        )
    if not reason.strip():
        raise ValidationFailed("Tell us why.", details={"reason": ["This field is required."]})
    with transaction.atomic():
        owners = owners_for(complaint, EscalationTarget.TEAM_SUPERVISOR)
        record_many([events.escalation_requested(complaint, actor, reason.strip(), owners)])
