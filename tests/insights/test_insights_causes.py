"""Pareto by count and by cost, and weekly trends, against fixtures computed by hand."""

from datetime import date

import pytest

from insights import selectors
from insights.params import Scope
from tests.insights.insights_fixtures import (
    at,
    cause,
    complaint,
    recovery,
)

# Every figure is checked twice: from the complaints and from the per-day summaries.
pytestmark = pytest.mark.usefixtures("insight_path")

MARCH = Scope(start=date(2026, 3, 1), end=date(2026, 3, 31))


@pytest.fixture
def causes(db):
    billing = cause("billing", "Billing")
    return {
        "billing": billing,
        # Created in this order: ties in the rankings are broken by id, so D, R, L.
        "D": cause("billing.duplicate-charge", "Duplicate charge", parent=billing),
        "R": cause("billing.refund-delay", "Refund delayed", parent=billing),
        "L": cause("delivery.late", "Late delivery"),
    }


@pytest.fixture
def complaints(causes, team, other_team):
    D, R, L = causes["D"], causes["R"], causes["L"]
    resolved = {"resolved_at": at(2026, 4, 1)}
    return {
        "P1": complaint(received=at(2026, 3, 2), primary=D, team=team, **resolved),
        "P2": complaint(
            received=at(2026, 3, 3), primary=D, contributing=[R], team=team, **resolved
        ),
        "P3": complaint(received=at(2026, 3, 10), primary=D, team=other_team, **resolved),
        "P4": complaint(
            received=at(2026, 3, 11), channel="email", primary=R, contributing=[L], **resolved
        ),
        "P5": complaint(received=at(2026, 3, 24), channel="email", primary=L, **resolved),
        "P6": complaint(received=at(2026, 3, 24, 15)),  # not resolved: no cause yet
        "P7": complaint(received=at(2026, 2, 25), primary=R, **resolved),  # February
    }


def ranking(payload, *keys):
    return [tuple(row[key] for key in keys) for row in payload["rows"]]


def test_pareto_by_count_of_primary_causes(complaints):
    payload = selectors.pareto_by_count(MARCH)
    # Primary causes in March: D (P1, P2, P3), R (P4), L (P5); P6 has none, P7 is February.
    assert payload["complaints"] == 6
    assert payload["counted"] == 5
    assert ranking(payload, "rank", "code", "complaints", "percent", "cumulative_percent") == [
        (1, "billing.duplicate-charge", 3, 60.0, 60.0),
        (2, "billing.refund-delay", 1, 20.0, 80.0),
        (3, "delivery.late", 1, 20.0, 100.0),
    ]
    assert payload["rows"][0]["path"] == "Billing > Duplicate charge"


def test_pareto_by_count_of_all_causes(complaints):
    payload = selectors.pareto_by_count(MARCH, causes="all")
    # D 3; R 2 (P2 contributing, P4); L 2 (P4 contributing, P5): 7 mentions.
    # 3/7 = 42.86 %, 2/7 = 28.57 %; cumulative 42.86, 71.43, 100.
    assert payload["counted"] == 7
    assert ranking(payload, "code", "complaints", "percent", "cumulative_percent") == [
        ("billing.duplicate-charge", 3, 42.9, 42.9),
        ("billing.refund-delay", 2, 28.6, 71.4),
        ("delivery.late", 2, 28.6, 100.0),
    ]


def test_pareto_filters(complaints, team):
    email = Scope(start=MARCH.start, end=MARCH.end, channel="email")
    assert ranking(
        selectors.pareto_by_count(email), "code", "complaints", "cumulative_percent"
    ) == [
        ("billing.refund-delay", 1, 50.0),
        ("delivery.late", 1, 100.0),
    ]
    billing_team = Scope(start=MARCH.start, end=MARCH.end, team="billing", team_id=team.pk)
    assert ranking(selectors.pareto_by_count(billing_team), "code", "complaints") == [
        ("billing.duplicate-charge", 2)
    ]
    nothing = Scope(start=MARCH.start, end=MARCH.end, product="Mortgage")
    payload = selectors.pareto_by_count(nothing)
    assert (payload["complaints"], payload["counted"], payload["rows"]) == (0, 0, [])


def test_pareto_by_cost_per_currency(complaints):
    p = complaints
    recovery(p["P1"], "refund", "10.00", "GBP")
    recovery(p["P1"], "apology")  # no money
    recovery(p["P2"], "refund", "25.50", "GBP", status="approved")
    recovery(p["P2"], "goodwill", "5.00", "EUR", status="proposed")
    recovery(p["P3"], "refund", "100.00", "GBP", status="declined")  # never paid
    recovery(p["P4"], "account_credit", "30.00", "GBP", status="awaiting_approval")
    recovery(p["P5"], "refund", "7.25", "EUR")
    recovery(p["P6"], "refund", "4.00", "GBP")  # no cause yet: unattributed
    recovery(p["P7"], "refund", "999.00", "GBP")  # February
    payload = selectors.pareto_by_cost(MARCH)
    # GBP: D 10.00 + 25.50 = 35.50, R 30.00; of 65.50: 54.20 % and 45.80 %.
    # EUR: L 7.25, D 5.00; of 12.25: 59.18 % and 40.82 %.
    assert ranking(
        payload,
        "currency",
        "rank",
        "code",
        "amount",
        "actions",
        "complaints",
        "percent",
        "cumulative_percent",
    ) == [
        ("EUR", 1, "delivery.late", "7.25", 1, 1, 59.2, 59.2),
        ("EUR", 2, "billing.duplicate-charge", "5.00", 1, 1, 40.8, 100.0),
        ("GBP", 1, "billing.duplicate-charge", "35.50", 2, 2, 54.2, 54.2),
        ("GBP", 2, "billing.refund-delay", "30.00", 1, 1, 45.8, 100.0),
    ]
    assert payload["currencies"] == [
        {"currency": "EUR", "total": "12.25", "attributed": "12.25", "unattributed": "0.00"},
        {"currency": "GBP", "total": "69.50", "attributed": "65.50", "unattributed": "4.00"},
    ]


def test_weekly_trends_stretch_the_period_to_whole_weeks(complaints):
    payload = selectors.cause_trends(MARCH)
    # 1-31 March runs from the week of Monday 23 February to the week of Monday 30 March,
    # so P7 (25 February) is in the first week.
    assert payload["weeks"] == [
        "2026-02-23",
        "2026-03-02",
        "2026-03-09",
        "2026-03-16",
        "2026-03-23",
        "2026-03-30",
    ]
    assert payload["volume"] == [1, 2, 2, 0, 2, 0]
    assert [(s["code"], s["counts"]) for s in payload["series"]] == [
        ("billing.duplicate-charge", [0, 2, 1, 0, 0, 0]),
        ("billing.refund-delay", [1, 0, 1, 0, 0, 0]),
        ("delivery.late", [0, 0, 0, 0, 1, 0]),
    ]


def test_trends_of_the_top_or_chosen_causes(complaints, causes):
    top = selectors.cause_trends(MARCH, top=2)
    assert [s["code"] for s in top["series"]] == [
        "billing.duplicate-charge",
        "billing.refund-delay",
    ]
    chosen = selectors.cause_trends(MARCH, chosen=[causes["L"], causes["D"]])
    assert [(s["code"], sum(s["counts"])) for s in chosen["series"]] == [
        ("delivery.late", 1),
        ("billing.duplicate-charge", 3),
    ]
    # Counting contributing causes too: R gains P2 (3 March), L gains P4 (11 March).
    every = selectors.cause_trends(MARCH, causes="all", chosen=[causes["R"], causes["L"]])
    assert [(s["code"], s["counts"]) for s in every["series"]] == [
        ("billing.refund-delay", [1, 1, 1, 0, 0, 0]),
        ("delivery.late", [0, 0, 1, 0, 1, 0]),
    ]
