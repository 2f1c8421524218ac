"""The sweeper's cost and its batching: what it reads, how much, and what happens when a row
breaks.

Clocks are bulk-seeded (``seed_clocks``) on a 24x7 calendar with a two-level ladder, for
``team`` (``supervisor``) and ``other_team`` (``other_supervisor``); ``manager`` is the
complaints manager. Every due clock breaches and escalates to level 1 when swept.
"""

import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalation import events as escalation_events
from escalation.models import Clock, ClockState, Escalation
from escalation.services import sweeper
from escalation.services.sweeper import BATCH_SIZE, RETRY_BACKOFF, sweep
from recovery.models import ComplaintEvent, EventType
from tests.escalation.test_sweep_exactly_once import (
    make_calendar_and_ladder,
    make_supervisor,
    seed_clocks,
)

# Backend-independent: ./redress test runs this file on SQLite (the embedded mode) too.
pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

# Enough running clocks that a sweep reading them all would show in its query count and
# plan, yet quick to seed.
MANY_RUNNING = 3_000
FEW_RUNNING = 30


@pytest.fixture
def seed(groups, supervisor, team, other_team, manager):
    """Seed clocks for ``team`` and ``other_team``, each team with its supervisor."""
    make_supervisor(groups, other_team, "other_supervisor")
    calendar, ladder = make_calendar_and_ladder()

    def run(*, due: int = 0, not_due: int = 0, now=None):
        return seed_clocks(
            due=due,
            not_due=not_due,
            now=now or timezone.now(),
            teams=[team, other_team],
            calendar=calendar,
            ladder=ladder,
        )

    return run


def analyze_clocks() -> None:
    # Fresh statistics, as autovacuum would have gathered in production, so the planner
    # chooses with the table's real size in mind.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE escalation_clock")


def queries_of_one_sweep(now) -> tuple[sweeper.SweepResult, int]:
    """A sweep's result and its SQL statements, savepoints aside (the test's transaction
    turns each of the sweeper's transactions into a savepoint)."""
    with CaptureQueriesContext(connection) as queries:
        result = sweep(now)
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    return result, len(statements)


# -- cost follows what is due ----------------------------------------------------------------


def test_a_sweep_with_nothing_due_costs_the_same_few_queries_however_many_clocks_run(seed):
    now = timezone.now()
    seed(not_due=FEW_RUNNING, now=now)
    _, with_few = queries_of_one_sweep(now)

    seed(not_due=MANY_RUNNING - FEW_RUNNING, now=now)
    result, with_many = queries_of_one_sweep(now)

    assert result.as_dict() == sweeper.SweepResult().as_dict()
    # One read of due ids per phase, and nothing else: no per-clock or per-complaint query.
    assert with_many == with_few <= len(sweeper.PHASES)


@pytest.mark.postgresql(reason="reads PostgreSQL's query plan (SQLite never says 'Seq Scan')")
@pytest.mark.parametrize(
    ("due_query", "index"),
    [
        (sweeper._due_breaches, "clock_running_due_idx"),
        (sweeper._due_warnings, "clock_running_warn_idx"),
        (sweeper._due_climbs, "clock_next_escalation_idx"),
    ],
)
def test_each_due_query_reads_its_partial_index_not_the_table(seed, due_query, index):
    now = timezone.now()
    seed(due=10, not_due=MANY_RUNNING, now=now)
    analyze_clocks()

    # The query a sweep phase runs first: the ids of one batch of due clocks.
    plan = due_query(now).values_list("pk", flat=True)[:BATCH_SIZE].explain()

    assert index in plan, plan
    assert "Seq Scan" not in plan, plan


# -- batches -------------------------------------------------------------------------------


def test_more_due_clocks_than_a_batch_are_all_handled_in_one_sweep_in_bulk(seed):
    now = timezone.now()
    due = 2 * BATCH_SIZE + 7
    seeded = seed(due=due, not_due=50, now=now)

    result, query_count = queries_of_one_sweep(now)

    assert (result.breached, result.escalated, result.failed) == (due, due, 0)
    assert not Clock.objects.filter(pk__in=seeded.due_ids, state=ClockState.RUNNING).exists()
    assert Escalation.objects.filter(clock_id__in=seeded.due_ids, level=1).count() == due
    # Bulk handling: a bounded number of statements per batch of 500, none per clock.
    batches = -(-due // BATCH_SIZE)
    # SQLite cannot LIMIT a UNION's parts: its "anything due?" probe asks the phases one by
    # one (sweeper._anything_due), up to one query more per phase than PostgreSQL's one.
    probes = 0 if connection.features.supports_slicing_ordering_in_compound else len(sweeper.PHASES)
    assert query_count <= 15 * batches + probes, query_count


def test_max_rows_stops_a_sweep_at_the_earliest_due_clocks_and_the_next_goes_on(seed):
    now = timezone.now()
    seeded = seed(due=700, now=now)
    earliest_300 = set(
        Clock.objects.filter(pk__in=seeded.due_ids)
        .order_by("due_at")
        .values_list("pk", flat=True)[:300]
    )

    first = sweep(now, max_rows=300)

    assert first.breached == 300
    assert set(Clock.objects.filter(state=ClockState.BREACHED).values_list("pk", flat=True)) == (
        earliest_300
    )
    second = sweep(now, max_rows=300)
    third = sweep(now, max_rows=300)
    assert (second.breached, third.breached) == (300, 100)
    assert Escalation.objects.count() == 700


def test_max_rows_is_shared_by_the_phases_warnings_first(seed):
    now = timezone.now()
    seeded = seed(due=200, not_due=200, now=now)
    # The in-time clocks reached their warning threshold: 200 warnings and 200 breaches due.
    Clock.objects.filter(pk__in=seeded.not_due_ids).update(warn_at=now - timedelta(minutes=1))

    result = sweep(now, max_rows=300)

    assert (result.warned, result.breached) == (200, 100)
    assert Clock.objects.filter(pk__in=seeded.due_ids, state=ClockState.RUNNING).count() == 100


# -- a row that raises -----------------------------------------------------------------------


def test_a_failing_clock_is_logged_and_pushed_back_while_the_rest_of_its_batch_is_handled(
    seed, monkeypatch, caplog
):
    now = timezone.now()
    due = 2 * BATCH_SIZE + 200
    seeded = seed(due=due, now=now)
    # A clock in the middle of the second batch (batches go by due_at).
    by_due_at = list(
        Clock.objects.filter(pk__in=seeded.due_ids).order_by("due_at").values_list("pk", flat=True)
    )
    broken_pk = by_due_at[BATCH_SIZE + BATCH_SIZE // 2]
    real_clock_breached = escalation_events.clock_breached

    def clock_breached(clock, notify, **options):
        if clock.pk == broken_pk:
            raise RuntimeError("simulated failure")
        return real_clock_breached(clock, notify, **options)

    monkeypatch.setattr(escalation_events, "clock_breached", clock_breached)
    with caplog.at_level(logging.ERROR, logger="escalation.services.sweeper"):
        result = sweep(now)

    assert (result.breached, result.escalated, result.failed) == (due - 1, due - 1, 1)
    broken = Clock.objects.get(pk=broken_pk)
    assert broken.state == ClockState.RUNNING
    assert (broken.retry_after, broken.failures) == (now + RETRY_BACKOFF, 1)
    assert not Escalation.objects.filter(clock=broken).exists()
    handled = Clock.objects.filter(pk__in=seeded.due_ids).exclude(pk=broken_pk)
    assert handled.filter(state=ClockState.BREACHED, escalation_level=1).count() == due - 1
    assert ComplaintEvent.objects.filter(type=EventType.CLOCK_BREACHED).count() == due - 1
    # Both the failed batch and the one clock that kept failing are in the log, with a trace.
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith(f"Sweep batch failed; retrying its {BATCH_SIZE}") for m in messages)
    assert any(f"Clock {broken_pk} could not be handled" in m for m in messages)
    assert all(record.exc_info for record in caplog.records)

    # Until retry_after the broken clock is left alone; then it is tried again.
    monkeypatch.setattr(escalation_events, "clock_breached", real_clock_breached)
    assert sweep(now + timedelta(minutes=1)).as_dict() == sweeper.SweepResult().as_dict()
    retried = sweep(now + RETRY_BACKOFF)
    assert (retried.breached, retried.failed) == (1, 0)
    assert Escalation.objects.filter(clock_id=broken_pk, level=1).count() == 1
