"""Charts count in whole numbers and name months and weeks the way the desk writes dates."""

import re
from datetime import date

import pytest
import time_machine

from common.template_dates import formatted
from insights import charts
from tests.insights.insights_fixtures import at, complaint

pytestmark = pytest.mark.usefixtures("insight_path")


def axis_labels(svg: str) -> list[str]:
    """The left axis's figures: the texts anchored at its end."""
    return re.findall(r'<text x="50" y="[^"]*" text-anchor="end">([^<]*)</text>', svg)


@pytest.mark.parametrize(("highest", "ticks"), [(1, ["0", "1"]), (2, ["0", "1", "2"])])
def test_a_count_axis_has_whole_numbers_only(highest, ticks):
    for drawn in (
        charts.lines(["a", "b"], [("Complaints", [0, highest])], title="t"),
        charts.trend(["a", "b"], [0, highest], title="t"),
        charts.pareto(
            [{"name": "x", "n": highest, "cumulative_percent": 100}],
            value_key="n",
            title="t",
            unit_label="complaints",
        ),
    ):
        assert axis_labels(str(drawn)) == ticks


def test_larger_axes_keep_whole_steps():
    assert axis_labels(str(charts.lines(["a"], [("n", [7])], title="t"))) == [
        "0",
        "2",
        "4",
        "6",
        "8",
        "10",
    ]
    # NPS runs below zero: the axis still steps in whole numbers, through zero.
    labels = axis_labels(str(charts.trend(["a", "b"], [-40, 30], title="t")))
    assert labels == ["-50", "-25", "0", "25", "50"]


def test_the_desk_writes_dates_one_way():
    assert formatted("2026-01", "month") == "Jan 2026"
    assert formatted(date(2026, 1, 5), "day") == "5 Jan 2026"
    assert formatted("2026-01-05", "day") == "5 Jan 2026"
    assert formatted("2026-01-05", "day_short") == "5 Jan"
    assert formatted(None, "day") == ""


@time_machine.travel(at(2026, 4, 15), tick=False)
def test_the_dashboard_names_months_never_by_iso_code(db, manager, client):
    complaint(received=at(2026, 3, 2))
    client.force_login(manager)

    page = client.get("/insights/dashboard/?start=2026-03-01&end=2026-03-31").content.decode()

    assert "Complaints received 1 Mar 2026 to 31 Mar 2026" in page
    assert "Mar 2026</text>" in page
    assert '<th scope="col">Mar 2026</th>' in page
    assert "2026-03<" not in page
    assert not re.search(r">\s*\d{4}-\d\d(-\d\d)?\s*<", page)


def test_the_trends_page_names_weeks_by_day(db, supervisor, client):
    complaint(received=at(2026, 3, 4))
    client.force_login(supervisor)

    page = client.get("/insights/trends/?start=2026-03-01&end=2026-03-31").content.decode()

    assert "2 Mar</text>" in page
    assert '<th scope="row">2 Mar 2026</th>' in page
    assert not re.search(r">\s*\d{4}-\d\d(-\d\d)?\s*<", page)
    assert not re.search(r">\d\d-\d\d<", page)
