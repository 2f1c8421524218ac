"""What a complaint's descriptive fields may hold, wherever they are written: the public
form, the API, email intake, the desk and the admin's corrections. One definition each."""

from datetime import date

from django.utils import timezone
from django.utils.translation import gettext as _

from common.text import single_line_problem
from recovery.models.complaints import DESCRIPTION_MAX_CHARS, MESSAGE_MAX_CHARS

# A complaint about something that happened longer ago than this is almost surely a typo in
# the year (regulators' own time limits are six years at most).
OLDEST_YEARS = 10
SUBJECT_MAX_CHARS = 200
PRODUCT_MAX_CHARS = 200


def occurred_on_problem(day: date | None) -> str | None:
    """Why ``day`` cannot be when the matter happened, or None."""
    if day is None:
        return None
    today = timezone.localdate()
    if day > today:
        return _("The date %(day)s is in the future; give the day it happened.") % {
            "day": day.isoformat()
        }
    if day.year < today.year - OLDEST_YEARS:
        return _("%(day)s is more than %(years)s years ago; check the year.") % {
            "day": day.isoformat(),
            "years": OLDEST_YEARS,
        }
    return None


def _too_long(value: str, limit: int) -> str | None:
    if len(value or "") > limit:
        return _("At most %(limit)d characters (this has %(count)d).") % {
            "limit": limit,
            "count": len(value),
        }
    return None


def descriptive_problems(changes: dict) -> dict[str, list[str]]:
    """Each field of ``changes`` that breaks its rule, with why (empty: all hold)."""
    checks = {
        "subject": lambda v: (
            (_("Give the complaint a subject.") if not (v or "").strip() else None)
            or _too_long(v, SUBJECT_MAX_CHARS)
            or single_line_problem(v)
        ),
        "product": lambda v: _too_long(v, PRODUCT_MAX_CHARS) or single_line_problem(v),
        "description": lambda v: (
            (_("Say what happened.") if not (v or "").strip() else None)
            or _too_long(v, DESCRIPTION_MAX_CHARS)
        ),
        "remedy_sought": lambda v: _too_long(v, MESSAGE_MAX_CHARS),
        "occurred_on": occurred_on_problem,
    }
    problems = {}
    for field, value in changes.items():
        check = checks.get(field)
        problem = check(value) if check else None
        if problem:
            problems[field] = [problem]
    return problems
