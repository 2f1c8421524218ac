"""KPIs against a fixture computed by hand.

Six complaints received in March 2026 (C1-C6) and one in February (C0, outside the period).
Every expected number below was worked out on paper from the values in ``march``; the
comments show the working.
"""

from datetime import date, timedelta

import pytest

from insights import selectors, summaries
from insights.params import Scope
from recovery.models import Complaint
from tests.insights.insights_fixtures import (
    at,
    clock,
    complaint,
    survey,
)

MARCH = Scope(start=date(2026, 3, 1), end=date(2026, 3, 31))


@pytest.fixture
def march(db, team, other_team, agent):
    c0 = complaint(  # February: outside every figure below
        received=at(2026, 2, 27),
        business_seconds_to_acknowledge=1,
        resolved_at=at(2026, 2, 27, 13),
        business_seconds_to_resolve=1,
    )
    survey(c0, csat=1, ces=7, nps=0)
    clock(c0, "acknowledge", "breached")
    # Monday 10:00 -> Thursday 16:00 UTC: Tue, Wed, Thu = 3 business days.
    c1 = complaint(
        received=at(2026, 3, 2, 10),
        channel="web",
        team=team,
        assignee=agent,
        acknowledged_at=at(2026, 3, 2, 11),
        business_seconds_to_acknowledge=600,
        resolved_at=at(2026, 3, 5, 16),
        business_seconds_to_resolve=10_000,
    )
    # Sydney time (ASIC profile): Friday 20:00 -> Thursday 01:00 = Mon..Thu = 4 business
    # days (in UTC it would be Friday 09:00 -> Wednesday 14:00, 3).
    c2 = complaint(
        received=at(2026, 3, 6, 9),
        channel="web",
        team=team,
        assignee=agent,
        regulatory_profile="au_asic_rg271",
        business_seconds_to_acknowledge=1200,
        resolved_at=at(2026, 3, 11, 14),
        business_seconds_to_resolve=20_000,
    )
    # Monday -> Friday: 4 business days. Reopened once, resolved again.
    c3 = complaint(
        received=at(2026, 3, 9, 9),
        channel="web",
        team=team,
        business_seconds_to_acknowledge=1800,
        resolved_at=at(2026, 3, 13, 12),
        business_seconds_to_resolve=40_000,
        reopen_count=1,
    )
    # Reopened and not resolved again: its old business_seconds_to_resolve must be ignored.
    c4 = complaint(
        received=at(2026, 3, 10, 9),
        channel="email",
        team=other_team,
        state="acknowledged",
        business_seconds_to_acknowledge=3600,
        business_seconds_to_resolve=5000,
        reopen_count=1,
    )
    c5 = complaint(received=at(2026, 3, 20, 9), channel="email", team=other_team)
    # 3 March 08:00 -> 30 April 10:00: 58 days, beyond 8 weeks (56 days).
    c6 = complaint(
        received=at(2026, 3, 3, 8),
        channel="phone",
        regulatory_profile="uk_fca_disp",
        business_seconds_to_acknowledge=7200,
        resolved_at=at(2026, 4, 30, 10),
        business_seconds_to_resolve=30_000,
    )
    survey(c1, csat=5, ces=2, nps=10)
    survey(c2, csat=4, ces=4, nps=7)
    survey(c3, csat=2, ces=6, nps=3)
    survey(c4, answered=False)
    survey(c6, csat=3, nps=9)
    for row, kind, state in [
        (c1, "acknowledge", "met"),
        (c1, "resolve", "met"),
        (c2, "acknowledge", "met"),
        (c2, "resolve", "breached"),
        (c3, "acknowledge", "breached"),
        (c3, "resolve", "met"),
        (c4, "acknowledge", "met"),
        (c4, "resolve", "running"),
        (c5, "acknowledge", "running"),
        (c5, "respond", "cancelled"),
        (c6, "acknowledge", "met"),
        (c6, "resolve", "breached"),
        (c6, "summary_resolution", "breached"),
    ]:
        clock(row, kind, state)
    return [c1, c2, c3, c4, c5, c6]


# Every KPI is checked twice: from the complaints and from the summaries.
pytestmark = pytest.mark.usefixtures("insight_path")


@pytest.fixture
def secs(insight_path):
    """A duration as expected on this path: exact from the complaints; from the summaries'
    histograms, within their stated precision."""
    if insight_path == "live" or not summaries.available():
        return lambda value: value
    return lambda value: pytest.approx(value, rel=summaries.PRECISION)


def by_group(payload):
    return {row["group"]: row for row in payload["rows"]}


def test_overall_kpis(march, secs):
    payload = selectors.kpis(MARCH)
    (row,) = payload["rows"]
    assert row["group"] is None
    assert row["complaints"] == 6
    assert row["acknowledged"] == 5
    # Acknowledge seconds 600, 1200, 1800, 3600, 7200: median the 3rd; p90 at rank
    # 1 + 0.9 * 4 = 4.6, so 3600 + 0.6 * (7200 - 3600) = 5760.
    assert row["acknowledge_median_seconds"] == secs(1800)
    assert row["acknowledge_p90_seconds"] == secs(5760)
    # Resolved now: C1, C2, C3, C6 -> 10000, 20000, 40000, 30000 (C4's stale 5000 is out).
    # Median (20000 + 30000) / 2; p90 at rank 1 + 0.9 * 3 = 3.7: 30000 + 0.7 * 10000.
    assert row["resolved"] == 4
    assert row["resolve_median_seconds"] == secs(25_000)
    assert row["resolve_p90_seconds"] == secs(37_000)
    # Reopened C3 and C4, of the five ever resolved (C1, C2, C3, C4, C6).
    assert row["reopened"] == 2
    assert row["reopen_percent"] == 40.0
    # Bands of the four resolved: C1 within 3 business days; C2, C3 within 8 weeks; C6 later.
    assert row["resolved_within_3_business_days"] == 1
    assert row["resolved_within_8_weeks"] == 2
    assert row["resolved_later"] == 1
    assert (
        row["within_3_business_days_percent"],
        row["within_8_weeks_percent"],
        row["later_percent"],
    ) == (25.0, 50.0, 25.0)
    # CSAT 5, 4, 2, 3: two of four satisfied. NPS 10, 7, 3, 9: promoters 2, detractors 1 ->
    # (2 - 1) / 4 = +25. CES 2, 4, 6 -> 4. C4's unanswered survey counts nowhere.
    assert (row["csat_answers"], row["csat_percent"]) == (4, 50.0)
    assert (row["nps_answers"], row["nps"]) == (4, 25.0)
    assert (row["ces_answers"], row["ces_mean"]) == (3, 4.0)
    # Acknowledge: met C1, C2, C4, C6, breached C3 -> 80 %. Resolve: met C1, C3, breached C2,
    # C6 -> 50 %. Running clocks wait; cancelled ones (C5's respond) count nowhere.
    assert row["sla"] == {
        "acknowledge": {"met": 4, "breached": 1, "met_percent": 80.0},
        "resolve": {"met": 2, "breached": 2, "met_percent": 50.0},
        "summary_resolution": {"met": 0, "breached": 1, "met_percent": 0.0},
    }
    assert payload["clocks"] == ["acknowledge", "resolve", "summary_resolution"]


def test_kpis_by_channel(march, secs):
    rows = by_group(selectors.kpis(MARCH, by="channel"))
    assert list(rows) == ["web", "email", "phone"]  # most complaints first
    web, email, phone = rows["web"], rows["email"], rows["phone"]
    assert web["label"] == "Web"
    assert (web["complaints"], email["complaints"], phone["complaints"]) == (3, 2, 1)
    # Web acknowledge 600, 1200, 1800: median 1200, p90 at rank 2.8: 1200 + 0.8 * 600.
    assert (web["acknowledge_median_seconds"], web["acknowledge_p90_seconds"]) == (
        secs(1200),
        secs(1680),
    )
    # Web resolve 10000, 20000, 40000: median 20000, p90 at rank 2.8: 20000 + 0.8 * 20000.
    assert (web["resolve_median_seconds"], web["resolve_p90_seconds"]) == (
        secs(20_000),
        secs(36_000),
    )
    assert (email["acknowledge_median_seconds"], email["acknowledge_p90_seconds"]) == (
        secs(3600),
        secs(3600),
    )
    assert (email["resolved"], email["resolve_median_seconds"]) == (0, None)
    assert (phone["resolve_median_seconds"], phone["resolve_p90_seconds"]) == (
        secs(30_000),
        secs(30_000),
    )
    assert (web["reopen_percent"], email["reopen_percent"], phone["reopen_percent"]) == (
        33.3,
        100.0,
        0.0,
    )
    assert (
        web["resolved_within_3_business_days"],
        web["resolved_within_8_weeks"],
        web["resolved_later"],
    ) == (1, 2, 0)
    assert (web["within_3_business_days_percent"], web["within_8_weeks_percent"]) == (33.3, 66.7)
    assert (email["within_3_business_days_percent"], email["later_percent"]) == (None, None)
    assert (phone["resolved_later"], phone["later_percent"]) == (1, 100.0)
    # Web surveys: CSAT 5, 4, 2 -> 2/3; NPS 10, 7, 3 -> 1 promoter, 1 detractor -> 0.
    assert (web["csat_percent"], web["nps"], web["ces_mean"]) == (66.7, 0.0, 4.0)
    assert (phone["csat_percent"], phone["nps"], phone["ces_mean"]) == (0.0, 100.0, None)
    assert (email["csat_answers"], email["csat_percent"], email["nps"]) == (0, None, None)
    assert web["sla"] == {
        "acknowledge": {"met": 2, "breached": 1, "met_percent": 66.7},
        "resolve": {"met": 2, "breached": 1, "met_percent": 66.7},
    }
    # C4's resolve clock still runs: neither met nor breached yet.
    assert email["sla"] == {
        "acknowledge": {"met": 1, "breached": 0, "met_percent": 100.0},
        "resolve": {"met": 0, "breached": 0, "met_percent": None},
    }
    assert phone["sla"]["summary_resolution"] == {"met": 0, "breached": 1, "met_percent": 0.0}


def test_kpis_by_team_and_agent_keep_the_unassigned(march, team, other_team, agent, secs):
    teams = by_group(selectors.kpis(MARCH, by="team"))
    assert {key: row["complaints"] for key, row in teams.items()} == {
        "billing": 3,
        "delivery": 2,
        None: 1,
    }
    assert teams["billing"]["label"] == "Billing"
    assert teams[None]["label"] is None
    agents = by_group(selectors.kpis(MARCH, by="agent"))
    assert {key: row["complaints"] for key, row in agents.items()} == {"agent": 2, None: 4}
    # The agent's two complaints: acknowledge 600 and 1200, resolve 10000 and 20000.
    assert agents["agent"]["acknowledge_median_seconds"] == secs(900)
    assert agents["agent"]["resolve_p90_seconds"] == secs(19_000)


def test_agents_are_named_as_people(march, agent, other_agent, manager, client):
    # agent has a full name; other_agent has none, so is shown by username.
    agent.first_name, agent.last_name = "Ada", "Lovelace"
    agent.save()
    unassigned = Complaint.objects.filter(
        assignee__isnull=True, received_at__gte=at(2026, 3, 1), received_at__lt=at(2026, 4, 1)
    )
    unassigned.filter(pk=unassigned.order_by("pk")[0].pk).update(assignee=other_agent)
    rows = by_group(selectors.kpis(MARCH, by="agent"))
    assert rows["agent"]["label"] == "Ada Lovelace"
    assert rows["other_agent"]["label"] == "other_agent"
    client.force_login(manager)
    page = client.get("/insights/kpis/?start=2026-03-01&end=2026-03-31&by=agent")
    text = page.content.decode()
    assert '<th scope="row">Ada Lovelace</th>' in text
    assert '<th scope="row">other_agent</th>' in text
    assert '<th scope="row">Unassigned</th>' in text
    assert "(none)" not in text


def test_kpis_by_touchpoint_and_journey_stage(march, db):
    from recovery.models import JourneyStage, Touchpoint

    store = Touchpoint.objects.create(name="Store", slug="store")
    stage = JourneyStage.objects.get(slug="billing")
    c1, c2, *_ = march
    for row in (c1, c2):
        row.touchpoint, row.journey_stage = store, stage
        row.save(update_fields=["touchpoint", "journey_stage"])
    touchpoints = by_group(selectors.kpis(MARCH, by="touchpoint"))
    assert (touchpoints["store"]["complaints"], touchpoints["store"]["label"]) == (2, "Store")
    assert touchpoints[None]["complaints"] == 4
    stages = by_group(selectors.kpis(MARCH, by="journey_stage"))
    assert stages["billing"]["complaints"] == 2
    assert stages["billing"]["csat_percent"] == 100.0  # CSAT 5 and 4


def test_kpis_follow_the_scope_filters(march, team, secs):
    web_only = Scope(start=MARCH.start, end=MARCH.end, channel="web")
    (row,) = selectors.kpis(web_only)["rows"]
    assert (row["complaints"], row["acknowledge_p90_seconds"], row["nps"]) == (3, secs(1680), 0.0)
    one_team = Scope(start=MARCH.start, end=MARCH.end, team="billing", team_id=team.pk)
    (row,) = selectors.kpis(one_team)["rows"]
    assert row["complaints"] == 3
    empty = selectors.kpis(Scope(start=date(2025, 1, 1), end=date(2025, 1, 31)))
    (row,) = empty["rows"]
    assert (row["complaints"], row["acknowledge_median_seconds"], row["reopen_percent"]) == (
        0,
        None,
        None,
    )
    assert row["sla"] == {}


def test_three_business_days_at_the_edges(db):
    april = Scope(start=date(2026, 4, 1), end=date(2026, 4, 30))
    for received, resolved in [
        (at(2026, 4, 7, 10), at(2026, 4, 7, 12)),  # same day: 0
        (at(2026, 4, 10, 23), at(2026, 4, 15, 22)),  # Fri -> Wed: Mon, Tue, Wed = 3
        (at(2026, 4, 10, 23), at(2026, 4, 16, 9)),  # Fri -> Thu: 4
        (at(2026, 4, 13, 9), at(2026, 4, 19, 12)),  # Mon -> Sun: Tue to Fri = 4
        (at(2026, 4, 18, 10), at(2026, 4, 22, 9)),  # Sat -> Wed: Mon, Tue, Wed = 3
    ]:
        complaint(received=received, resolved_at=resolved)
    (row,) = selectors.kpis(april)["rows"]
    assert (
        row["resolved_within_3_business_days"],
        row["resolved_within_8_weeks"],
        row["resolved_later"],
    ) == (3, 2, 0)


def test_eight_weeks_end_with_the_local_day_as_the_clocks_count(db):
    # Received Monday 4 May 2026 at 00:10 in London (23:10 UTC the day before). The FCA's
    # eight weeks end with the local day 56 days on, Monday 29 June, at midnight London
    # time: 56 days and 23 hours 50 minutes later, more than 56 x 24 hours.
    received = at(2026, 5, 3, 23, 10)
    within = complaint(  # 29 June 23:50 London: the last local day
        received=received, regulatory_profile="uk_fca_disp", resolved_at=at(2026, 6, 29, 22, 50)
    )
    later = complaint(  # 30 June 00:05 London: the day after
        received=received, regulatory_profile="uk_fca_disp", resolved_at=at(2026, 6, 29, 23, 5)
    )
    assert within.resolved_at - within.received_at > timedelta(days=56)

    (row,) = selectors.kpis(Scope(start=date(2026, 5, 1), end=date(2026, 5, 31)))["rows"]

    assert (row["resolved"], row["resolved_within_8_weeks"], row["resolved_later"]) == (2, 1, 1)
    assert later.resolved_at > within.resolved_at
