"""Writes of the insights: raising rising-cause alerts."""

from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from insights import selectors
from insights.params import week_start
from notifications.outbox import outbox_add_many
from recovery.models import RootCauseAlert

EVENT_CAUSE_RISING = "insights.cause_rising"
PAYLOAD_VERSION = 1


def rising_causes_raise(*, today: date | None = None) -> list[RootCauseAlert]:
    """Alert the owners of causes rising this week (and last week); once per cause and week.

    1. For last week and this week, find the causes above their baseline (one aggregate
       query each, ``selectors.rising_causes``). Last week is checked again because its
       complaints keep being resolved, and given their causes, after it ends.
    2. In one transaction, insert a ``RootCauseAlert`` per cause and week that has none yet;
       the unique (cause, week) constraint makes a second run, or a concurrent one, find
       the row instead of raising twice.
    3. For each new alert whose cause has an owner, write an outbox event to the owner in
       the same transaction; it is delivered after commit.

    Returns the alerts raised by this call.
    """
    rules = _rules()
    today = today or timezone.localdate()
    this_week = week_start(today)
    found = [
        rising
        for week in (this_week - timedelta(weeks=1), this_week)
        for rising in selectors.rising_causes(week=week, **rules)
    ]
    if not found:
        return []
    catalogue = selectors.cause_catalogue()
    raised, events = [], []
    with transaction.atomic():
        for rising in found:
            alert, created = RootCauseAlert.objects.get_or_create(
                root_cause_id=rising.root_cause_id,
                week_start=rising.week_start,
                defaults={"count": rising.count, "baseline": rising.baseline},
            )
            if not created:
                continue
            raised.append(alert)
            cause = catalogue.get(rising.root_cause_id)
            if cause is not None and cause.owner_id is not None:
                events.append(_event(alert, cause))
        if events:
            outbox_add_many(events)
    return raised


def _rules() -> dict:
    weeks = settings.REDRESS_RISING_CAUSE_WEEKS
    margin = settings.REDRESS_RISING_CAUSE_MARGIN
    min_count = settings.REDRESS_RISING_CAUSE_MIN_COUNT
    if weeks < 1 or margin < 0 or min_count < 1:
        raise ImproperlyConfigured(
            "REDRESS_RISING_CAUSE_WEEKS and REDRESS_RISING_CAUSE_MIN_COUNT must be at least 1, "
            f"REDRESS_RISING_CAUSE_MARGIN at least 0 (got {weeks}, {min_count}, {margin})."
        )
    return {"baseline_weeks": weeks, "margin": margin, "min_count": min_count}


def _event(alert: RootCauseAlert, cause: selectors.CauseInfo) -> dict:
    week = alert.week_start.isoformat()
    return {
        "event_type": EVENT_CAUSE_RISING,
        # About a root cause, not one complaint.
        "complaint_id": None,
        "audience": {"teams": [], "users": [cause.owner_id], "customer": None},
        "payload": {
            "v": PAYLOAD_VERSION,
            "summary": (
                f"Root cause {cause.path} is rising: {alert.count} complaints in the week of "
                f"{week}, against {alert.baseline:.1f} a week before."
            ),
            "parameters": {
                "root_cause": cause.code,
                "root_cause_path": cause.path,
                "week_start": week,
                "count": alert.count,
                "baseline": round(alert.baseline, 2),
                "alert_id": alert.pk,
            },
        },
        # One event per alert, whatever retries happen.
        "idempotency_key": f"{EVENT_CAUSE_RISING}:{alert.root_cause_id}:{week}",
    }
