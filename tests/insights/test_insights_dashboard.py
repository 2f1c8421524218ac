"""The complaints manager's dashboard: tiles from known complaints, the period before, the
months' trends, where a manager lands on signing in, and who may open it."""

import pytest
import time_machine
from django.test import Client

from escalation.models import Clock
from insights import dashboard
from insights.params import Scope
from recovery.models import RootCauseAlert
from tests.insights.insights_fixtures import at, cause, clock, complaint, recovery, survey

# Every figure is checked twice: from the complaints and from the per-day summaries; and on
# SQLite (the embedded mode), from the complaints.
pytestmark = [pytest.mark.usefixtures("insight_path"), pytest.mark.sqlite]

MARCH = Scope(start=at(2026, 3, 1).date(), end=at(2026, 3, 31).date())


def statutory(row, kind: str, state: str) -> Clock:
    """A statutory obligation's clock, beside the firm's own target of the same kind."""
    return Clock.objects.create(
        complaint=row,
        kind=kind,
        state=state,
        basis="calendar",
        target_seconds=56 * 86400,
        started_at=row.received_at,
        regulatory_profile="uk_fca_disp",
    )


@pytest.fixture
def seeded(db):
    duplicate = cause("billing.duplicate-charge", "Duplicate charge")
    late = cause("delivery.late", "Late delivery")
    done = {"resolved_at": at(2026, 4, 1)}
    # March (the period): four complaints.
    c1 = complaint(received=at(2026, 3, 2), primary=duplicate, outcome="upheld", **done)
    c2 = complaint(received=at(2026, 3, 9), primary=late, outcome="not_upheld", **done)
    c3 = complaint(received=at(2026, 3, 16), primary=late, outcome="partly_upheld", **done)
    c4 = complaint(received=at(2026, 3, 23))
    for row, ack, resolve in [
        (c1, "met", "met"),
        (c2, "breached", "met"),
        (c3, "met", "breached"),
        (c4, "met", "running"),
    ]:
        clock(row, "acknowledge", ack)
        clock(row, "resolve", resolve)
    statutory(c2, "resolve", "breached")
    statutory(c1, "resolve", "met")
    survey(c1, csat=5, nps=10, ces=2)
    survey(c2, csat=2, nps=3, ces=6)
    recovery(c1, "refund", "25.00", "GBP")
    recovery(c2, "refund", "100.00", "GBP", status="declined")
    # February (the 31 days before: 29 January to 28 February): two complaints.
    p1 = complaint(received=at(2026, 2, 10), primary=late, outcome="not_upheld", **done)
    p2 = complaint(received=at(2026, 1, 29))
    for row in (p1, p2):
        clock(row, "acknowledge", "met")
    clock(p1, "resolve", "met")
    survey(p1, csat=4, nps=9, ces=3)
    recovery(p1, "refund", "10.00", "GBP")
    # Alerts: the latest week's largest rise is the duplicate charge's (+5 over +2).
    RootCauseAlert.objects.create(
        root_cause=late, week_start=at(2026, 3, 2).date(), count=30, baseline=2
    )
    RootCauseAlert.objects.create(
        root_cause=duplicate, week_start=at(2026, 3, 16).date(), count=7, baseline=2
    )
    RootCauseAlert.objects.create(
        root_cause=late, week_start=at(2026, 3, 16).date(), count=6, baseline=4
    )
    return {"duplicate": duplicate, "late": late}


def tiles_of(payload) -> dict:
    return {tile["key"]: tile for tile in payload["tiles"]}


@time_machine.travel(at(2026, 4, 15), tick=False)
def test_tiles_against_the_period_before(seeded):
    payload = dashboard.manager_dashboard(MARCH)

    assert payload["previous"] == {"start": "2026-01-29", "end": "2026-02-28"}
    tiles = tiles_of(payload)
    figures = {key: (tile["value"], tile["previous"]) for key, tile in tiles.items()}
    assert figures == {
        "complaints": (4, 2),
        # Acknowledge clocks: met 3 of 4 (c2 breached) against 2 of 2.
        "acknowledged_on_time": (75.0, 100.0),
        # Resolve targets: met c1, c2, breached c3 (c4's still runs) against 1 of 1.
        "resolved_on_time": (66.7, 100.0),
        # c2's statutory resolve deadline; c1's statutory clock was met.
        "statutory_breaches": (1, 0),
        # Upheld in whole or part: c1, c3 of the three with an outcome; before 0 of 1.
        "upheld_percent": (66.7, 0.0),
        # CSAT 5 and 2 against 4; NPS 10 and 3 (one promoter, one detractor) against 9.
        "csat_percent": (50.0, 100.0),
        "nps": (0.0, 100.0),
        "ces_mean": (4.0, 3.0),
    }
    assert tiles["complaints"]["change"] == {
        "difference": 2.0,
        "relative_percent": 100.0,
        "direction": "up",
    }
    assert tiles["acknowledged_on_time"]["change"] == {
        "difference": -25.0,
        "relative_percent": None,
        "direction": "down",
    }
    assert tiles["acknowledged_on_time"]["verdict"] == "worse"
    assert tiles["statutory_breaches"]["verdict"] == "worse"
    assert tiles["ces_mean"]["verdict"] == "worse"
    assert tiles["complaints"]["verdict"] is None
    # Declined offers are left out: 25.00 now, 10.00 before.
    assert payload["redress"] == [
        {
            "currency": "GBP",
            "amount": "25.00",
            "previous": "10.00",
            "change": {"difference": 15.0, "relative_percent": 150.0, "direction": "up"},
        }
    ]
    rising = payload["top_rising_cause"]
    assert (rising["code"], rising["name"], rising["week_start"], rising["count"]) == (
        "billing.duplicate-charge",
        "Duplicate charge",
        "2026-03-16",
        7,
    )


@time_machine.travel(at(2026, 4, 15), tick=False)
def test_trends_month_by_month(seeded):
    trends = dashboard.manager_dashboard(MARCH)["trends"]

    assert trends["months"][0] == "2025-04"
    assert trends["months"][-3:] == ["2026-01", "2026-02", "2026-03"]
    series = trends["series"]
    # p2 was received on 29 January, p1 in February.
    assert series["complaints"][-3:] == [1, 1, 4]
    assert series["complaints"][:9] == [0] * 9
    assert series["upheld_percent"][-3:] == [None, 0.0, 66.7]
    assert series["statutory_breaches"][-1] == 1
    assert series["acknowledged_on_time"][-3:] == [100.0, 100.0, 75.0]


@time_machine.travel(at(2026, 4, 15), tick=False)
def test_the_page_shows_the_tiles_and_a_chart_per_figure(seeded, manager, client):
    client.force_login(manager)
    answer = client.get("/insights/dashboard/?start=2026-03-01&end=2026-03-31")

    assert answer.status_code == 200
    page = answer.content.decode()
    assert (
        "Complaints received 1 Mar 2026 to 31 Mar 2026, against 29 Jan 2026 to 28 Feb 2026." in page
    )
    tile = page[page.index('id="tile-acknowledged_on_time"') :]
    assert tile.index("75.0%") < tile.index("Down 25.0 points (worse)") < tile.index("</li>")
    assert "25.00 GBP" in page
    assert "Duplicate charge" in page
    assert "/desk/corrective-actions/new/?root_cause=billing.duplicate-charge" in page
    # One chart per headline figure.
    assert page.count('<svg class="chart"') == len(dashboard.TILES)
    assert "Upheld per month" in page


@time_machine.travel(at(2026, 4, 15), tick=False)
def test_the_default_period_is_the_last_30_days(seeded, manager, client):
    client.force_login(manager)
    page = client.get("/insights/dashboard/").content.decode()
    assert (
        "Complaints received 17 Mar 2026 to 15 Apr 2026, against 15 Feb 2026 to 16 Mar 2026."
        in page
    )


def test_a_manager_lands_on_the_dashboard(manager, agent, supervisor, db):
    for user, landing in [
        (manager, "/insights/dashboard/"),
        (supervisor, "/desk/"),
        (agent, "/desk/"),
    ]:
        client = Client()
        signed = client.post("/desk/login/", {"username": user.username, "password": "pw"})
        assert signed.status_code == 302
        assert signed["Location"] == landing, user
    # A next page asked for still wins.
    client = Client()
    signed = client.post("/desk/login/?next=/desk/team/", {"username": "manager", "password": "pw"})
    assert signed["Location"] == "/desk/team/"


def test_who_may_open_it(db, supervisor, agent, customer_user, client):
    client.force_login(supervisor)
    assert client.get("/insights/dashboard/").status_code == 200
    for user in (agent, customer_user):
        client.force_login(user)
        assert client.get("/insights/dashboard/").status_code == 403


def test_bad_parameters_are_a_400(db, manager, client):
    client.force_login(manager)
    answer = client.get("/insights/dashboard/?start=2026-02-30")
    assert answer.status_code == 400
    assert "Give a date as YYYY-MM-DD" in answer.content.decode()
    answer = client.get("/insights/dashboard/?start=2026-03-31&end=2026-03-01")
    assert answer.status_code == 400
    assert "From 31 Mar 2026 is after To 1 Mar 2026." in answer.content.decode()
