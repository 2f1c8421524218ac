"""Insight queries over a million complaints in PostgreSQL: how long each one takes.

    .venv/bin/python bench/insights.py [--complaints 1000000] [--years 1] [--runs 3]
                                       [--reseed] [--live] [--explain NAME]

What it does, in order:

1. Sets a production-like environment (DEBUG off) with its own database, so it never touches
   anyone else's data; creates the database if missing and migrates it.
2. Seeds ``--complaints`` complaints received over the last ``--years`` years (default 1:
   the whole million falls in the year the queries ask about), with ``INSERT …
   SELECT … generate_series`` inside PostgreSQL (no Python object per row): about three
   complaints per customer, channels, touchpoints, journey stages, teams and agents drawn at
   random; 85 % resolved with a primary root cause (a skewed choice among 60 leaf causes, one
   of them rising over the last three weeks) and 20 % of those with a contributing cause;
   an action on 40 % of the resolved ones (GBP, EUR, USD or none; 5 % declined);
   an answered survey on a third of the closed loops; acknowledge and resolve SLA clocks
   (met, breached or running); a few corrective actions done ten weeks ago. Secondary
   indexes and foreign keys are dropped for the load and built once after it, in the same
   transaction. A database that already holds exactly that many bench complaints is reused;
   ``--reseed`` starts over.
3. ``VACUUM (ANALYZE)`` the tables: statistics for the planner, and the visibility map that
   lets PostgreSQL answer from the covering indexes without visiting the table (autovacuum
   does the same on a live database soon after a bulk load). Then brings the per-day
   insight summaries up to date, timed (every day after a new seed), and analyzes them;
   ``--live`` leaves them out and times the queries over the complaints instead.
4. Runs every insight selector for the last 365 days ``--runs`` times (after one warm-up
   run) and prints the median and the slowest wall time of each, against the 500 ms target.
   ``kpis-after-one-change`` changes one complaint before each run, so the read first
   rebuilds that day's summaries. ``--explain NAME`` prints PostgreSQL's plan (``EXPLAIN
   (ANALYZE, BUFFERS)``) of that selector's statements instead.

Target (issue 7): every query under 500 ms. A missed target is reported, not an error: the
figure is the point. Exits 1 if a selector returned nothing (the bench would time nothing).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sweep import (  # noqa: E402  (the path above makes the repository importable)
    BenchFailed,
    _drop_foreign_keys,
    _drop_secondary_indexes,
    _insert_select,
    backend_cpu_seconds,
    ensure_database,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/redress_bench_insights"
# Settings run in production mode with a Redis URL; the bench sends nothing to Redis.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
REFERENCE_PREFIX = "BENCH-INS-"
TARGET_MS = 500.0
MAX_COMPLAINTS = 5_000_000
YEAR_SECONDS = 365 * 86_400

CHANNELS = ("web", "email", "phone", "chat", "social", "letter", "in_person", "api")
PRODUCTS = (
    "Current account",
    "Credit card",
    "Mortgage",
    "Personal loan",
    "Savings",
    "Insurance",
    "Mobile app",
    "Online banking",
    "Debit card",
    "Overdraft",
    "Pension",
    "Foreign exchange",
)
TOUCHPOINTS = ("branch", "website", "app", "call-centre", "courier", "partner", "email", "post")
TEAMS = ("billing", "cards", "lending", "digital", "branches", "escalations")
AGENTS_PER_TEAM = 10
# Ten areas of eight causes each (the leaves are what complaints carry), 60 of them used.
AREAS = (
    "billing",
    "payments",
    "cards",
    "lending",
    "digital",
    "service",
    "fees",
    "fraud",
    "delivery",
    "communication",
)
CAUSES_PER_AREA = 8
LEAF_CAUSES_USED = 60
REGULATORY_PROFILES = ("", "", "", "uk_fca_disp", "us_cfpb")
CORRECTIVE_ACTIONS = 5


def configure_environment(database_url: str, redis_url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="0",
        # A fresh key per run: the bench signs nothing that must outlive it.
        SECRET_KEY=f"bench-insights-{uuid.uuid4().hex}-{uuid.uuid4().hex}",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        REDRESS_DEMO="0",
        LOG_LEVEL="WARNING",
    )


# -- seeding -------------------------------------------------------------------------------


def _sql_array(values, cast: str) -> str:
    """A literal array of ids or fixed strings made by this script (never user input)."""
    items = ",".join(str(int(v)) if cast == "bigint" else f'"{v}"' for v in values)
    return f"'{{{items}}}'::{cast}[]"


def _pick(array_sql: str, random_sql: str, size: int) -> str:
    return f"({array_sql})[1 + floor({random_sql} * {size})::int]"


def ensure_reference_data() -> dict:
    """Teams, agents, touchpoints, root causes and their owners: a few hundred rows."""
    from django.contrib.auth import get_user_model

    from recovery import roles
    from recovery.models import JourneyStage, RootCause, Team, Touchpoint

    groups = roles.ensure_role_groups()
    users = get_user_model().objects
    teams, agents = [], []
    for slug in TEAMS:
        team, _ = Team.objects.get_or_create(slug=f"bench-{slug}", defaults={"name": slug.title()})
        teams.append(team.pk)
        for n in range(AGENTS_PER_TEAM):
            agent, _ = users.get_or_create(username=f"bench_ins_{slug}_{n}")
            agent.groups.add(groups[roles.AGENT])
            team.members.add(agent)
            agents.append(agent.pk)
    manager, _ = users.get_or_create(username="bench_ins_manager")
    manager.groups.add(groups[roles.COMPLAINTS_MANAGER])
    touchpoints = [
        Touchpoint.objects.get_or_create(slug=f"bench-{slug}", defaults={"name": slug})[0].pk
        for slug in TOUCHPOINTS
    ]
    stages = list(JourneyStage.objects.order_by("position").values_list("pk", flat=True))
    leaves = []
    for area in AREAS:
        parent, _ = RootCause.objects.get_or_create(
            code=f"bench-{area}", defaults={"name": area.title(), "owner": manager}
        )
        for n in range(CAUSES_PER_AREA):
            leaf, _ = RootCause.objects.get_or_create(
                code=f"bench-{area}.cause-{n}",
                defaults={"name": f"{area.title()} cause {n}", "parent": parent, "owner": manager},
            )
            leaves.append(leaf.pk)
    # Interleave the areas so the skewed draw below spreads over all of them.
    leaves = [leaves[a * CAUSES_PER_AREA + n] for n in range(CAUSES_PER_AREA) for a in range(10)]
    return {
        "teams": teams,
        "agents": agents,
        "touchpoints": touchpoints,
        "stages": stages,
        "causes": leaves[:LEAF_CAUSES_USED],
        "manager": manager,
    }


def seeded() -> tuple[int, int]:
    """How many bench complaints there are, and over how many years they were spread."""
    from django.db.models import Count, Min
    from django.utils import timezone

    from recovery.models import Complaint

    found = Complaint.objects.filter(source="bench").aggregate(
        n=Count("id"), first=Min("received_at")
    )
    if not found["n"]:
        return 0, 0
    return found["n"], round((timezone.now() - found["first"]).days / 365)


def wipe() -> None:
    """Empty every table the bench writes to (this database is the bench's alone)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE recovery_correctiveaction, recovery_rootcausealert, recovery_survey, "
            "recovery_recoveryaction, recovery_complaintrootcause, escalation_escalation, "
            "escalation_clock, recovery_complaintevent, notifications_outbox, "
            "recovery_complaint, recovery_customer CASCADE"
        )


def seed(count: int, ref: dict, years: int) -> None:
    from django.db import connection, transaction

    from escalation.models import BusinessCalendar, Clock
    from recovery.models import (
        Complaint,
        ComplaintRootCause,
        CorrectiveAction,
        Customer,
        RecoveryAction,
        Survey,
    )

    calendar = BusinessCalendar.objects.get(slug="office-hours")
    customers_wanted = max(count // 3, 1)
    started = time.perf_counter()
    timings = []

    def lap(label: str, rows: int) -> None:
        timings.append((label, rows, time.perf_counter()))

    with transaction.atomic(), connection.cursor() as cursor:
        # Nothing else reads these rows before commit; a crash only means seeding again.
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # Same seed, same data: runs on one machine compare like with like.
        cursor.execute("SELECT setseed(0.42)")
        models = [Customer, Complaint, ComplaintRootCause, RecoveryAction, Survey, Clock]
        tables = [model._meta.db_table for model in models]
        rebuild = [d for t in tables for d in _drop_secondary_indexes(cursor, t)]
        rebuild += [s for t in tables for s in _drop_foreign_keys(cursor, t)]

        rows = _insert_select(
            Customer,
            {"name": "'Bench customer ' || n", "created_at": "now() - interval '2 years'"},
            "generate_series(1, %s) AS n",
            [customers_wanted],
        )
        lap("customers", rows)
        cursor.execute("SELECT min(id) FROM recovery_customer")
        (first_customer,) = cursor.fetchone()

        # One row of random draws per complaint; the outer SELECT derives the columns.
        draws = (
            "(SELECT t.*, "
            "  t.received + make_interval(secs => t.ack_secs) AS acked, "
            "  t.received + make_interval(secs => t.res_secs) AS resolved "
            " FROM (SELECT n, random() AS r_channel, random() AS r_touch, random() AS r_stage, "
            "   random() AS r_product, random() AS r_team, random() AS r_agent, "
            "   random() AS r_state, random() AS r_reopen, random() AS r_profile, "
            "   random() AS r_customer, "
            f"  now() - make_interval(secs => floor(random() * {YEAR_SECONDS * years})) "
            "   AS received, "
            # Acknowledged within two days, mostly within hours; resolved within 0-80 days,
            # mostly within the first week (a cubed uniform is heavily skewed to 0).
            "   floor(power(random(), 2) * 172800)::int + 60 AS ack_secs, "
            "   floor(power(random(), 3) * 80 * 86400)::int + 3600 AS res_secs "
            "  FROM generate_series(1, %s) AS n) t) s"
        )
        resolved = "(s.resolved < now() AND s.r_state >= 0.15)"
        state = (
            f"CASE WHEN s.acked >= now() THEN 'received' WHEN NOT {resolved} THEN 'acknowledged' "
            "WHEN s.r_state < 0.30 THEN 'resolved' ELSE 'loop_closed' END"
        )
        # Business seconds are roughly 40 of every 168 hours (Monday to Friday, 9 to 5).
        rows = _insert_select(
            Complaint,
            {
                "reference": f"'{REFERENCE_PREFIX}' || lpad(s.n::text, 8, '0')",
                "customer_id": f"{int(first_customer)} + floor(power(s.r_customer, 1.5) * "
                f"{customers_wanted})::bigint",
                "channel": _pick(_sql_array(CHANNELS, "text"), "s.r_channel", len(CHANNELS)),
                "touchpoint_id": _pick(
                    _sql_array(ref["touchpoints"], "bigint"), "s.r_touch", len(ref["touchpoints"])
                ),
                "journey_stage_id": _pick(
                    _sql_array(ref["stages"], "bigint"), "s.r_stage", len(ref["stages"])
                ),
                "product": _pick(_sql_array(PRODUCTS, "text"), "s.r_product", len(PRODUCTS)),
                "subject": "'Bench complaint'",
                "description": "'Generated by bench/insights.py.'",
                "regulatory_profile": _pick(
                    _sql_array(REGULATORY_PROFILES, "text"), "s.r_profile", 5
                ),
                "team_id": _pick(_sql_array(ref["teams"], "bigint"), "s.r_team", len(TEAMS)),
                "assignee_id": _pick(
                    _sql_array(ref["agents"], "bigint"), "s.r_agent", len(ref["agents"])
                ),
                "state": state,
                "outcome": f"CASE WHEN {resolved} THEN 'upheld' ELSE '' END",
                "reopen_count": f"CASE WHEN {resolved} AND s.r_reopen < 0.06 THEN 1 ELSE 0 END",
                "received_at": "s.received",
                "acknowledged_at": "CASE WHEN s.acked < now() THEN s.acked END",
                "business_seconds_to_acknowledge": "CASE WHEN s.acked < now() "
                "THEN (s.ack_secs * 40 / 168) END",
                "resolved_at": f"CASE WHEN {resolved} THEN s.resolved END",
                "business_seconds_to_resolve": f"CASE WHEN {resolved} "
                "THEN (s.res_secs::bigint * 40 / 168)::int END",
                "loop_closed_at": f"CASE WHEN {resolved} AND s.r_state >= 0.30 "
                "THEN s.resolved + interval '1 hour' END",
                "source": "'bench'",
                "external_id": "s.n::text",
            },
            draws,
            [count],
        )
        lap("complaints", rows)

        causes = _sql_array(ref["causes"], "bigint")
        leaves = len(ref["causes"])
        # A skewed draw (a few causes take most complaints, as in any Pareto), except that
        # the last cause of the list rises over the final three weeks.
        primary = (
            "CASE WHEN c.received_at > now() - interval '21 days' AND random() < 0.08 "
            f"THEN {leaves} ELSE 1 + floor(power(random(), 2.5) * {leaves})::int END"
        )
        rows = _insert_select(
            ComplaintRootCause,
            {
                "complaint_id": "c.id",
                "root_cause_id": f"({causes})[p.i]",
                "is_primary": "true",
                "created_at": "c.resolved_at",
            },
            f"recovery_complaint c CROSS JOIN LATERAL (SELECT {primary} AS i OFFSET 0) p "
            "WHERE c.resolved_at IS NOT NULL",
            [],
        )
        rows += _insert_select(
            ComplaintRootCause,
            {
                "complaint_id": "crc.complaint_id",
                "root_cause_id": f"({causes})[1 + (array_position({causes}, crc.root_cause_id) "
                f"+ floor(random() * 5)::int) %% {leaves}]",
                "is_primary": "false",
                "created_at": "crc.created_at",
            },
            "recovery_complaintrootcause crc WHERE crc.is_primary AND random() < 0.2",
            [],
        )
        lap("root causes", rows)

        rows = _insert_select(
            RecoveryAction,
            {
                "complaint_id": "c.id",
                "type": "CASE WHEN r.money THEN (ARRAY['refund','account_credit','goodwill'])"
                "[1 + floor(r.r_type * 3)::int] ELSE (ARRAY['apology','explanation','fix'])"
                "[1 + floor(r.r_type * 3)::int] END",
                "amount": "CASE WHEN r.money THEN round((5 + power(r.r_amount, 2) * 495)::numeric"
                ", 2) END",
                "currency": "CASE WHEN NOT r.money THEN '' WHEN r.r_currency < 0.7 THEN 'GBP' "
                "WHEN r.r_currency < 0.9 THEN 'EUR' ELSE 'USD' END",
                "status": "CASE WHEN r.r_status < 0.05 THEN 'declined' WHEN r.r_status < 0.15 "
                "THEN 'approved' WHEN r.r_status < 0.2 THEN 'proposed' ELSE 'delivered' END",
                "proposed_at": "c.resolved_at - interval '1 hour'",
            },
            # The lateral draws refer to the row (c.id) so they are drawn again for each one.
            "recovery_complaint c CROSS JOIN LATERAL (SELECT random() < 0.6 AS money, "
            "random() AS r_type, random() AS r_amount, random() AS r_currency, "
            "random() AS r_status, random() AS r_take WHERE c.id > 0 OFFSET 0) r "
            "WHERE c.resolved_at IS NOT NULL AND r.r_take < 0.4",
            [],
        )
        lap("recovery actions", rows)

        rows = _insert_select(
            Survey,
            {
                "complaint_id": "c.id",
                "nonce": "md5(c.id::text)",
                "sent_at": "c.loop_closed_at",
                "submitted_at": "c.loop_closed_at + interval '1 day'",
                "csat": "1 + floor(power(random(), 0.6) * 5)::int",
                "ces": "1 + floor(power(random(), 1.5) * 7)::int",
                "nps": "floor(power(random(), 0.7) * 11)::int",
            },
            "recovery_complaint c WHERE c.loop_closed_at IS NOT NULL AND random() < 0.33",
            [],
        )
        lap("surveys", rows)

        # Acknowledge: 8 business hours; resolve: 40 (the default policy's targets).
        for kind, target, done, spent in (
            ("acknowledge", 8 * 3600, "acknowledged_at", "business_seconds_to_acknowledge"),
            ("resolve", 40 * 3600, "resolved_at", "business_seconds_to_resolve"),
        ):
            rows = _insert_select(
                Clock,
                {
                    "complaint_id": "c.id",
                    "kind": f"'{kind}'",
                    "state": f"CASE WHEN c.{done} IS NULL THEN 'running' "
                    f"WHEN c.{spent} <= {target} THEN 'met' ELSE 'breached' END",
                    "calendar_id": str(int(calendar.pk)),
                    "basis": "'business'",
                    "target_seconds": str(target),
                    "started_at": "c.received_at",
                    "due_at": f"c.received_at + make_interval(secs => {target} * 168 / 40)",
                    "stopped_at": f"c.{done}",
                },
                "recovery_complaint c",
                [],
            )
            lap(f"{kind} clocks", rows)

        for definition in rebuild:
            cursor.execute(definition)
        lap("indexes and keys", 0)

    owner = ref["manager"]
    for n in range(CORRECTIVE_ACTIONS):
        action = CorrectiveAction.objects.create(
            title=f"Bench corrective action {n}",
            owner=owner,
            status="done",
            done_at=_now() - timedelta(weeks=10 + n),
        )
        action.root_causes.set(ref["causes"][n * 2 : n * 2 + 2])

    previous = started
    for label, rows, at in timings:
        print(f"  {label:<18} {rows:>10,} rows in {at - previous:6.1f} s")
        previous = at
    print(f"seeded in {time.perf_counter() - started:.1f} s")


def _now():
    from django.utils import timezone

    return timezone.now()


def in_last_year() -> int:
    from django.utils import timezone

    from recovery.models import Complaint

    return Complaint.objects.filter(received_at__gte=timezone.now() - timedelta(days=365)).count()


def vacuum_analyze() -> None:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM (ANALYZE) recovery_customer, recovery_complaint, "
            "recovery_complaintrootcause, recovery_recoveryaction, recovery_survey, "
            "escalation_clock, recovery_rootcause"
        )
    print(f"VACUUM (ANALYZE) in {time.perf_counter() - started:.1f} s")


def build_summaries() -> None:
    """Bring the per-day insight summaries up to date (all days after a new seed), timed,
    then give the planner their statistics."""
    from django.db import connection

    from insights.selectors import refresh_summaries_if_needed

    started = time.perf_counter()
    refreshed = refresh_summaries_if_needed()
    if refreshed is None:
        print("insight summaries: up to date")
        return
    print(
        f"insight summaries: {refreshed.days:,} days built "
        f"({'all' if refreshed.full else 'changed'}) in {time.perf_counter() - started:.1f} s"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM (ANALYZE) insight_cause_day, insight_cost_day, insight_kpi_day, "
            "insight_clock_day, insight_duration_month, insight_sequence, insight_dirty"
        )


def touch_one_complaint() -> None:
    """Change one complaint of the year, as an agent would: its day's summaries are then
    rebuilt by the next read."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE recovery_complaint SET updated_at = now() WHERE id = ("
            "SELECT id FROM recovery_complaint WHERE reference LIKE %s "
            "ORDER BY received_at DESC LIMIT 1)",
            [REFERENCE_PREFIX + "%"],
        )


# -- measuring -----------------------------------------------------------------------------


def insight_queries(ref: dict) -> dict:
    """Each insight as a call over the last 365 days; the name is what ``--explain`` takes."""
    from django.utils import timezone

    from insights import dashboard, selectors
    from insights.params import Scope
    from recovery.models import CorrectiveAction, RootCause

    today = timezone.localdate()
    year = Scope(start=today - timedelta(days=364), end=today)
    web_year = Scope(start=year.start, end=year.end, channel="web")
    team_year = Scope(
        start=year.start, end=year.end, team=f"bench-{TEAMS[0]}", team_id=ref["teams"][0]
    )
    action = CorrectiveAction.objects.filter(title__startswith="Bench").order_by("pk").first()
    chosen = list(RootCause.objects.filter(pk__in=ref["causes"][:3]))
    calls = {
        "pareto-count": lambda: selectors.pareto_by_count(year),
        "pareto-count-all-causes": lambda: selectors.pareto_by_count(year, causes="all"),
        "pareto-count-web": lambda: selectors.pareto_by_count(web_year),
        "pareto-count-team": lambda: selectors.pareto_by_count(team_year),
        "pareto-cost": lambda: selectors.pareto_by_cost(year),
        "pareto-cost-web": lambda: selectors.pareto_by_cost(web_year),
        "trends-top-6": lambda: selectors.cause_trends(year, top=6),
        "trends-3-codes": lambda: selectors.cause_trends(year, chosen=chosen),
        "repeats-30-days": lambda: selectors.repeat_complaints(year, within_days=30),
        "rising-causes": lambda: selectors.rising_causes(
            # Last week: this week's complaints are mostly not resolved (given a cause) yet.
            week=today - timedelta(days=today.weekday() + 7),
            baseline_weeks=8,
            margin=0.5,
            min_count=5,
        ),
        "capa-effectiveness-8-weeks": lambda: selectors.capa_effectiveness(action, weeks=8),
    }
    for by in ("", "channel", "touchpoint", "journey_stage", "team", "agent"):
        calls[f"kpis-by-{by or 'nothing'}"] = lambda by=by: selectors.kpis(year, by=by)
    # The manager's landing page: the last 30 days against the 30 before, and twelve months.
    last_30 = Scope(start=today - timedelta(days=29), end=today)
    calls["manager-dashboard"] = lambda: dashboard.manager_dashboard(last_30)
    # A read right after a change pays for rebuilding that day's summaries first.
    calls["kpis-after-one-change"] = lambda: (touch_one_complaint(), selectors.kpis(year))
    return calls


def measure(calls: dict, runs: int) -> list[str]:
    """Wall time of each insight (median and slowest of ``runs``), then its CPU cost.

    The CPU column is the PostgreSQL backend's CPU time per call (from /proc) with parallel
    workers off, so that all of the query's work is in that one process: about what the
    call would take on one idle core. On a machine busier than its CPU count, the wall time
    is mostly waiting for a CPU and the CPU column is the fairer figure.
    """
    from django.db import connection

    print(
        f"{'insight (last 365 days)':<30} {'median':>9} {'slowest':>9} {'CPU 1 core':>11} "
        f"{'statements':>10}"
    )
    missed = []
    for name, call in calls.items():
        statements: list[str] = []

        def count(execute, sql, params, many, context, statements=statements):
            statements.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            if call() is None:
                raise BenchFailed(f"{name} returned nothing")
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            call()
            timings.append((time.perf_counter() - started) * 1000)
        cpu = _cpu_per_call(call, runs)
        median = statistics.median(timings)
        verdict = ""
        if median >= TARGET_MS:
            missed.append(name)
            verdict = "  over target"
        cpu_text = f"{cpu:9.0f}ms" if cpu is not None else f"{'n/a':>11}"
        print(
            f"{name:<30} {median:7.0f}ms {max(timings):7.0f}ms {cpu_text} "
            f"{len(statements):>10}{verdict}"
        )
    return missed


def _cpu_per_call(call, runs: int) -> float | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
    try:
        started = backend_cpu_seconds()
        if started is None:
            return None
        for _ in range(runs):
            call()
        return (backend_cpu_seconds() - started) * 1000 / runs
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET max_parallel_workers_per_gather")


def explain(call) -> None:
    """Print PostgreSQL's plan, with timings and buffers, of each statement ``call`` sends."""
    from django.db import connection

    statements = []

    def capture(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        call()
    for sql, params in statements:
        with connection.cursor() as cursor:
            cursor.execute("SET work_mem = '64MB'")
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            print(sql[:300], "...\n")
            print("\n".join(row[0] for row in cursor.fetchall()), "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--complaints", type=int, default=1_000_000)
    parser.add_argument(
        "--years", type=int, default=1, help="spread the complaints over this many years"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reseed", action="store_true", help="drop the bench data and seed again")
    parser.add_argument("--explain", metavar="NAME", help="print the plans of one selector")
    parser.add_argument(
        "--live",
        action="store_true",
        help="aggregate the complaints directly, without the per-day summaries",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_INSIGHTS_DATABASE_URL", DEFAULT_DATABASE_URL),
    )
    args = parser.parse_args()
    if not 1_000 <= args.complaints <= MAX_COMPLAINTS or args.runs < 1 or not 1 <= args.years <= 10:
        parser.error(
            f"need 1,000 <= --complaints <= {MAX_COMPLAINTS:,}, 1 <= --years <= 10, --runs >= 1"
        )

    configure_environment(args.database_url, DEFAULT_REDIS_URL)
    ensure_database(args.database_url)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(
        "load average (1, 5, 15 min): {:.1f} {:.1f} {:.1f} on {} CPUs".format(
            *os.getloadavg(), os.cpu_count()
        )
    )
    ref = ensure_reference_data()
    found, years = seeded()
    if args.reseed or (found, years) != (args.complaints, args.years):
        print(
            f"found {found:,} bench complaints over {years} years, want {args.complaints:,} "
            f"over {args.years}: seeding"
        )
        wipe()
        seed(args.complaints, ref, args.years)
        vacuum_analyze()
    else:
        print(f"reusing {found:,} seeded complaints over {years} years")
    print(f"complaints in the year measured: {in_last_year():,}")
    if args.live:
        from django.conf import settings

        settings.INSIGHT_SUMMARIES = False
        print("insight summaries: off (--live)")
    else:
        build_summaries()
    calls = insight_queries(ref)
    if args.explain:
        if args.explain not in calls:
            parser.error(f"--explain takes one of: {', '.join(calls)}")
        explain(calls[args.explain])
        return 0
    # One warm-up pass: the first run of each reads the tables from disk into the cache.
    for call in calls.values():
        call()
    missed = measure(calls, args.runs)
    print(
        "load average (1, 5, 15 min): {:.1f} {:.1f} {:.1f} on {} CPUs".format(
            *os.getloadavg(), os.cpu_count()
        )
    )
    if missed:
        print(f"{len(missed)} of {len(calls)} miss the {TARGET_MS:.0f} ms target")
    else:
        print(f"every insight under the {TARGET_MS:.0f} ms target")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchFailed as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(1)
