"""CAPA effectiveness: the rate of an action's causes before and after it, by hand."""

import pytest
import time_machine

from insights import selectors
from recovery.models import CorrectiveAction
from tests.insights.insights_fixtures import at, cause, complaint

# Every figure is checked twice: from the complaints and from the per-day summaries.
pytestmark = pytest.mark.usefixtures("insight_path")


@pytest.fixture
def action(db, manager):
    billing = cause("billing", "Billing")
    D = cause("billing.duplicate-charge", "Duplicate charge", parent=billing)
    R = cause("billing.refund-delay", "Refund delayed", parent=billing)
    L = cause("delivery.late", "Late delivery")
    done = {"resolved_at": at(2026, 4, 1)}
    # Week -2 (16-22 Feb): D; L with R contributing; L; one not yet classified.
    complaint(received=at(2026, 2, 16, 9), primary=D, **done)
    complaint(received=at(2026, 2, 18), primary=L, contributing=[R], **done)
    complaint(received=at(2026, 2, 20), primary=L, **done)
    complaint(received=at(2026, 2, 22, 23))
    # Week -1 (23 Feb - 1 Mar): R; L.
    complaint(received=at(2026, 2, 23), primary=R, **done)
    complaint(received=at(2026, 3, 1, 23, 59), primary=L, **done)
    # Week 0 (2-8 Mar): L; L; one not yet classified.
    complaint(received=at(2026, 3, 2, 0, 0), primary=L, **done)
    complaint(received=at(2026, 3, 5), primary=L, **done)
    complaint(received=at(2026, 3, 8))
    # Week 1 (9-15 Mar): L with D contributing; L; L.
    complaint(received=at(2026, 3, 9), primary=L, contributing=[D], **done)
    complaint(received=at(2026, 3, 11), primary=L, **done)
    complaint(received=at(2026, 3, 15, 23), primary=L, **done)
    # Outside both windows.
    complaint(received=at(2026, 2, 15, 23), primary=D, **done)
    complaint(received=at(2026, 3, 16), primary=D, **done)
    capa = CorrectiveAction.objects.create(
        title="Stop double charging",
        owner=manager,
        status="done",
        done_at=at(2026, 3, 2, 0, 0),
    )
    # Against the parent cause: its children D and R count too.
    capa.root_causes.set([billing])
    return capa


@time_machine.travel(at(2026, 6, 15), tick=False)
def test_rate_before_and_after(action):
    payload = selectors.capa_effectiveness(action, weeks=2)
    assert [
        (row["week"], row["complaints"], row["classified"], row["with_cause"], row["rate"])
        for row in payload["series"]
    ] == [
        (-2, 4, 3, 2, 0.6667),
        (-1, 2, 2, 1, 0.5),
        (0, 3, 2, 0, 0.0),
        (1, 3, 3, 1, 0.3333),
    ]
    before, after = payload["before"], payload["after"]
    # Before: 3 of 5 classified complaints carry a billing cause; after: 1 of 5.
    assert (before["complaints"], before["classified"], before["with_cause"]) == (6, 5, 3)
    assert (before["rate"], before["with_cause_per_week"]) == (0.6, 1.5)
    assert (after["complaints"], after["classified"], after["with_cause"]) == (6, 5, 1)
    assert (after["rate"], after["with_cause_per_week"]) == (0.2, 0.5)
    assert payload["rate_change_percent"] == -66.7  # (0.2 - 0.6) / 0.6
    assert payload["complete"] is True
    assert [c["code"] for c in payload["corrective_action"]["root_causes"]] == [
        "billing",
        "billing.duplicate-charge",
        "billing.refund-delay",
    ]
    assert payload["series"][0]["starts"] == "2026-02-16T00:00:00+00:00"


@time_machine.travel(at(2026, 3, 10, 12), tick=False)
def test_the_after_window_only_counts_weeks_that_have_passed(action):
    payload = selectors.capa_effectiveness(action, weeks=2)
    # Eight and a half days after: one whole week (week 0) is in.
    assert [row["week"] for row in payload["series"]] == [-2, -1, 0]
    assert (payload["after"]["weeks"], payload["after"]["classified"]) == (1, 2)
    assert payload["after"]["rate"] == 0.0
    assert payload["complete"] is False
    assert payload["rate_change_percent"] == -100.0


@time_machine.travel(at(2026, 3, 4), tick=False)
def test_nothing_to_compare_in_the_first_week(action):
    payload = selectors.capa_effectiveness(action, weeks=2)
    assert (payload["after"]["weeks"], payload["after"]["rate"]) == (0, None)
    assert payload["rate_change_percent"] is None
