"""Which regulatory regime a complaint is under: the codes checked at intake, and changing
them after receipt."""

from datetime import datetime

from django.db import transaction

from escalation import regulatory
from escalation.services import clocks
from recovery import events, rules
from recovery.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from recovery.models import OPEN_STATES, Complaint


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
    if profile and regulatory.get_profile(profile) is None:
        known = ", ".join(regulatory.PROFILES)
        errors["regulatory_profile"] = [f"Unknown regulatory profile {profile!r}; known: {known}."]
    if not regulatory.is_known_jurisdiction(jurisdiction):
        known = ", ".join(regulatory.known_jurisdictions())
        errors["jurisdiction"] = [
            f"Unknown jurisdiction {jurisdiction!r}; use one of {known}, or an ISO 3166 "
            "country or subdivision code such as FR or US-CA."
        ]
    if sent_to_company_at and received_at and sent_to_company_at < received_at:
        errors["sent_to_company_at"] = ["Cannot be before the complaint was received."]
    if errors:
        field = next(iter(errors))
        raise ValidationFailed(errors[field][0], details=errors)


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
                f"{locked.reference} is {locked.state}; its regulatory regime can change only "
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
                details={name: ["Same as now."] for name in changes} or {"": ["No change."]},
            )
        for name in changed:
            setattr(locked, name, after[name])
        locked.save(update_fields=[*changed, "updated_at"])
        deadlines = clocks.replan_statutory(locked)
        events.regulation_changed(locked, actor, before, after, deadlines, reason)
    return locked
