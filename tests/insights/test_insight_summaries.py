"""The per-day insight summaries: the same figures as the complaints give, after any change.

The selectors' own tests check every figure against hand-computed fixtures on both paths;
these check what is particular to the summaries: they follow every kind of change before
the next read, an incremental refresh equals a full rebuild, and they answer a varied
data set exactly as the live queries do (durations within the histograms' precision).
"""

import itertools
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from escalation.models import Clock
from insights import selectors, summaries
from insights.params import Scope
from insights.tasks import refresh_summaries
from recovery.models import ComplaintRootCause, RecoveryAction, Touchpoint
from tests.insights.insights_fixtures import (
    at,
    cause,
    clock,
    complaint,
    customer,
    recovery,
    survey,
)

SUMMARY_TABLES = (*summaries.SUMMARY_TABLES, "insight_duration_month", "insight_sequence")
MARCH = Scope(start=date(2026, 3, 1), end=date(2026, 3, 31))


@pytest.fixture
def on_summaries(db, settings):
    if connection.vendor != "postgresql":
        pytest.skip("summaries are kept in PostgreSQL only")
    settings.INSIGHT_SUMMARIES = True


def snapshot() -> dict[str, list[tuple]]:
    tables = {}
    with connection.cursor() as cursor:
        for table in SUMMARY_TABLES:
            cursor.execute(f"SELECT * FROM {table}")
            tables[table] = sorted(cursor.fetchall(), key=repr)
    return tables


# -- percentiles from a histogram ---------------------------------------------------------------


def test_percentiles_place_values_within_their_bucket():
    edges = summaries.BUCKET_EDGES
    bucket = next(i for i, edge in enumerate(edges) if edge > 1000)  # holds 1000 s
    low, high = edges[bucket - 1], edges[bucket]
    # One value: the middle of its bucket, within the stated precision of the truth.
    (median,) = summaries.percentiles({bucket: 1}, (0.5,))
    assert median == low + (high - low) / 2
    assert median == pytest.approx(1000, rel=summaries.PRECISION)
    # Four values in one bucket sit at 1/8, 3/8, 5/8, 7/8 of it; the median interpolates
    # ranks 1 and 2 (3/8 and 5/8): the middle again; p90 at rank 2.7: 5/8 + 0.7 * 2/8.
    median, p90 = summaries.percentiles({bucket: 4}, (0.5, 0.9))
    assert median == pytest.approx(low + (high - low) / 2)
    assert p90 == pytest.approx(low + (high - low) * (5 / 8 + 0.7 * 2 / 8))
    # Under a minute: bucket 0 is [0, 60).
    assert summaries.percentiles({0: 1}, (0.5,)) == [30.0]
    assert summaries.percentiles({}, (0.5, 0.9)) == [None, None]


def test_bucket_edges_grow_by_the_stated_precision():
    edges = summaries.BUCKET_EDGES
    assert edges[0] == 60
    assert all(b > a for a, b in itertools.pairwise(edges))
    # Each bucket is PRECISION wider than where it starts.
    assert all((b - a) / a <= summaries.PRECISION + 1e-9 for a, b in itertools.pairwise(edges))


def test_only_scopes_of_one_dimension_are_read_from_summaries():
    assert summaries.key_of(MARCH) == ("", "")
    assert summaries.key_of(MARCH, "agent") == ("agent", None)
    web = Scope(start=MARCH.start, end=MARCH.end, channel="web")
    assert summaries.key_of(web) == ("channel", "web")
    assert summaries.key_of(web, "team") is None
    both = Scope(start=MARCH.start, end=MARCH.end, channel="web", team="x", team_id=3)
    assert summaries.key_of(both) is None


# -- following changes ----------------------------------------------------------------------------


def test_every_kind_of_change_shows_in_the_next_read(on_summaries, team):
    billing, delivery = cause("billing"), cause("delivery")
    first = complaint(received=at(2026, 3, 3), primary=billing, team=team)
    second = complaint(received=at(2026, 3, 4), channel="email")
    pareto = selectors.pareto_by_count(MARCH)
    assert (pareto["complaints"], pareto["counted"]) == (2, 1)

    # A root cause given to a complaint.
    ComplaintRootCause.objects.create(complaint=second, root_cause=delivery, is_primary=True)
    rows = {row["code"]: row["complaints"] for row in selectors.pareto_by_count(MARCH)["rows"]}
    assert rows == {"billing": 1, "delivery": 1}

    # A recovery action, then its decline.
    action = recovery(first, "refund", "40.00", "GBP")
    (row,) = selectors.pareto_by_cost(MARCH)["rows"]
    assert (row["code"], row["amount"]) == ("billing", "40.00")
    RecoveryAction.objects.filter(pk=action.pk).update(status="declined")
    assert selectors.pareto_by_cost(MARCH)["rows"] == []

    # A survey answered, an SLA clock breached, a complaint resolved.
    survey(first, csat=5, nps=10, ces=2)
    met = clock(first, "acknowledge", "running")
    Clock.objects.filter(pk=met.pk).update(state="breached")
    first.resolved_at = at(2026, 3, 4)
    first.business_seconds_to_resolve = 3600
    first.save(update_fields=["resolved_at", "business_seconds_to_resolve"])
    (kpi,) = selectors.kpis(MARCH)["rows"]
    assert (kpi["csat_answers"], kpi["nps"], kpi["ces_mean"]) == (1, 100.0, 2.0)
    assert kpi["sla"] == {"acknowledge": {"met": 0, "breached": 1, "met_percent": 0.0}}
    assert (kpi["resolved"], kpi["resolved_within_3_business_days"]) == (1, 1)
    assert kpi["resolve_median_seconds"] == pytest.approx(3600, rel=summaries.PRECISION)

    # A complaint moved to another channel and day, and a cause taken away.
    second.channel, second.received_at = "phone", at(2026, 4, 2)
    second.save(update_fields=["channel", "received_at"])
    ComplaintRootCause.objects.filter(complaint=first).delete()
    pareto = selectors.pareto_by_count(MARCH)
    assert (pareto["complaints"], pareto["counted"]) == (1, 0)
    email = Scope(start=MARCH.start, end=MARCH.end, channel="email")
    assert selectors.kpis(email)["rows"][0]["complaints"] == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM insight_dirty")
        assert cursor.fetchone() == (0,)


def test_repeats_follow_each_customer_s_complaints(on_summaries):
    who, other = customer("X"), customer("Y")
    first = complaint(received=at(2026, 3, 1), who=who)
    last = complaint(received=at(2026, 3, 20), who=who)
    report = selectors.repeat_complaints(MARCH, within_days=14)
    assert (report["complaints"], report["customers"], report["repeat_complaints"]) == (2, 1, 0)
    # A complaint between them makes both later ones repeats within 14 days.
    between = complaint(received=at(2026, 3, 10), who=who)
    report = selectors.repeat_complaints(MARCH, within_days=14)
    assert (report["repeat_complaints"], report["repeat_customers"]) == (2, 1)
    # Moved to another customer, it leaves a gap of 19 days again.
    between.customer = other
    between.save(update_fields=["customer"])
    report = selectors.repeat_complaints(MARCH, within_days=14)
    assert (report["complaints"], report["customers"], report["repeat_complaints"]) == (3, 2, 0)
    # Causes given later: the repeat's cause, and whether it is the previous complaint's.
    billing = cause("billing")
    for row in (first, last):
        ComplaintRootCause.objects.create(complaint=row, root_cause=billing, is_primary=True)
    (row,) = selectors.repeat_complaints(MARCH, within_days=30)["causes"]
    assert (row["code"], row["repeat_complaints"], row["same_cause_as_previous"]) == (
        "billing",
        1,
        1,
    )


def test_an_incremental_refresh_equals_a_full_rebuild(on_summaries, team, agent):
    billing = cause("billing")
    rows = [
        complaint(received=at(2026, 3, day), primary=billing, team=team, assignee=agent)
        for day in (2, 9, 30)
    ]
    selectors.refresh_summaries_if_needed()
    survey(rows[0], csat=2)
    recovery(rows[1], "credit", "12.50", "EUR")
    rows[2].business_seconds_to_acknowledge = 900
    rows[2].save(update_fields=["business_seconds_to_acknowledge"])
    complaint(received=at(2026, 5, 1), channel="chat")
    refreshed = selectors.refresh_summaries_if_needed()
    assert refreshed is not None and not refreshed.full
    assert refreshed.days == 4  # 2, 9 and 30 March, 1 May
    incremental = snapshot()
    assert selectors.refresh_summaries_if_needed(full=True).full
    assert snapshot() == incremental


def test_a_new_time_zone_rebuilds_every_day(on_summaries, settings):
    complaint(received=at(2026, 3, 2, 23, 30))
    selectors.refresh_summaries_if_needed()
    with connection.cursor() as cursor:
        cursor.execute("SELECT day FROM insight_kpi_day WHERE dimension = ''")
        assert cursor.fetchall() == [(date(2026, 3, 2),)]
    settings.TIME_ZONE = "Australia/Sydney"
    assert summaries.pending()[0] is False
    assert selectors.refresh_summaries_if_needed().full
    with connection.cursor() as cursor:
        cursor.execute("SELECT day FROM insight_kpi_day WHERE dimension = ''")
        assert cursor.fetchall() == [(date(2026, 3, 3),)]  # 10:30 the next morning there


def test_the_periodic_task_refreshes(on_summaries):
    complaint(received=at(2026, 3, 2))
    assert refresh_summaries() == 1  # never built: every day there is, which is one
    assert refresh_summaries() == 0
    complaint(received=at(2026, 3, 5))
    assert refresh_summaries() == 1


# -- the same answers as the complaints ----------------------------------------------------------


@pytest.fixture
def varied(db, team, other_team, agent):
    """Two hundred complaints over three months, drawn at random (seeded) across every
    dimension, cause, money, survey answer and clock state the insights count."""
    draw = random.Random(7)
    causes = [cause(f"c{n}") for n in range(6)]
    store = Touchpoint.objects.create(name="Store", slug="store")
    for _ in range(200):
        received = at(2026, 2, 1) + timedelta(hours=draw.randrange(0, 24 * 89))
        resolved = draw.random() < 0.7
        primary = draw.choice(causes) if resolved else None
        made = complaint(
            received=received,
            channel=draw.choice(["web", "email", "phone"]),
            product=draw.choice(["Card", "Loan", ""]),
            team=draw.choice([team, other_team, None]),
            assignee=draw.choice([agent, None]),
            touchpoint=draw.choice([store, None]),
            primary=primary,
            contributing=[c for c in draw.sample(causes, 2) if c != primary][: draw.randrange(0, 3)]
            if resolved
            else (),
            business_seconds_to_acknowledge=draw.choice([None, draw.randrange(30, 90_000)]),
            resolved_at=received + timedelta(hours=draw.randrange(1, 24 * 70))
            if resolved
            else None,
            business_seconds_to_resolve=draw.randrange(60, 900_000) if resolved else None,
            reopen_count=draw.choice([0, 0, 0, 1]),
        )
        if resolved and draw.random() < 0.5:
            recovery(
                made,
                "refund",
                str(Decimal(draw.randrange(100, 20_000)) / 100),
                draw.choice(["GBP", "EUR"]),
                status=draw.choice(["delivered", "declined", "approved"]),
            )
        if draw.random() < 0.4:
            survey(made, csat=draw.randint(1, 5), nps=draw.randint(0, 10), ces=draw.randint(1, 7))
        for kind in ("acknowledge", "resolve"):
            clock(made, kind, draw.choice(["met", "breached", "running", "cancelled"]))
    return causes


def _same(live, from_summaries, path="") -> None:
    """Equal, but for durations: those within the histograms' precision (or a minute)."""
    if isinstance(live, dict):
        assert live.keys() == from_summaries.keys(), path
        for key in live:
            _same(live[key], from_summaries[key], f"{path}.{key}")
    elif isinstance(live, list):
        assert len(live) == len(from_summaries), path
        for n, (a, b) in enumerate(zip(live, from_summaries, strict=True)):
            _same(a, b, f"{path}[{n}]")
    elif path.endswith("_seconds") and live is not None:
        assert from_summaries == pytest.approx(live, rel=summaries.PRECISION, abs=60), path
    else:
        assert live == from_summaries, path


SCOPES = {
    "quarter": Scope(start=date(2026, 2, 1), end=date(2026, 4, 30)),
    "odd days": Scope(start=date(2026, 2, 11), end=date(2026, 4, 3)),
    "web": Scope(start=date(2026, 2, 1), end=date(2026, 4, 30), channel="web"),
    "loans": Scope(start=date(2026, 2, 1), end=date(2026, 4, 30), product="Loan"),
}


@pytest.mark.parametrize("name", SCOPES)
def test_summaries_answer_as_the_complaints_do(varied, on_summaries, settings, name, team):
    scope = SCOPES[name]
    if name == "odd days":
        scope = Scope(start=scope.start, end=scope.end, team=team.slug, team_id=team.pk)
    calls = {
        "pareto": lambda: selectors.pareto_by_count(scope),
        "pareto-all": lambda: selectors.pareto_by_count(scope, causes="all"),
        "cost": lambda: selectors.pareto_by_cost(scope),
        "trends": lambda: selectors.cause_trends(scope, top=4),
        "trends-all": lambda: selectors.cause_trends(scope, causes="all", top=4),
        "kpis": lambda: selectors.kpis(scope),
        "repeats": lambda: selectors.repeat_complaints(scope, within_days=30),
    }
    if not scope.filters:
        calls.update(
            {
                f"kpis-by-{by}": lambda by=by: selectors.kpis(scope, by=by)
                for by in ("channel", "touchpoint", "team", "agent", "journey_stage")
            }
        )
        calls["rising"] = lambda: selectors.rising_causes(
            week=date(2026, 4, 13), baseline_weeks=4, margin=0.0, min_count=1
        )
    settings.INSIGHT_SUMMARIES = False
    live = {name: call() for name, call in calls.items()}
    settings.INSIGHT_SUMMARIES = True
    from_summaries = {name: call() for name, call in calls.items()}
    assert live["pareto"]["complaints"] > 0
    _same(live, from_summaries)


def test_the_command_refreshes(on_summaries):
    from io import StringIO

    from django.core.management import call_command

    complaint(received=at(2026, 3, 2))
    out = StringIO()
    call_command("refresh_insights", stdout=out)
    assert "1 days rebuilt (all)" in out.getvalue()
    call_command("refresh_insights", stdout=out)
    assert "up to date" in out.getvalue()
    call_command("refresh_insights", "--full", stdout=out)
    assert out.getvalue().count("(all)") == 2


def test_a_large_database_answers_live_until_the_summaries_are_built(on_summaries, monkeypatch):
    monkeypatch.setattr(selectors, "BUILD_ON_READ_LIMIT", 1)
    for day in (2, 3):
        complaint(received=at(2026, 3, day))
    # Two complaints are "too many to build now": the answer comes from the complaints.
    assert selectors.pareto_by_count(MARCH)["complaints"] == 2
    assert summaries.pending()[0] is False
    # Built by the periodic task, they answer from then on, changes included.
    refresh_summaries()
    complaint(received=at(2026, 3, 4))
    assert selectors.pareto_by_count(MARCH)["complaints"] == 3
    assert summaries.pending() == (True, False)
