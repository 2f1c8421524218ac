"""Corrective and preventive actions: opened against root causes, worked, then checked.

Status moves forward only along ``NEXT_STATUSES``; *done* stamps ``done_at`` (the instant
the effectiveness check compares before and after), and the verdict (verified or
ineffective) needs a note saying what the figures showed.
"""

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format

from common.errors import NotFound, PermissionDenied, TransitionNotAllowed, ValidationFailed
from recovery import events, roles
from recovery.models import (
    Complaint,
    CorrectiveAction,
    CorrectiveActionKind,
    CorrectiveActionStatus,
    EventType,
    RootCause,
)

S = CorrectiveActionStatus
NEXT_STATUSES = {
    S.OPEN: (S.IN_PROGRESS, S.DONE),
    S.IN_PROGRESS: (S.DONE,),
    S.DONE: (S.VERIFIED, S.INEFFECTIVE),
    # An ineffective action is worked again rather than replaced, so its history stays.
    S.INEFFECTIVE: (S.IN_PROGRESS,),
    S.VERIFIED: (),
}
# One CAPA links at most this many complaints in a request: enough for a real pattern.
MAX_LINKED_COMPLAINTS = 500


def _audit(action: CorrectiveAction, actor, flag: int, message: list | str) -> None:
    """The action's own history (shown under *History* in the admin), in the caller's
    transaction: a CAPA has no timeline of its own, the complaints it links have theirs."""
    LogEntry.objects.log_actions(
        actor.pk,
        CorrectiveAction.objects.filter(pk=action.pk),
        flag,
        change_message=message,
        single_object=True,
    )


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={field: [message]})


def _causes(codes: list[str]) -> list[RootCause]:
    codes = list(dict.fromkeys(codes or []))
    if not codes:
        raise _invalid("root_causes", "Name at least one root cause the action addresses.")
    found = {cause.code: cause for cause in RootCause.objects.filter(code__in=codes)}
    unknown = [code for code in codes if code not in found]
    if unknown:
        raise _invalid("root_causes", f"Unknown root cause codes: {', '.join(unknown)}.")
    return [found[code] for code in codes]


def _complaints(references: list[str]) -> list[Complaint]:
    references = list(dict.fromkeys(ref.upper() for ref in references or []))
    if len(references) > MAX_LINKED_COMPLAINTS:
        raise _invalid("complaints", f"Link at most {MAX_LINKED_COMPLAINTS} complaints at once.")
    found = {c.reference: c for c in Complaint.objects.filter(reference__in=references)}
    unknown = [ref for ref in references if ref not in found]
    if unknown:
        raise _invalid("complaints", f"Unknown complaints: {', '.join(unknown)}.")
    return [found[ref] for ref in references]


# Who may see the corrective actions (the desk's list and the API): an owner must, or they
# could not find, let alone move on, the action they own.
VIEW_PERMISSION = "recovery.view_correctiveaction"


def owner_candidates():
    """Active staff who may see corrective actions, so may own one: supervisors, complaints
    managers and the head of CX (recovery/roles.py), never agents; one query."""
    app_label, codename = VIEW_PERMISSION.split(".")
    may_view = (
        Q(is_superuser=True)
        | Q(
            groups__permissions__codename=codename,
            groups__permissions__content_type__app_label=app_label,
        )
        | Q(
            user_permissions__codename=codename, user_permissions__content_type__app_label=app_label
        )
    )
    return roles.staff_members().filter(
        pk__in=get_user_model().objects.filter(may_view, is_active=True).values("pk")
    )


def _owner(username: str):
    owner = get_user_model().objects.filter(username=username, is_active=True).first()
    if owner is None or not roles.is_staff_member(owner):
        raise _invalid(
            "owner",
            f"{username!r} cannot own a corrective action: choose an active staff member "
            "(customers and service accounts never own one).",
        )
    if not owner.has_perm(VIEW_PERMISSION):
        raise _invalid(
            "owner",
            f"{username!r} cannot see corrective actions, so cannot own one: choose a "
            "supervisor, a complaints manager or the head of CX.",
        )
    return owner


def _check_due_on(due_on) -> None:
    """A new due date cannot be in the past: the action would be overdue when set."""
    if due_on is not None and due_on < timezone.localdate():
        raise _invalid(
            "due_on",
            f"Due on {date_format(due_on, 'j M Y')} is in the past: give today or a later date.",
        )


def corrective_action_open(
    *,
    actor,
    title: str,
    root_causes: list[str],
    owner: str,
    description: str = "",
    kind: str = CorrectiveActionKind.CORRECTIVE,
    complaints: list[str] = (),
    due_on=None,
) -> CorrectiveAction:
    """Open a CAPA against causes, linking the complaints that revealed the problem."""
    if not actor.has_perm("recovery.add_correctiveaction"):
        raise PermissionDenied("Only complaints managers open corrective actions.")
    if not (title or "").strip():
        raise _invalid("title", "Give the action a title.")
    if kind not in CorrectiveActionKind.values:
        raise _invalid("kind", f"Choose one of: {', '.join(CorrectiveActionKind.values)}.")
    causes = _causes(root_causes)
    linked = _complaints(list(complaints))
    owner_user = _owner(owner)
    _check_due_on(due_on)
    with transaction.atomic():
        action = CorrectiveAction.objects.create(
            title=title.strip(),
            description=(description or "").strip(),
            kind=kind,
            owner=owner_user,
            due_on=due_on,
            created_by=actor,
        )
        action.root_causes.set(causes)
        action.complaints.set(linked)
        _record_links(action, linked, actor)
        _audit(action, actor, ADDITION, [{"added": {}}])
    return action


def _record_links(action: CorrectiveAction, complaints: list[Complaint], actor) -> None:
    events.record_many(
        [
            events.EventEntry(
                complaint,
                EventType.CORRECTIVE_ACTION_LINKED,
                actor,
                {"corrective_action_id": action.pk, "title": action.title},
                (action.owner_id,),
            )
            for complaint in complaints
        ]
    )


def corrective_action_link(*, action_id: int, actor, complaints: list[str]) -> CorrectiveAction:
    """Link more complaints that show the same problem."""
    if not actor.has_perm("recovery.change_correctiveaction"):
        raise PermissionDenied("Only complaints managers change corrective actions.")
    linked = _complaints(complaints)
    with transaction.atomic():
        action = _locked(action_id)
        new = [c for c in linked if not action.complaints.filter(pk=c.pk).exists()]
        action.complaints.add(*new)
        _record_links(action, new, actor)
        if new:
            _audit(
                action,
                actor,
                CHANGE,
                f"Linked complaints: {', '.join(c.reference for c in new)}.",
            )
    return action


def corrective_action_update(
    *,
    action_id: int,
    actor,
    title: str,
    root_causes: list[str],
    owner: str,
    description: str = "",
    kind: str = CorrectiveActionKind.CORRECTIVE,
    due_on=None,
) -> CorrectiveAction:
    """Change what an action is: its title, description, kind, causes, owner and due date.

    Its status moves through ``corrective_action_set_status`` only (that stamps the dates),
    and its complaints through ``corrective_action_link`` (that writes their timelines). The
    same checks as opening it: a title, known causes, an active staff member as owner.
    """
    if not actor.has_perm("recovery.change_correctiveaction"):
        raise PermissionDenied("Only complaints managers change corrective actions.")
    if not (title or "").strip():
        raise _invalid("title", "Give the action a title.")
    if kind not in CorrectiveActionKind.values:
        raise _invalid("kind", f"Choose one of: {', '.join(CorrectiveActionKind.values)}.")
    causes = _causes(root_causes)
    owner_user = _owner(owner)
    with transaction.atomic():
        action = _locked(action_id)
        if due_on != action.due_on:
            # An unchanged date may have passed since it was set; a new one may not.
            _check_due_on(due_on)
        wanted = {
            "title": title.strip(),
            "description": (description or "").strip(),
            "kind": kind,
            "owner": owner_user,
            "due_on": due_on,
        }
        changed = [name for name, value in wanted.items() if getattr(action, name) != value]
        for name, value in wanted.items():
            setattr(action, name, value)
        action.save()
        if {cause.pk for cause in causes} != set(action.root_causes.values_list("pk", flat=True)):
            changed.append("root_causes")
            action.root_causes.set(causes)
        if changed:
            _audit(action, actor, CHANGE, [{"changed": {"fields": changed}}])
    return action


def _locked(action_id: int) -> CorrectiveAction:
    try:
        return CorrectiveAction.objects.select_for_update().get(pk=action_id)
    except CorrectiveAction.DoesNotExist:
        raise NotFound(f"No corrective action {action_id}.") from None


def corrective_action_set_status(
    *, action_id: int, actor, status: str, note: str = ""
) -> CorrectiveAction:
    """Move a CAPA forward; its owner or a complaints manager may."""
    if status not in S.values:
        raise _invalid("status", f"Choose one of: {', '.join(S.values)}.")
    with transaction.atomic():
        action = _locked(action_id)
        if action.owner_id != actor.pk and not actor.has_perm("recovery.change_correctiveaction"):
            raise PermissionDenied("Only the action's owner or a complaints manager may.")
        allowed = NEXT_STATUSES[S(action.status)]
        if status not in allowed:
            raise TransitionNotAllowed(
                f"A corrective action that is {action.status} cannot become {status}; "
                f"next: {', '.join(allowed) or 'nothing (final)'}.",
                details={"status": action.status, "allowed": list(allowed)},
            )
        if status in (S.VERIFIED, S.INEFFECTIVE) and not (note or "").strip():
            raise _invalid("note", "Say what the effectiveness check showed.")
        now = timezone.now()
        if status == S.DONE:
            action.done_at = now
        if status in (S.VERIFIED, S.INEFFECTIVE):
            action.verified_at = now
            action.verification_note = note.strip()
        action.status = status
        action.save()
        _audit(action, actor, CHANGE, f"Status: {status}.")
    return action
