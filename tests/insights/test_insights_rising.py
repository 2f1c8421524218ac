"""Rising-cause detection: once per cause and week, above the baseline by the margin, and
never below the minimum count; the owner is told through the outbox."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings

from insights.services import EVENT_CAUSE_RISING, rising_causes_raise
from insights.tasks import raise_rising_causes
from notifications.models import Outbox
from recovery.models import RootCauseAlert
from tests.insights.insights_fixtures import (
    at,
    cause,
    complaint,
)

# Every figure is checked twice: from the complaints and from the per-day summaries.
pytestmark = pytest.mark.usefixtures("insight_path")

# Wednesday: this week began Monday 16 March, last week Monday 9 March.
TODAY = at(2026, 3, 18, 15)


@pytest.fixture
def rules(settings):
    settings.REDRESS_RISING_CAUSE_WEEKS = 4
    settings.REDRESS_RISING_CAUSE_MARGIN = 0.5
    settings.REDRESS_RISING_CAUSE_MIN_COUNT = 3
    return settings


def _weekly(primary, counts_by_monday, **extra):
    for monday, count in counts_by_monday.items():
        for n in range(count):
            complaint(received=monday + timedelta(hours=9 + n), primary=primary, **extra)


@pytest.fixture
def history(db, rules, manager, supervisor):
    D = cause("billing.duplicate-charge", owner=manager)
    R = cause("billing.refund-delay")  # no owner
    L = cause("delivery.late", owner=supervisor)
    other = cause("other.cause", owner=supervisor)
    X = cause("retired.cause", owner=manager, retired_at=at(2026, 1, 1))
    done = {"resolved_at": at(2026, 3, 18, 9)}
    feb9, feb16, feb23 = at(2026, 2, 9, 0), at(2026, 2, 16, 0), at(2026, 2, 23, 0)
    mar2, mar9, mar16 = at(2026, 3, 2, 0), at(2026, 3, 9, 0), at(2026, 3, 16, 0)
    # D: one a week, then 3 this week: baseline 4 / 4 = 1.0, 3 > 1.5 -> rising.
    _weekly(D, {feb16: 1, feb23: 1, mar2: 1, mar9: 1, mar16: 3}, **done)
    # R: nothing, then 3 last week (rising then: 3 > 0) and 2 this week (below the minimum).
    _weekly(R, {mar9: 3, mar16: 2}, **done)
    # L: two a week, then 3: baseline 2.0, and 3 is exactly 1.5 x 2.0 -> not above it.
    _weekly(L, {feb16: 2, feb23: 2, mar2: 2, mar9: 2, mar16: 3}, **done)
    # other: one this week, with D contributing: contributing causes do not count.
    complaint(received=mar16 + timedelta(hours=20), primary=other, contributing=[D], **done)
    # X is retired: never raised, however many.
    _weekly(X, {mar16: 5}, **done)
    # Before the baseline window: must not lift D's baseline.
    _weekly(D, {feb9: 4}, **done)
    return {"D": D, "R": R, "L": L, "other": other, "X": X}


def alerts():
    return [
        (alert.root_cause.code, alert.week_start.isoformat(), alert.count, alert.baseline)
        for alert in RootCauseAlert.objects.order_by("week_start", "root_cause__code")
    ]


@time_machine.travel(TODAY, tick=False)
def test_rising_causes_raise_once_per_week(history, manager):
    raised = rising_causes_raise()
    assert len(raised) == 2
    assert alerts() == [
        ("billing.refund-delay", "2026-03-09", 3, 0.0),
        ("billing.duplicate-charge", "2026-03-16", 3, 1.0),
    ]
    # Only D has an owner: one event, to them, about no particular complaint.
    (event,) = Outbox.objects.filter(event_type=EVENT_CAUSE_RISING)
    assert event.complaint_id is None
    assert event.audience == {"teams": [], "users": [manager.pk], "customer": None}
    assert event.payload["parameters"] == {
        "root_cause": "billing.duplicate-charge",
        "root_cause_path": "Duplicate charge",
        "week_start": "2026-03-16",
        "count": 3,
        "baseline": 1.0,
        "alert_id": RootCauseAlert.objects.get(root_cause=history["D"]).pk,
    }
    assert "rising" in event.payload["summary"]

    # The next run, even with another D complaint, finds the alerts already raised.
    complaint(received=at(2026, 3, 17), primary=history["D"], resolved_at=at(2026, 3, 18, 10))
    assert rising_causes_raise() == []
    assert RootCauseAlert.objects.count() == 2
    assert Outbox.objects.filter(event_type=EVENT_CAUSE_RISING).count() == 1


def test_the_next_week_starts_afresh(history):
    with time_machine.travel(TODAY, tick=False):
        rising_causes_raise()
    # A week later D is back to nothing this week: nothing new. Last week (16 March) was
    # already raised.
    with time_machine.travel(TODAY + timedelta(weeks=1), tick=False):
        assert rising_causes_raise() == []
    assert RootCauseAlert.objects.count() == 2


@time_machine.travel(TODAY, tick=False)
def test_the_minimum_count_holds_back_small_numbers(history, rules):
    rules.REDRESS_RISING_CAUSE_MIN_COUNT = 4
    assert rising_causes_raise() == []
    assert not Outbox.objects.filter(event_type=EVENT_CAUSE_RISING).exists()


@time_machine.travel(TODAY, tick=False)
def test_a_lower_margin_catches_more(history, rules):
    rules.REDRESS_RISING_CAUSE_MARGIN = 0.4  # L: 3 > 2.0 x 1.4 = 2.8
    rising_causes_raise()
    assert ("delivery.late", "2026-03-16", 3, 2.0) in alerts()


@time_machine.travel(TODAY, tick=False)
def test_the_periodic_task_runs_the_check(history):
    assert raise_rising_causes.apply().get() == 2
    assert raise_rising_causes.apply().get() == 0
    schedule = django_settings.CELERY_BEAT_SCHEDULE["raise-rising-causes"]
    assert schedule["task"] == raise_rising_causes.name
    # A worker finds the task where it looks at start (each installed app's tasks.py).
    from config.celery import app

    app.loader.import_default_modules()
    assert app.tasks[schedule["task"]].name == raise_rising_causes.name


def test_impossible_rules_are_refused(db, rules):
    from django.core.exceptions import ImproperlyConfigured

    rules.REDRESS_RISING_CAUSE_WEEKS = 0
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        rising_causes_raise()
