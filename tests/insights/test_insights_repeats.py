"""Repeat complaints: customers complaining again within N days, against a hand count."""

import csv
import io
from datetime import date

import pytest

from insights import selectors
from insights.params import Scope
from recovery.models import Complaint
from tests.conftest import api_client
from tests.insights.insights_fixtures import at, cause, complaint, customer

# Every figure is checked twice: from the complaints and from the per-day summaries.
pytestmark = pytest.mark.usefixtures("insight_path")

MARCH = Scope(start=date(2026, 3, 1), end=date(2026, 3, 31))
MARCH_QUERY = "start=2026-03-01&end=2026-03-31&within_days=30"


@pytest.fixture
def history(db):
    D = cause("billing.duplicate-charge", "Duplicate charge")
    R = cause("billing.refund-delay", "Refund delayed")
    x, y, z, w, v = (customer(name) for name in ("Xena", "Yusuf", "Zoe", "Wim", "Vera"))
    done = {"resolved_at": at(2026, 4, 2)}
    # Xena: 20 Feb (R), 5 Mar (R, 13 days later), 25 Mar (D, 20 days later, by email).
    complaint(received=at(2026, 2, 20), who=x, primary=R, **done)
    complaint(received=at(2026, 3, 5), who=x, primary=R, **done)
    complaint(received=at(2026, 3, 25), who=x, channel="email", primary=D, **done)
    # Yusuf: 2 Mar (D), 28 Mar (no cause yet, 26 days later).
    complaint(received=at(2026, 3, 2, 10), who=y, primary=D, **done)
    complaint(received=at(2026, 3, 28, 10), who=y)
    # Zoe: 1 Jan (D), 15 Mar (D): 73 days apart.
    complaint(received=at(2026, 1, 1), who=z, primary=D, **done)
    complaint(received=at(2026, 3, 15), who=z, primary=D, **done)
    # Wim: once.
    complaint(received=at(2026, 3, 10), who=w, primary=D, **done)
    # Vera: exactly 30 days apart (1 Mar 09:00 and 31 Mar 09:00).
    complaint(received=at(2026, 3, 1, 9), who=v)
    complaint(received=at(2026, 3, 31, 9), who=v)
    return {"D": D, "R": R}


def test_repeats_within_30_days(history):
    payload = selectors.repeat_complaints(MARCH, within_days=30)
    # In March: Xena 2, Yusuf 2, Zoe 1, Wim 1, Vera 2 = 8 complaints from 5 customers.
    # Repeats: Xena 5 Mar (13 days) and 25 Mar (20), Yusuf 28 Mar (26), Vera 31 Mar (30,
    # the limit is inclusive); Zoe's 73 days is too long.
    assert (payload["complaints"], payload["customers"]) == (8, 5)
    assert (payload["repeat_complaints"], payload["repeat_customers"]) == (4, 3)
    assert payload["repeat_percent"] == 50.0
    # Causes of the repeats: Xena 5 Mar R (as before it: same), 25 Mar D (before it R: not
    # the same); Yusuf's and Vera's repeats have no cause yet. Tie broken by cause id.
    assert [
        (row["code"], row["repeat_complaints"], row["same_cause_as_previous"])
        for row in payload["causes"]
    ] == [("billing.duplicate-charge", 1, 0), ("billing.refund-delay", 1, 1)]
    assert payload["causes"][1]["same_cause_percent"] == 100.0
    assert [(row["name"], row["repeat_complaints"]) for row in payload["top_customers"]] == [
        ("Xena", 2),
        ("Yusuf", 1),
        ("Vera", 1),
    ]


def test_the_window_decides_what_is_a_repeat(history):
    shorter = selectors.repeat_complaints(MARCH, within_days=29)
    assert shorter["repeat_complaints"] == 3  # Vera's 30 days no longer count
    longer = selectors.repeat_complaints(MARCH, within_days=90)
    assert (longer["repeat_complaints"], longer["repeat_customers"]) == (5, 4)  # and Zoe's 73


def test_filters_select_the_repeat_not_the_complaint_before(history):
    email = Scope(start=MARCH.start, end=MARCH.end, channel="email")
    payload = selectors.repeat_complaints(email, within_days=30)
    # Only Xena's 25 March complaint is by email; the one before it (5 March) was on the web
    # and still makes it a repeat.
    assert (payload["complaints"], payload["repeat_complaints"]) == (1, 1)
    assert [row["code"] for row in payload["causes"]] == ["billing.duplicate-charge"]


def test_no_complaints_no_repeats(db):
    payload = selectors.repeat_complaints(MARCH, within_days=30)
    assert (payload["complaints"], payload["repeat_complaints"], payload["repeat_percent"]) == (
        0,
        0,
        None,
    )
    assert (payload["causes"], payload["top_customers"]) == ([], [])


# -- who is named: the top customers follow the access policy ----------------------------------


@pytest.fixture
def split_by_team(history, team, other_team):
    """Xena's complaints are the supervisor's team's; Yusuf's and Vera's another team's."""
    Complaint.objects.filter(customer__name="Xena").update(team=team)
    Complaint.objects.filter(customer__name__in=["Yusuf", "Vera"]).update(team=other_team)


def _named(rows) -> list[tuple[str, int]]:
    return [(row["name"], row["repeat_complaints"]) for row in rows]


def test_a_supervisor_sees_only_the_customers_of_complaints_they_may_see(
    split_by_team, supervisor, manager, client
):
    api = api_client(supervisor)
    payload = api.get(f"/api/insights/repeats/?{MARCH_QUERY}").json()
    # The counts name nobody: organisation-wide, as a manager's.
    assert (payload["repeat_complaints"], payload["repeat_customers"]) == (4, 3)
    assert _named(payload["top_customers"]) == [("Xena", 2)]
    csv_rows = api.get(f"/api/insights/repeats/?{MARCH_QUERY}&table=customers&format=csv")
    assert [row[1:] for row in csv.reader(io.StringIO(csv_rows.content.decode()))] == [
        ["name", "repeat_complaints"],
        ["Xena", "2"],
    ]
    client.force_login(supervisor)
    page = client.get(f"/insights/repeats/?{MARCH_QUERY}").content.decode()
    assert "Xena" in page
    assert "Yusuf" not in page
    assert "Vera" not in page

    everyone = api_client(manager).get(f"/api/insights/repeats/?{MARCH_QUERY}").json()
    assert _named(everyone["top_customers"]) == [("Xena", 2), ("Yusuf", 1), ("Vera", 1)]


def test_a_customer_is_counted_by_the_repeats_the_reader_may_see(split_by_team, supervisor, team):
    # Yusuf's later complaint moves to the supervisor's team: only that repeat is theirs.
    later = Complaint.objects.filter(customer__name="Yusuf").order_by("received_at").last()
    Complaint.objects.filter(pk=later.pk).update(team=team)

    payload = selectors.repeat_complaints(MARCH, within_days=30, viewer=supervisor)

    assert _named(payload["top_customers"]) == [("Xena", 2), ("Yusuf", 1)]
