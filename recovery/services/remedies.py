"""Recovery actions: offer within authority, route above it, approve or decline, deliver.

``recovery_propose`` steps:
1. validate the remedy itself (type, money as ``Decimal`` with a currency) before any lock;
2. lock the complaint row, so two proposals and a resolution on one complaint queue up;
3. check the actor works the complaint and may propose;
4. compare with the recovery guide; a deviation needs a reason;
5. compare the amount with the actor's limit in that currency: within it, the action is
   offered at once (*proposed*); above it, it waits for the lowest role whose limit covers
   it, and that role's members are told;
6. write the timeline event (and its outbox row) in the same transaction.
Deciding locks the action row: of two concurrent decisions exactly one wins, the other is
told who decided first.
"""

import math
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from common.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)
from escalation import configuration
from recovery import authority, currencies, events, rules, selectors
from recovery.models import (
    COSTED_TYPES,
    MONETARY_TYPES,
    ApprovalLimit,
    Complaint,
    RecoveryAction,
    RecoveryGuideline,
    RecoveryStatus,
    RecoveryType,
    State,
)
from recovery.models.remedies import CURRENCY_VALIDATOR

# Twelve digits with two decimals, as the column holds; larger is a typing mistake.
MAX_AMOUNT = Decimal("9999999999.99")
AMOUNT_DECIMALS = 2
# A recovery may be offered while the complaint is worked and once it is resolved (a
# goodwill gesture at resolution); not on a withdrawn or closed complaint.
RECOVERABLE_STATES = (State.RECEIVED, State.ACKNOWLEDGED, State.RESOLVED)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={field: [message]})


# Thousands grouped by commas, as people type them: 1,000.50 and 12,345 (any digits, so
# Arabic-Indic ones too). A decimal comma: 10,50 and 1.000,50.
GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
DECIMAL_COMMA = re.compile(r"[+-]?\d+(?:\.\d{3})*,\d{1,2}")


def _ungrouped(text: str) -> str:
    """``text`` without its thousands commas; a comma used otherwise is refused."""
    if "," not in text:
        return text
    if GROUPED.fullmatch(text):
        return text.replace(",", "")
    if DECIMAL_COMMA.fullmatch(text):
        pointed = text.replace(".", "").replace(",", ".")
        raise _invalid("amount", f"{text}: use a point for decimals, like {pointed}.")
    raise _invalid(
        "amount", f"{text}: commas only group thousands, in threes, like 1,000.50 or 12,345."
    )


def parse_amount(value) -> Decimal | None:
    """Money from a request or an import: a decimal string or number, never a float's guess.

    Commas grouping thousands are dropped (1,000.50); digits of any script are read as the
    number they are (Arabic-Indic ١٢ is 12). Each way an amount can be wrong has its own
    message: not a number ("ten", "inf", "NaN"), a decimal comma (10,50) or misplaced commas
    (1,00.5), negative, too large for the column (1e20, and 1e309, which a float reads as
    infinity), or finer than a hundredth. Zero and the currency's own decimals are checked
    with the remedy (``_validate_remedy``).
    """
    if value is None or value == "":
        return None
    if isinstance(value, float):
        # A JSON number beyond a float's range arrives as infinity: it was too large.
        beyond = "-1e309" if value < 0 else "1e309"
        value = beyond if math.isinf(value) else repr(value)
    text = _ungrouped(str(value).strip())
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite():
        raise _invalid("amount", f"{text!r} is not a number; write the amount like 25.00.")
    if amount < 0:
        raise _invalid("amount", "The amount must not be negative.")
    if amount > MAX_AMOUNT:
        raise _invalid("amount", f"The amount is too large: the maximum is {MAX_AMOUNT}.")
    if amount != amount.quantize(Decimal("0.01")):
        raise _invalid(
            "amount",
            f"{text} has too many decimal places: use at most {AMOUNT_DECIMALS}, like 25.00.",
        )
    return amount.quantize(Decimal("0.01"))


def _validate_remedy(type: str, amount: Decimal | None, currency: str) -> None:
    if type not in RecoveryType.values:
        raise _invalid("type", f"Unknown recovery type {type!r}; use one of {RecoveryType.values}.")
    if type in MONETARY_TYPES and amount is None:
        raise _invalid("amount", f"A {type.replace('_', ' ')} needs an amount and a currency.")
    if type not in COSTED_TYPES and amount is not None:
        raise _invalid("amount", f"An {type} carries no amount.")
    if amount is None and currency:
        raise _invalid("currency", "A currency needs an amount.")
    if amount is not None:
        if not currency:
            raise _invalid("currency", "Give the currency of the amount, such as GBP.")
        try:
            CURRENCY_VALIDATOR(currency)
        except Exception:
            raise _invalid(
                "currency", f"{currency!r} is not a three-letter currency code such as GBP."
            ) from None
        if not currencies.is_known(currency):
            raise _invalid(
                "currency", f"{currency} is not a currency code we know (ISO 4217), such as GBP."
            )
        _validate_money(type, amount, currency)


def _validate_money(type: str, amount: Decimal, currency: str) -> None:
    """No money remedy of nothing, and no finer amount than the currency's minor unit."""
    if type in MONETARY_TYPES and amount == 0:
        kind = str(RecoveryType(type).label).lower()
        a_kind = f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
        zero = currencies.written(Decimal(0), currency)
        raise _invalid(
            "amount",
            f"{a_kind.capitalize()} of {zero} is not {a_kind}: "
            "enter the sum, or choose another remedy.",
        )
    if currencies.decimals(currency) == 0 and amount != amount.to_integral_value():
        below = amount.to_integral_value(rounding=ROUND_FLOOR)
        above = amount.to_integral_value(rounding=ROUND_CEILING)
        raise _invalid(
            "amount",
            f"{currency} has no decimal places: {amount.normalize():f} → enter {below} or {above}.",
        )


def approval_limits_seed(model=ApprovalLimit) -> None:
    """Add the default limits that are missing; never overwrite a limit someone changed.

    Called by the data migration (with the historical model) and by ``seed_demo``.
    """
    for (role, currency), amount in authority.DEFAULT_LIMITS.items():
        model.objects.get_or_create(role=role, currency=currency, defaults={"amount": amount})


def guideline_for(complaint: Complaint, currency: str = "") -> RecoveryGuideline | None:
    """The guide's row for the complaint's primary cause or its nearest ancestor.

    A row for the complaint's severity beats an any-severity row at the same cause; a row in
    the complaint's currency beats one with none. The guide and the taxonomy are held in
    memory (``escalation.configuration``); the complaint's causes are those it holds (read
    with it, or one query).
    """
    primary = next((link for link in complaint.root_causes.all() if link.is_primary), None)
    by_code = selectors.root_causes_by_code()
    cause = by_code.get(primary.root_cause.code) if primary else None
    guide = _guidelines_by_cause()
    seen = set()
    while cause is not None and cause.pk not in seen:
        seen.add(cause.pk)
        rows = [row for row in guide.get(cause.pk, ()) if row.severity in (complaint.severity, "")]
        rows.sort(key=lambda r: (r.severity != complaint.severity, r.currency != currency))
        if rows:
            return rows[0]
        cause = cause.parent
    return None


def _guidelines_by_cause() -> dict[int, list[RecoveryGuideline]]:
    """The recovery guide by root cause id, read once per process until it changes
    (``escalation.configuration``). Shared by the process's requests: read-only."""

    def load() -> dict[int, list[RecoveryGuideline]]:
        by_cause: dict[int, list[RecoveryGuideline]] = {}
        for row in RecoveryGuideline.objects.order_by("id"):
            by_cause.setdefault(row.root_cause_id, []).append(row)
        return by_cause

    return configuration.cached("recovery-guidelines", load)


def suggestion(guideline: RecoveryGuideline | None) -> dict | None:
    if guideline is None:
        return None
    return {
        "guideline_id": guideline.pk,
        "type": guideline.type,
        "amount": None if guideline.amount is None else str(guideline.amount),
        "currency": guideline.currency,
        "note": guideline.note,
    }


def _deviates(guideline, type: str, amount, currency: str) -> bool:
    if guideline is None:
        return False
    if guideline.type != type:
        return True
    if guideline.amount is None:
        return False
    return amount != guideline.amount or currency != guideline.currency


def _approvers(role: str, complaint: Complaint) -> list[int]:
    """Members of the approving role on the complaint's team, or all of them if none are."""
    members = get_user_model().objects.filter(groups__name=role, is_active=True)
    on_team = members.filter(teams=complaint.team_id) if complaint.team_id else members.none()
    chosen = on_team if on_team.exists() else members
    return list(chosen.values_list("pk", flat=True).distinct()[:50])


def recovery_propose(
    *,
    complaint: Complaint,
    actor,
    type: str,
    amount=None,
    currency: str = "",
    description: str = "",
    deviation_reason: str = "",
) -> RecoveryAction:
    """Offer a remedy; above the actor's limit it waits for an approver (see module doc)."""
    amount = parse_amount(amount)
    currency = (currency or "").strip().upper()
    _validate_remedy(type, amount, currency)
    with transaction.atomic():
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        if not (
            actor.has_perm("recovery.propose_recoveryaction") and rules.works_on(locked, actor)
        ):
            raise PermissionDenied(f"You may not offer a recovery on {locked.reference}.")
        if locked.state not in RECOVERABLE_STATES:
            raise TransitionNotAllowed(
                f"{locked.reference} is {locked.get_state_display().lower()}: recoveries are offered while a "
                "complaint is open or just resolved.",
                details={"state": locked.state},
            )
        guideline = guideline_for(locked, currency)
        if _deviates(guideline, type, amount, currency) and not deviation_reason.strip():
            raise _invalid(
                "deviation_reason",
                "The recovery guide suggests "
                f"{guideline.get_type_display().lower()}"
                + (f" of {guideline.amount} {guideline.currency}" if guideline.amount else "")
                + " for this cause; say why this complaint needs something else.",
            )
        action = RecoveryAction(
            complaint=locked,
            type=type,
            amount=amount,
            currency=currency,
            description=description.strip(),
            proposed_by=actor,
            suggested=suggestion(guideline),
            # Where the guide has no row there is nothing to depart from: no reason is kept.
            deviation_reason=deviation_reason.strip() if guideline is not None else "",
        )
        limits = selectors.load_limits()
        if not authority.covers(selectors.actor_limit(actor, currency, limits), amount):
            action.approver_role = authority.approver_role(limits, amount, currency)
            action.request_approval()
        action.save()
        if action.status == RecoveryStatus.AWAITING_APPROVAL:
            approvers = [pk for pk in _approvers(action.approver_role, locked) if pk != actor.pk]
            events.recovery_approval_requested(action, actor, approvers)
        else:
            events.recovery_proposed(action, actor)
    return action


def _locked_action(action_id: int) -> RecoveryAction:
    try:
        return (
            RecoveryAction.objects.select_for_update(of=("self",))
            .select_related("complaint")
            .get(pk=action_id)
        )
    except RecoveryAction.DoesNotExist:
        raise NotFound(f"No recovery action {action_id}.") from None


def recovery_decide(*, action_id: int, actor, approve: bool, reason: str) -> RecoveryAction:
    """Approve or decline an action awaiting approval; the first decision wins."""
    if not (reason or "").strip():
        raise _invalid("reason", "Say why you approve or decline: it goes on the timeline.")
    with transaction.atomic():
        action = _locked_action(action_id)
        if not (
            actor.has_perm("recovery.decide_recoveryaction")
            and rules.works_on(action.complaint, actor)
        ):
            raise PermissionDenied("You may not approve or decline recovery actions.")
        if action.status != RecoveryStatus.AWAITING_APPROVAL:
            who = action.decided_by.get_username() if action.decided_by_id else "nobody"
            raise Conflict(
                f"This recovery is already {action.status} (decided by {who}); "
                "nothing is awaiting your decision.",
                details={"status": action.status},
            )
        if action.proposed_by_id == actor.pk:
            raise PermissionDenied("Someone other than the proposer must decide (four eyes).")
        limit = selectors.actor_limit(actor, action.currency)
        if not authority.covers(limit, action.amount):
            raise PermissionDenied(
                f"{action.amount} {action.currency} is above your limit "
                f"({limit} {action.currency}); it needs a {action.approver_role} approver.",
                details={"approver_role": action.approver_role},
            )
        action.approve() if approve else action.decline()
        action.decided_by = actor
        action.decided_at = timezone.now()
        action.decision_reason = reason.strip()
        action.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        events.recovery_decided(action, actor)
    return action


def recovery_deliver(*, action_id: int, actor, note: str = "") -> RecoveryAction:
    """Record that an offered or approved remedy reached the customer."""
    with transaction.atomic():
        action = _locked_action(action_id)
        if not rules.works_on(action.complaint, actor) or not actor.has_perm(
            "recovery.propose_recoveryaction"
        ):
            raise PermissionDenied("You may not deliver recoveries on this complaint.")
        if action.status not in (RecoveryStatus.PROPOSED, RecoveryStatus.APPROVED):
            raise TransitionNotAllowed(
                f"A recovery that is {action.status} cannot be delivered; only offered or "
                "approved ones can.",
                details={"status": action.status},
            )
        action.deliver()
        action.delivered_by = actor
        action.delivered_at = timezone.now()
        if note.strip():
            action.description = f"{action.description}\n\nDelivered: {note.strip()}".strip()
        action.save(update_fields=["status", "delivered_by", "delivered_at", "description"])
        events.recovery_delivered(action, actor)
    return action
