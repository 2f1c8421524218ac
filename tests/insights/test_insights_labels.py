"""Causes are shown by name in the insight pages' charts and tables, and legends are whole."""

import re

import pytest
import time_machine

from insights import charts
from recovery.models import CorrectiveAction
from tests.insights.insights_fixtures import at, cause, clock, complaint

MARCH = "start=2026-03-01&end=2026-03-31"


@pytest.fixture
def data(db, manager):
    billing = cause("billing", "Billing")
    duplicate = cause("billing.duplicate-charge", "Duplicate charge", parent=billing)
    late = cause("delivery.late-parcel", "Parcel arrived after the promised date")
    done = {"resolved_at": at(2026, 4, 1)}
    first = complaint(received=at(2026, 3, 2), primary=duplicate, **done)
    complaint(received=at(2026, 3, 3), primary=duplicate, **done)
    complaint(received=at(2026, 3, 4), primary=late, **done)
    # A repeat: the same customer again within 30 days, same cause.
    complaint(received=at(2026, 3, 10), who=first.customer, primary=duplicate, **done)
    capa = CorrectiveAction.objects.create(
        title="Fix it", owner=manager, status="done", done_at=at(2026, 3, 3, 0)
    )
    capa.root_causes.set([billing])
    return capa


def svg_texts(page: str) -> list[str]:
    return [
        text
        for svg in re.findall(r"<svg.*?</svg>", page, re.S)
        for text in re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    ]


def shown_text(page: str) -> str:
    """The page without its links' addresses (where a code may travel as a parameter)."""
    return re.sub(r'href="[^"]*"', "", page)


@pytest.mark.parametrize(
    "url",
    [
        f"/insights/?{MARCH}",
        f"/insights/?{MARCH}&measure=cost",
        f"/insights/trends/?{MARCH}",
        f"/insights/repeats/?{MARCH}",
    ],
)
def test_pages_name_causes_never_by_code(url, data, client, supervisor):
    client.force_login(supervisor)
    page = client.get(url).content.decode()
    shown = shown_text(page)
    assert "billing.duplicate-charge" not in shown
    assert "delivery.late-parcel" not in shown
    if "measure=cost" not in url:
        assert "Billing &gt; Duplicate charge" in shown


def test_the_kpi_page_names_clock_kinds_never_by_code(db, client, supervisor):
    done = {"resolved_at": at(2026, 4, 1)}
    row = complaint(received=at(2026, 3, 2), **done)
    for kind in ("acknowledge", "respond", "resolve", "close_loop"):
        clock(row, kind, "met")
    statutory = clock(complaint(received=at(2026, 3, 3), **done), "resolve", "breached")
    statutory.regulatory_profile = "uk_fca_disp"
    statutory.save(update_fields=["regulatory_profile"])
    client.force_login(supervisor)

    page = client.get(f"/insights/kpis/?{MARCH}").content.decode()

    headers = re.findall(r'<th scope="col">([^<]*)</th>', page)
    for name in ("Acknowledge", "Respond to the customer", "Resolve", "Close the loop"):
        assert name in headers
    assert "Resolve (statutory)" in headers
    for code in ("acknowledge", "close_loop", "resolve", "respond"):
        assert code not in headers
        assert code not in re.sub(r"<[^>]*>", " ", shown_text(page)).split()


def test_the_pareto_bars_are_labelled_with_names(data, client, supervisor):
    client.force_login(supervisor)
    page = client.get(f"/insights/?{MARCH}").content.decode()
    labels = svg_texts(page)
    assert "Duplicate charge" in labels
    # Longer than a bar's label band: shortened there, whole in the table beside it.
    assert "Parcel arrived after the promis…" in labels  # 31 characters and the ellipsis
    assert '<th scope="row">Parcel arrived after the promised date</th>' in page


def test_trend_legends_hold_whole_paths(data, client, supervisor):
    client.force_login(supervisor)
    page = client.get(f"/insights/trends/?{MARCH}").content.decode()
    labels = svg_texts(page)
    assert "Billing &gt; Duplicate charge" in labels
    assert "Parcel arrived after the promised date" in labels


@time_machine.travel(at(2026, 6, 1), tick=False)
def test_the_effectiveness_legend_is_not_cut_off(data, client, supervisor):
    client.force_login(supervisor)
    page = client.get(f"/insights/corrective-actions/{data.pk}/?weeks=2").content.decode()
    assert "Share of classified complaints with the cause (%)" in svg_texts(page)
    # The causes checked by name; the list of actions is linked.
    assert "Billing &gt; Duplicate charge" in page
    assert 'href="/desk/corrective-actions/"' in page


def test_a_legend_takes_the_columns_its_longest_name_allows():
    short = charts.lines(["1", "2"], [("A", [1, 2]), ("B", [2, 1])], title="t")
    # Three columns: the second entry starts a third of the way across.
    assert re.search(r'<rect x="274\.7"', str(short))
    long_name = "Share of classified complaints with the cause (%)"
    drawn = str(charts.lines(["1", "2"], [(long_name, [1, 2])], title="t"))
    assert f">{long_name}</text>" in drawn
    very_long = "x" * 150
    drawn = str(charts.lines(["1", "2"], [(very_long, [1, 2])], title="t"))
    # Only a name wider than the whole chart is shortened; its line's tooltip keeps it.
    assert f"<title>{very_long}</title>" in drawn
    assert "x" * 150 + "</text>" not in drawn
