"""The complaint lifecycle: one service per transition, each one transaction.

Every transition follows the same steps (``_transition``):
1. open a transaction and re-read the complaint ``SELECT … FOR UPDATE``, so concurrent
   transitions on one complaint queue up instead of overwriting each other;
2. optionally compare the state the client saw (``expected_state``) — a mismatch is a
   ``Conflict``;
3. check that the state allows the transition (``TransitionNotAllowed``) and that the actor
   may make it (``PermissionDenied``);
4. lock the clocks the transition stops or starts (``clocks.clocks_for_transition``), after
   the complaint's row as ever;
5. write what the transition needs (messages, root causes, fields), then check the
   declared conditions and call the django-fsm transition method;
6. save the changed fields; ``ConcurrentTransitionMixin`` refuses the UPDATE if the state
   moved underneath us (it cannot with the row lock on PostgreSQL, but SQLite has no row
   locks), which rolls everything back; so does a condition the change puts on the UPDATE
   (``_Change.only_if``);
7. write the timeline event and its outbox row, and move the clocks locked in step 4.
Nothing leaves the process before commit: delivery reads the outbox afterwards.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransition, can_proceed
from django_fsm import TransitionNotAllowed as FSMTransitionNotAllowed

from common.errors import (
    AlreadySent,
    Conflict,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)
from escalation.services import clocks
from recovery import events, rules, selectors
from recovery.models import (
    Complaint,
    ComplaintRootCause,
    Message,
    MessageDirection,
    MessageKind,
    Outcome,
    RecoveryAction,
)
from recovery.services import surveys

# Why a condition failed, in words a person can act on.
CONDITION_MESSAGES = {
    rules.has_acknowledgement_message: "an acknowledgement message to the customer",
    rules.has_resolution: "an outcome and a resolution summary",
    rules.has_primary_root_cause: "at least one root cause",
    rules.has_loop_closing_message: "a loop-closing message to the customer",
    rules.has_withdrawal_reason: "a reason for the withdrawal",
}

TRANSITIONS = ("acknowledge", "resolve", "close_loop", "reopen", "withdraw")


def available_transitions(complaint: Complaint, user=None) -> list[str]:
    """Transitions the complaint's state allows (and, given a user, that they may make)."""
    names = []
    for name in TRANSITIONS:
        meta = getattr(complaint, name)._django_fsm
        if not meta.has_transition(complaint.state):
            continue
        if user is not None and not meta.has_transition_perm(complaint, complaint.state, user):
            continue
        names.append(name)
    return names


def ensure_transition_allowed(complaint: Complaint, actor, name: str) -> None:
    """Raise 409/403-class errors before any payload is looked at."""
    if name not in TRANSITIONS:
        raise ValidationFailed(
            f"Unknown transition {name!r}.",
            details={"transition": [f"Choose one of: {', '.join(TRANSITIONS)}."]},
        )
    method = getattr(complaint, name)
    if not can_proceed(method, check_conditions=False):
        allowed = available_transitions(complaint)
        raise TransitionNotAllowed(
            f"Cannot {name.replace('_', ' ')} {complaint.reference}: it is {complaint.state}. "
            f"Allowed from {complaint.state}: {', '.join(allowed) or 'none (final state)'}.",
            details={"state": complaint.state, "allowed_transitions": allowed},
        )
    meta = method._django_fsm
    if not meta.has_transition_perm(complaint, complaint.state, actor):
        raise PermissionDenied(
            f"You may not {name.replace('_', ' ')} {complaint.reference}.",
            details={"state": complaint.state},
        )


class ChangedUnderneath(Conflict):
    """The UPDATE found the row changed, or no longer meeting the change's condition."""


@dataclass(frozen=True)
class _Change:
    fields: tuple[str, ...]
    record: Callable[[Complaint], object]
    # A condition on the complaint the UPDATE must still meet (``Complaint.save``).
    only_if: Q | None = None


def _transition(
    *,
    complaint: Complaint,
    actor,
    name: str,
    prepare: Callable[[Complaint, list], _Change],
    expected_state: str | None = None,
    lock_annotations: dict | None = None,
) -> Complaint:
    try:
        with transaction.atomic():
            # The customer and category come along for the policy match of the clocks a
            # transition starts, and the rest of what the answer shows that a transition
            # does not change (``selectors.complaint_changed``), and what the transition
            # checks of other rows (``lock_annotations``); only the complaint's row is
            # locked.
            locked = (
                selectors.with_api_annotations(
                    Complaint.objects.select_for_update(of=("self",)), actor
                )
                .annotate(**(lock_annotations or {}))
                .select_related(*selectors.DETAIL_RELATIONS_WITH_MATCH)
                .get(pk=complaint.pk)
            )
            if expected_state and locked.state != expected_state:
                raise Conflict(
                    f"{locked.reference} changed while you were looking at it: it is now "
                    f"{locked.state}, not {expected_state}. Reload it and try again.",
                    details={"state": locked.state},
                )
            ensure_transition_allowed(locked, actor, name)
            # The clocks the transition moves, locked now: the business time to an
            # acknowledgement or a resolution is counted on one of them.
            held = clocks.clocks_for_transition(locked, name)
            change = prepare(locked, held)
            method = getattr(locked, name)
            try:
                # django-fsm checks the conditions (a query each); asked again only to say
                # which one failed.
                method()
            except FSMTransitionNotAllowed:
                _raise_unmet_condition(locked, name, method._django_fsm)
                raise
            fields = ["state", "updated_at", *change.fields]
            if locked.awaiting_customer and not locked.is_open:
                # Nothing is awaited from the customer of a resolved or withdrawn complaint.
                locked.awaiting_customer = False
                fields.append("awaiting_customer")
            locked.save(update_fields=fields, only_if=change.only_if)
            change.record(locked)
            clocks.on_transition(locked, name, clocks=held)
    except ConcurrentTransition as exc:
        raise ChangedUnderneath(
            f"{complaint.reference} was changed by someone else at the same time. "
            "Reload it and try again."
        ) from exc
    return locked


def _raise_unmet_condition(locked: Complaint, name: str, meta) -> None:
    for condition in meta.get_transition(locked.state).conditions or []:
        if not condition(locked):
            raise ValidationFailed(
                f"Cannot {name.replace('_', ' ')} {locked.reference} without "
                f"{CONDITION_MESSAGES.get(condition, condition.__name__)}."
            )


def _require_text(**fields: str) -> None:
    """Services are called by imports and scripts too, not only through the API's forms."""
    blank = [name for name, value in fields.items() if not (value or "").strip()]
    if blank:
        raise ValidationFailed(
            f"These must not be blank: {', '.join(blank)}.",
            details={name: ["This field may not be blank."] for name in blank},
        )


def _customer_message(
    complaint: Complaint, actor, kind: str, body: str, idempotency_key: str = ""
) -> Message:
    return Message.objects.create(
        complaint=complaint,
        direction=MessageDirection.OUTBOUND,
        kind=kind,
        channel=complaint.channel,
        author=actor,
        body=body,
        idempotency_key=idempotency_key,
    )


def complaint_acknowledge(
    *,
    complaint: Complaint,
    actor,
    message: str,
    next_steps: str,
    expected_state=None,
    idempotency_key: str = "",
) -> Complaint:
    """Acknowledge: the message must name the reference and say what happens next.

    ``idempotency_key``: the sending form's one-time token, kept on the acknowledgement. The
    same form sent again raises ``AlreadySent`` and sends nothing: the first post holds the
    complaint's lock, so the second finds the complaint acknowledged (a ``Conflict``) and then
    the acknowledgement its token wrote.
    """
    if idempotency_key and (earlier := _sent_by(complaint, idempotency_key)) is not None:
        raise AlreadySent(earlier)

    def prepare(locked: Complaint, held: list) -> _Change:
        if locked.reference.lower() not in message.lower():
            raise ValidationFailed(
                "The acknowledgement must name the complaint's reference.",
                details={"message": [f"Mention {locked.reference} so the customer can quote it."]},
            )
        sent = _customer_message(
            locked,
            actor,
            MessageKind.ACKNOWLEDGEMENT,
            f"{message.strip()}\n\nWhat happens next: {next_steps.strip()}",
            idempotency_key,
        )
        locked.acknowledged_at = timezone.now()
        locked.business_seconds_to_acknowledge = clocks.business_seconds_since_received(
            locked, "acknowledge", locked.acknowledged_at, clocks=held
        )
        return _Change(
            ("acknowledged_at", "business_seconds_to_acknowledge"),
            lambda c: events.complaint_acknowledged(c, actor, sent),
        )

    try:
        return _transition(
            complaint=complaint,
            actor=actor,
            name="acknowledge",
            prepare=prepare,
            expected_state=expected_state,
        )
    except (Conflict, TransitionNotAllowed):
        if idempotency_key and (earlier := _sent_by(complaint, idempotency_key)) is not None:
            raise AlreadySent(earlier) from None
        raise


def _sent_by(complaint: Complaint, idempotency_key: str) -> Message | None:
    return Message.objects.filter(complaint=complaint, idempotency_key=idempotency_key).first()


def complaint_resolve(
    *,
    complaint: Complaint,
    actor,
    outcome: str,
    summary: str,
    root_causes: list[str],
    primary_root_cause: str = "",
    expected_state=None,
) -> Complaint:
    """Resolve with an outcome, a summary and root causes (the first or the named primary)."""

    def prepare(locked: Complaint, held: list) -> _Change:
        if outcome not in Outcome.values:
            raise ValidationFailed(
                f"Unknown outcome {outcome!r}.",
                details={"outcome": [f"Choose one of: {', '.join(Outcome.values)}."]},
            )
        codes = list(dict.fromkeys(root_causes))
        primary = primary_root_cause or (codes[0] if codes else "")
        if primary and primary not in codes:
            codes.insert(0, primary)
        taxonomy = selectors.root_causes_by_code()
        found = {code: taxonomy[code] for code in codes if code in taxonomy}
        unknown = [c for c in codes if c not in found]
        retired = [c for c in codes if c in found and not found[c].is_active]
        if not codes or unknown or retired:
            problems = []
            if not codes:
                problems.append("Give at least one root cause code.")
            if unknown:
                problems.append(f"Unknown root cause codes: {', '.join(unknown)}.")
            if retired:
                problems.append(f"Retired root cause codes may not be used: {', '.join(retired)}.")
            raise ValidationFailed(" ".join(problems), details={"root_causes": problems})
        # A re-resolution after reopening replaces the causes; the timeline keeps the old ones.
        locked.root_causes.all().delete()
        written = ComplaintRootCause.objects.bulk_create(
            ComplaintRootCause(complaint=locked, root_cause=found[c], is_primary=c == primary)
            for c in codes
        )
        # The answer shows these (``selectors.complaint_changed``), not those read with the
        # lock: primary first, then as written (the detail's order).
        selectors.hold_as_prefetched(
            locked, "root_causes", sorted(written, key=lambda link: not link.is_primary)
        )
        locked.outcome = outcome
        locked.resolution_summary = summary.strip()
        locked.resolved_at = timezone.now()
        locked.business_seconds_to_resolve = clocks.business_seconds_since_received(
            locked, "resolve", locked.resolved_at, clocks=held
        )
        return _Change(
            ("outcome", "resolution_summary", "resolved_at", "business_seconds_to_resolve"),
            lambda c: events.complaint_resolved(c, actor, codes),
        )

    return _transition(
        complaint=complaint,
        actor=actor,
        name="resolve",
        prepare=prepare,
        expected_state=expected_state,
    )


def _awaiting_approval_refusal(action) -> Conflict:
    return Conflict(
        f"Recovery #{action.pk} ({action.label}) awaits approval; decide it before closing "
        "the loop.",
        details={"recovery_id": action.pk, "recovery_status": action.status},
    )


def complaint_close_loop(
    *,
    complaint: Complaint,
    actor,
    what_we_found: str,
    what_we_did: str,
    what_will_change: str,
    expected_state=None,
) -> Complaint:
    """Close the loop: tell the customer what was found, what was done, and what will change.

    Refused (``Conflict``) while a recovery action awaits approval: the loop-closing message
    says what we did for the customer, which is not settled until it is decided. The check
    rides on the lock's read (``selectors.awaiting_recovery_annotation``); a proposal that
    committed while that read waited for the lock is seen by the UPDATE's condition, which
    rolls the step back, and the refusal then names it all the same.
    """

    def prepare(locked: Complaint, held: list) -> _Change:
        awaiting = getattr(locked, selectors.AWAITING_RECOVERY)
        if awaiting is not None:
            raise _awaiting_approval_refusal(RecoveryAction.objects.get(pk=awaiting))
        _require_text(
            what_we_found=what_we_found, what_we_did=what_we_did, what_will_change=what_will_change
        )
        body = (
            f"What we found: {what_we_found.strip()}\n\n"
            f"What we did for you: {what_we_did.strip()}\n\n"
            f"What will change: {what_will_change.strip()}"
        )
        sent = _customer_message(locked, actor, MessageKind.LOOP_CLOSING, body)
        locked.loop_closed_at = timezone.now()

        def record(c: Complaint) -> None:
            events.complaint_loop_closed(c, actor, sent, surveys.survey_create(complaint=c))

        return _Change(
            ("loop_closed_at",), record, only_if=selectors.no_recovery_awaiting_approval()
        )

    try:
        return _transition(
            complaint=complaint,
            actor=actor,
            name="close_loop",
            prepare=prepare,
            expected_state=expected_state,
            lock_annotations=selectors.awaiting_recovery_annotation(),
        )
    except ChangedUnderneath:
        # Rolled back: say why if it was a recovery proposed while we waited for the lock.
        awaiting = selectors.recovery_awaiting_approval(complaint.pk)
        if awaiting is not None:
            raise _awaiting_approval_refusal(awaiting) from None
        raise


def complaint_reopen(*, complaint: Complaint, actor, reason: str, expected_state=None) -> Complaint:
    """Reopen a resolved or loop-closed complaint; counted, because reopen rate is a quality
    measure. The clocks restart as for any reopen (``clocks.on_transition``)."""

    def prepare(locked: Complaint, held: list) -> _Change:
        _require_text(reason=reason)
        locked.reopen_count += 1
        locked.resolved_at = None
        # Worked again, its loop is open again too: the next resolution closes it anew (and
        # its tracking link no longer counts down to expiry from the old closing).
        locked.loop_closed_at = None
        # Reopened, it is back in the open queues: no longer a late reply waiting there.
        locked.customer_replied_at = None
        return _Change(
            ("reopen_count", "resolved_at", "loop_closed_at", "customer_replied_at"),
            lambda c: events.complaint_reopened(c, actor, reason.strip()),
        )

    return _transition(
        complaint=complaint,
        actor=actor,
        name="reopen",
        prepare=prepare,
        expected_state=expected_state,
    )


def complaint_withdraw(
    *,
    complaint: Complaint,
    actor,
    reason: str,
    duplicate_of: str = "",
    expected_state=None,
) -> Complaint:
    """Withdraw: the customer withdrew it, or staff merged it into another as a duplicate."""

    def prepare(locked: Complaint, held: list) -> _Change:
        original = None
        if duplicate_of:
            if rules.owns(locked, actor) and not rules.works_on(locked, actor):
                raise PermissionDenied("Only staff may mark a complaint as a duplicate.")
            original = Complaint.objects.filter(reference=duplicate_of.upper()).first()
            if original is None or original.pk == locked.pk:
                raise ValidationFailed(
                    "The duplicate must point at another existing complaint.",
                    details={"duplicate_of": [f"No other complaint {duplicate_of!r}."]},
                )
        locked.withdrawal_reason = reason.strip()
        locked.duplicate_of = original
        locked.withdrawn_at = timezone.now()
        return _Change(
            ("withdrawal_reason", "duplicate_of", "withdrawn_at"),
            lambda c: events.complaint_withdrawn(c, actor),
        )

    return _transition(
        complaint=complaint,
        actor=actor,
        name="withdraw",
        prepare=prepare,
        expected_state=expected_state,
    )
