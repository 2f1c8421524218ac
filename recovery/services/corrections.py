"""Corrections to what a complaint says (a typo in the subject, a wrong product), by staff.

Only descriptive fields: what selects SLA policies and clocks (channel, category, severity,
priority, the regime) or records the workflow (state, assignee, team, hold, escalation)
changes through its own service, which moves clocks and tells people.
"""

from datetime import date

from django.db import transaction

from common.errors import PermissionDenied, ValidationFailed
from recovery import events, field_rules
from recovery.models import Complaint

CORRECTABLE_FIELDS = (
    "subject",
    "description",
    "remedy_sought",
    "product",
    "occurred_on",
    "touchpoint",
    "journey_stage",
)


def _shown(value):
    # Timeline parameters are JSON: related rows by id, dates as ISO strings.
    if hasattr(value, "pk"):
        return value.pk
    if isinstance(value, date):
        return value.isoformat()
    return value


def complaint_correct_details(*, complaint: Complaint, actor, changes: dict) -> Complaint:
    """Correct descriptive fields; the timeline records each field's before and after.

    1. refuse fields that are not descriptive (they have services of their own);
    2. lock the row, compare with what it holds now, and save only what differs;
    3. write one ``details_corrected`` event (and its outbox row) in the same transaction.
    """
    if not actor.has_perm("recovery.change_complaint"):
        raise PermissionDenied(f"You may not correct {complaint.reference}.")
    refused = sorted(set(changes) - set(CORRECTABLE_FIELDS))
    if refused:
        raise ValidationFailed(
            f"{', '.join(refused)} cannot be corrected here; use the complaint's actions.",
            details={name: ["Changed only through its own action."] for name in refused},
        )
    problems = field_rules.descriptive_problems(changes)
    if problems:
        raise ValidationFailed(
            "Some corrections break the rules these fields follow everywhere.", details=problems
        )
    with transaction.atomic():
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        recorded = {}
        for name, value in changes.items():
            before = _shown(getattr(locked, name))
            if before != _shown(value):
                recorded[name] = {"before": before, "after": _shown(value)}
                setattr(locked, name, value)
        if recorded:
            locked.save(update_fields=[*recorded, "updated_at"])
            events.details_corrected(locked, actor, recorded)
    return locked
