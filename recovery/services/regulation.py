"""Which regulatory regime a complaint is under: the codes checked at intake, changing them
after receipt, and the steps a regime records on it (a provisional credit under Regulation E)."""

import re
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from common.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from escalation import regulatory
from escalation.services import clocks, obligations
from recovery import events, rules
from recovery.models import OPEN_STATES, Complaint

CURRENCY = re.compile(r"^[A-Z]{3}$")


def check_codes(
    *,
    profile: str,
    jurisdiction: str,
    received_at: datetime | None = None,
    sent_to_company_at: datetime | None = None,
) -> None:
    """Refuse an unknown profile or jurisdiction code, naming the known ones: a typo must
    never silently take a complaint's legal deadlines away."""
    errors = {}
    found = regulatory.get_profile(profile)
    if profile and found is None:
        known = ", ".join(regulatory.PROFILES)
        errors["regulatory_profile"] = [f"Unknown regulatory profile {profile!r}; known: {known}."]
    elif found is not None and found.requires_region and jurisdiction not in found.regions_by_code:
        regions = ", ".join(found.regions_by_code)
        errors["jurisdiction"] = [
            f"{found.code} counts on the public holidays of the member state the complaint is "
            f"handled in: give jurisdiction as one of {regions}."
        ]
    if "jurisdiction" not in errors and not regulatory.is_known_jurisdiction(jurisdiction):
        known = ", ".join(regulatory.known_jurisdictions())
        errors["jurisdiction"] = [
            f"Unknown jurisdiction {jurisdiction!r}; use one of {known}, or an ISO 3166 "
            "country or subdivision code such as FR or US-CA."
        ]
    elif (
        "jurisdiction" not in errors
        and found
        and jurisdiction
        and not found.counts_in(jurisdiction)
    ):
        # A region of another country would be counted, silently, in the profile's default.
        regions = ", ".join(found.regions_by_code)
        errors["jurisdiction"] = [
            f"{found.name} does not count in {jurisdiction}; give one of {regions} (or a "
            "part of their countries), or leave it blank for the profile's default."
        ]
    problem = _sent_to_company_problem(found, received_at, sent_to_company_at)
    if problem:
        errors["sent_to_company_at"] = [problem]
    if errors:
        field = next(iter(errors))
        raise ValidationFailed(errors[field][0], details=errors)


def _sent_to_company_problem(profile, received_at, sent_at) -> str:
    if sent_at is None:
        return ""
    if profile is None or not any(d.starts == "sent_to_company" for d in profile.deadlines):
        counting = [code for code, p in regulatory.PROFILES.items() if p.counts_from_sending]
        return (
            "Only regimes whose deadlines count from when a regulator sent the complaint on "
            f"take this ({', '.join(counting)}); leave it out."
        )
    if received_at is not None and sent_at < received_at:
        return "Cannot be before the complaint was received."
    # A regulator sends a complaint on after it reaches them, never ahead of today.
    if sent_at > timezone.now():
        return "Cannot be in the future."
    return ""


# What may change after receipt, and how the timeline names it.
CHANGEABLE = ("regulatory_profile", "jurisdiction", "sent_to_company_at")
REASON_MAX_CHARS = 5_000


def complaint_change_regulation(
    *, complaint: Complaint, actor, reason: str, **changes
) -> Complaint:
    """Put an open complaint under another regime: profile, jurisdiction (region) or the
    time a regulator sent it on.

    1. Refused unless the actor may change regulation and works on the complaint, the
       reason is given and every code is known.
    2. In one transaction, with the row locked: refused (409) once the complaint is resolved;
       a change that changes nothing is refused too, so the timeline holds only changes.
    3. Save the new values, re-plan the statutory clocks from the original start (internal
       targets are untouched), and write a staff-only timeline event with who, why, the
       values and the statutory deadlines before and after.
    """
    unknown = set(changes) - set(CHANGEABLE)
    if unknown:
        raise ValidationFailed(
            f"Only {', '.join(CHANGEABLE)} can change.",
            details={name: ["This field cannot be changed here."] for name in sorted(unknown)},
        )
    if not (
        actor.has_perm("recovery.change_regulation_complaint") and rules.works_on(complaint, actor)
    ):
        raise PermissionDenied(
            f"You may not change the regulatory regime of {complaint.reference}."
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "Say why the regime changes.", details={"reason": ["This field is required."]}
        )
    if len(reason) > REASON_MAX_CHARS:
        raise ValidationFailed(
            f"The reason is longer than {REASON_MAX_CHARS} characters.",
            details={"reason": [f"At most {REASON_MAX_CHARS} characters."]},
        )
    with transaction.atomic():
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        if locked.state not in OPEN_STATES:
            raise TransitionNotAllowed(
                f"{locked.reference} is {locked.get_state_display().lower()}; its regulatory regime can change only "
                "while it is open.",
                details={"state": locked.state},
            )
        before = {name: getattr(locked, name) for name in CHANGEABLE}
        after = {**before, **changes}
        check_codes(
            profile=after["regulatory_profile"],
            jurisdiction=after["jurisdiction"],
            received_at=locked.received_at,
            sent_to_company_at=after["sent_to_company_at"],
        )
        changed = [name for name in CHANGEABLE if after[name] != before[name]]
        # Same values are refused, except to plan obligations a complaint never had
        # (imported history taken up to be worked).
        unplanned = bool(after["regulatory_profile"]) and not clocks.has_statutory(locked)
        if not changed and not unplanned:
            raise ValidationFailed(
                "Nothing would change: these are the complaint's current values.",
                details={name: ["Same as now."] for name in changes}
                or {"non_field_errors": ["No change."]},
            )
        for name in changed:
            setattr(locked, name, after[name])
        locked.save(update_fields=[*changed, "updated_at"])
        deadlines = clocks.replan_statutory(locked)
        events.regulation_changed(locked, actor, before, after, deadlines, reason)
    return locked


def ensure_may_record_provisional_credit(complaint: Complaint, actor) -> None:
    """Who may record it (403), the complaint's state and its deadline (409), its profile
    (400): checked before the amount, and again under the lock."""
    if not rules.works_on(complaint, actor):
        raise PermissionDenied(f"You may not change {complaint.reference}.")
    if not complaint.is_open:
        raise TransitionNotAllowed(
            f"{complaint.reference} is {complaint.get_state_display().lower()}; a provisional credit extends the "
            "deadline of an open complaint only.",
            details={"state": complaint.state},
        )
    obligations.ensure_may_extend(
        complaint, ground=regulatory.PROVISIONAL_CREDIT, at=timezone.now()
    )


def complaint_record_provisional_credit(
    *, complaint: Complaint, actor, amount: Decimal, currency: str = "USD"
) -> Complaint:
    """Record that the consumer's account was provisionally credited with the amount in
    dispute. Under Regulation E, credited within the first deadline (10 or 20 business
    days), the institution may take 45 or 90 days to investigate (12 CFR 1005.11(c)(2),
    (c)(3)(ii)): the statutory resolve clock moves there, and the timeline says so."""
    currency = (currency or "").strip().upper()
    with transaction.atomic():
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        ensure_may_record_provisional_credit(locked, actor)
        if amount is None or amount <= 0:
            raise ValidationFailed(
                "Give the amount credited, more than 0.", details={"amount": ["Must be > 0."]}
            )
        if not CURRENCY.match(currency):
            raise ValidationFailed(
                f"{currency!r} is not a currency code; give three letters such as USD.",
                details={"currency": ["Three letters, such as USD."]},
            )
        obligations.extend(
            locked,
            ground=regulatory.PROVISIONAL_CREDIT,
            actor=actor,
            at=timezone.now(),
            details={"amount": str(amount), "currency": currency},
        )
    return locked
