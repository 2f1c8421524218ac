"""Per-day insight summaries in PostgreSQL: built from the complaints, kept exact, read fast.

A year of a million complaints takes seconds to aggregate; the same year as summaries is a
few tens of thousands of rows. Each summary row covers the complaints received on one local
day, all of them (dimension ``""``) or those with one value of one dimension (``channel`` =
``web``); the insight selectors add the rows of the days in a scope.

Exact, not eventually right: triggers (migrations 0007, 0008) log the receipt time of every
complaint whose row, causes, recovery actions, survey or clocks change (and the customer,
when the complaint or its causes change), and the selectors rebuild the days (and the
customers' complaint sequences, for repeat complaints) so logged before they read. A
periodic task does the same so that reads seldom wait. Durations are kept as histograms (``BUCKET_EDGES``), so medians and 90th
percentiles read from summaries lie within 2 % of the exact figure; every other figure is
exact. docs/insights.md says which scopes are served from summaries.

SQLite (the embedded mode) has no summaries: its insights aggregate the complaints directly.
"""

import bisect
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import TruncDate

from escalation.selectors import STATUTORY_CLOCK_SQL
from recovery.models import Complaint, RecoveryStatus

# Bump when what a summary row holds changes: the next refresh rebuilds everything.
# (2: statutory obligations counted apart from internal targets; 3: "within 8 weeks" counted
# by local dates, as the clocks count; 4: complaints with an outcome, and upheld ones.)
VERSION = 4
# Serialises refreshes (pg_advisory_xact_lock); any constant unique to this use.
LOCK_KEY = 0x52445253  # "RDRS"

# Histogram edges in seconds: under a minute, then buckets 2 % wide up to about six years.
# A duration d falls in bucket ``bisect_right(BUCKET_EDGES, d)`` (PostgreSQL's width_bucket
# with the same thresholds): bucket 0 is [0, 60), bucket i is [edge i-1, edge i). A
# percentile read from the histograms is within one bucket of the exact one: ``PRECISION``
# of it, or under a minute.
GROWTH = 1.02
PRECISION = GROWTH - 1
BUCKET_EDGES: tuple[float, ...] = tuple(60 * GROWTH**k for k in range(1000) if 60 * GROWTH**k < 2e8)

# Dimension name -> complaint column. Pareto and trends filter on the first four; KPIs also
# group by journey stage and agent.
CAUSE_DIMENSIONS = {
    "product": "product",
    "channel": "channel",
    "touchpoint": "touchpoint_id",
    "team": "team_id",
}
KPI_DIMENSIONS = {**CAUSE_DIMENSIONS, "journey_stage": "journey_stage_id", "agent": "assignee_id"}

SUMMARY_TABLES = ("insight_cause_day", "insight_cost_day", "insight_kpi_day", "insight_clock_day")
MEASURES = ("acknowledge", "resolve")


def available() -> bool:
    """Whether this database keeps summaries (PostgreSQL, unless switched off)."""
    return connection.vendor == "postgresql" and settings.INSIGHT_SUMMARIES


# -- the complaints' facts --------------------------------------------------------------------


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def facts(since: datetime, until: datetime, flags: dict[str, Q], alias: dict):
    """One row per complaint received in ``[since, until)``: its local day, dimensions,
    durations, survey answers and, as 0/1 columns, each condition of ``flags`` (the KPI
    rules, given by the selectors so that both paths count alike)."""
    return (
        Complaint.objects.filter(received_at__gte=since, received_at__lt=until)
        .alias(**alias)
        .annotate(
            day=TruncDate("received_at", tzinfo=_zone()),
            **{
                name: Case(When(condition, then=Value(1)), default=Value(0))
                for name, condition in flags.items()
            },
            csat=F("survey__csat"),
            nps=F("survey__nps"),
            ces=F("survey__ces"),
        )
        .values(
            "id",
            "day",
            *KPI_DIMENSIONS.values(),
            "business_seconds_to_acknowledge",
            "business_seconds_to_resolve",
            "csat",
            "nps",
            "ces",
            *flags,
        )
        .order_by()
    )


def _grouping_sets(dimensions: dict[str, str]) -> tuple[str, str, str]:
    """GROUPING SETS over no dimension and each one alone, and the SQL naming each output
    row's dimension and value ('' for all complaints, or for no value)."""
    columns = list(dimensions.values())
    sets = ", ".join(["()", *(f"(f.{column})" for column in columns)])
    dimension = (
        "CASE "
        + " ".join(
            f"WHEN GROUPING(f.{column}) = 0 THEN '{name}'" for name, column in dimensions.items()
        )
        + " ELSE '' END"
    )
    value = (
        "COALESCE(CASE "
        + " ".join(f"WHEN GROUPING(f.{column}) = 0 THEN f.{column}::text" for column in columns)
        + " END, '')"
    )
    return sets, dimension, value


def _build(since: datetime, until: datetime, flags: dict[str, Q], alias: dict) -> None:
    """Insert the summary rows of the complaints received in ``[since, until)``."""
    facts_sql, facts_params = facts(since, until, flags, alias).query.sql_with_params()
    causes_sets, causes_dim, causes_value = _grouping_sets(CAUSE_DIMENSIONS)
    kpi_sets, kpi_dim, kpi_value = _grouping_sets(KPI_DIMENSIONS)
    # repr() writes each float so that PostgreSQL reads back the same double.
    edges = "ARRAY[" + ",".join(repr(edge) for edge in BUCKET_EDGES) + "]::float8[]"
    cause_columns = ", ".join(f"f.{c}" for c in CAUSE_DIMENSIONS.values())

    def day_histograms(bucket: str) -> str:
        """Per day, dimension and value: the buckets of a duration and their counts."""
        return f"""
            SELECT day, dimension, value,
                   array_agg(bucket ORDER BY bucket) AS buckets, array_agg(n ORDER BY bucket) AS ns
            FROM (
                SELECT f.day, {kpi_dim} AS dimension, {kpi_value} AS value,
                       f.{bucket} AS bucket, count(*) AS n
                FROM f WHERE f.{bucket} IS NOT NULL
                GROUP BY f.day, f.{bucket}, GROUPING SETS ({kpi_sets})
            ) h GROUP BY day, dimension, value
        """  # noqa: S608 (constant SQL; values are parameters)

    statements = [
        # Primary causes (one row per complaint; NULL: none yet) and every cause carried.
        f"""
        WITH f AS ({facts_sql}),
        links AS (
            SELECT f.day, {cause_columns}, p.root_cause_id, 1 AS is_primary, 0 AS mention
            FROM f LEFT JOIN recovery_complaintrootcause p
                ON p.complaint_id = f.id AND p.is_primary
            UNION ALL
            SELECT f.day, {cause_columns}, m.root_cause_id, 0, 1
            FROM f JOIN recovery_complaintrootcause m ON m.complaint_id = f.id
        )
        INSERT INTO insight_cause_day
            (day, dimension, value, root_cause_id, primary_complaints, mentions)
        SELECT f.day, {causes_dim}, {causes_value}, f.root_cause_id,
               sum(f.is_primary), sum(f.mention)
        FROM links f
        GROUP BY f.day, f.root_cause_id, GROUPING SETS ({causes_sets})
        """,  # noqa: S608 (constant SQL and the ORM's own; values are parameters)
        # Money of the recovery actions, per currency and primary cause.
        f"""
        WITH f AS ({facts_sql})
        INSERT INTO insight_cost_day
            (day, dimension, value, root_cause_id, currency, spent, actions, complaints)
        SELECT f.day, {causes_dim}, {causes_value}, p.root_cause_id, a.currency,
               sum(a.amount), count(*), count(DISTINCT a.complaint_id)
        FROM f
        JOIN recovery_recoveryaction a
            ON a.complaint_id = f.id AND a.amount IS NOT NULL AND a.status <> %s
        LEFT JOIN recovery_complaintrootcause p ON p.complaint_id = f.id AND p.is_primary
        GROUP BY f.day, p.root_cause_id, a.currency, GROUPING SETS ({causes_sets})
        """,  # noqa: S608 (constant SQL and the ORM's own; values are parameters)
        # Counts, survey answers and duration histograms (buckets and counts, sparse).
        f"""
        WITH f AS (
            SELECT f.*,
                   width_bucket(f.business_seconds_to_acknowledge::float8, {edges}) AS ack_bucket,
                   CASE WHEN f.resolved = 1
                        THEN width_bucket(f.business_seconds_to_resolve::float8, {edges}) END
                       AS resolve_bucket
            FROM ({facts_sql}) f
        ),
        counts AS (
            SELECT f.day, {kpi_dim} AS dimension, {kpi_value} AS value,
                   count(*) AS complaints,
                   count(f.business_seconds_to_acknowledge) AS acknowledged,
                   sum(f.resolved) AS resolved, sum(f.ever_resolved) AS ever_resolved,
                   sum(f.reopened) AS reopened,
                   sum(f.within_3_business_days) AS within_3_business_days,
                   sum(f.within_8_weeks) AS within_8_weeks,
                   sum(f.with_outcome) AS with_outcome, sum(f.upheld) AS upheld,
                   count(f.csat) AS csat_answers,
                   count(f.csat) FILTER (WHERE f.csat >= 4) AS csat_satisfied,
                   count(f.nps) AS nps_answers,
                   count(f.nps) FILTER (WHERE f.nps >= 9) AS nps_promoters,
                   count(f.nps) FILTER (WHERE f.nps <= 6) AS nps_detractors,
                   count(f.ces) AS ces_answers, COALESCE(sum(f.ces), 0) AS ces_sum
            FROM f GROUP BY f.day, GROUPING SETS ({kpi_sets})
        ),
        ack AS ({day_histograms("ack_bucket")}),
        res AS ({day_histograms("resolve_bucket")})
        INSERT INTO insight_kpi_day
            (day, dimension, value, complaints, acknowledged, resolved, ever_resolved,
             reopened, within_3_business_days, within_8_weeks, with_outcome, upheld,
             csat_answers, csat_satisfied, nps_answers, nps_promoters, nps_detractors,
             ces_answers, ces_sum,
             acknowledge_buckets, acknowledge_counts, resolve_buckets, resolve_counts)
        SELECT c.day, c.dimension, c.value, c.complaints, c.acknowledged, c.resolved,
               c.ever_resolved, c.reopened, c.within_3_business_days, c.within_8_weeks,
               c.with_outcome, c.upheld,
               c.csat_answers, c.csat_satisfied, c.nps_answers, c.nps_promoters,
               c.nps_detractors, c.ces_answers, c.ces_sum,
               COALESCE(ack.buckets, '{{}}'), COALESCE(ack.ns, '{{}}'),
               COALESCE(res.buckets, '{{}}'), COALESCE(res.ns, '{{}}')
        FROM counts c
        LEFT JOIN ack USING (day, dimension, value)
        LEFT JOIN res USING (day, dimension, value)
        """,  # noqa: S608 (constant SQL and the ORM's own; values are parameters)
        # SLA clocks met and breached, by their state now (cancelled ones not at all).
        f"""
        WITH f AS ({facts_sql})
        INSERT INTO insight_clock_day (day, dimension, value, clock, met, breached)
        SELECT f.day, {kpi_dim}, {kpi_value}, {STATUTORY_CLOCK_SQL},
               count(*) FILTER (WHERE k.state = 'met'),
               count(*) FILTER (WHERE k.state = 'breached')
        FROM f JOIN escalation_clock k ON k.complaint_id = f.id
        WHERE k.state <> 'cancelled'
        GROUP BY f.day, {STATUTORY_CLOCK_SQL}, GROUPING SETS ({kpi_sets})
        """,  # noqa: S608 (constant SQL and the ORM's own; values are parameters)
    ]
    params = [facts_params, [*facts_params, RecoveryStatus.DECLINED], facts_params, facts_params]
    with connection.cursor() as cursor:
        for statement, statement_params in zip(statements, params, strict=True):
            # The ORM's SQL escapes literal percent signs for the parameters that follow.
            cursor.execute(statement, statement_params)


def _month_histograms_sql(measure: str) -> str:
    return f"""
        SELECT month, dimension, value,
               array_agg(bucket ORDER BY bucket) AS buckets, array_agg(n ORDER BY bucket) AS ns
        FROM (
            SELECT date_trunc('month', d.day)::date AS month, d.dimension, d.value,
                   u.bucket, sum(u.n) AS n
            FROM insight_kpi_day d, unnest(d.{measure}_buckets, d.{measure}_counts) AS u(bucket, n)
            WHERE d.day >= %(first)s AND d.day < %(until)s
              AND date_trunc('month', d.day)::date = ANY(%(months)s)
            GROUP BY 1, 2, 3, 4
        ) h
        GROUP BY month, dimension, value
    """  # noqa: S608 (constant SQL; values are parameters)


def _build_months(months: list[date]) -> None:
    """Add up the day histograms of whole calendar months (from the day rows just built)."""
    if not months:
        return
    params = {"months": months, "first": min(months), "until": _next_month(max(months))}
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM insight_duration_month WHERE month = ANY(%(months)s)", params)
        cursor.execute(
            f"""
            INSERT INTO insight_duration_month
            SELECT month, dimension, value,
                   COALESCE(a.buckets, '{{}}'), COALESCE(a.ns, '{{}}'),
                   COALESCE(r.buckets, '{{}}'), COALESCE(r.ns, '{{}}')
            FROM ({_month_histograms_sql("acknowledge")}) a
            FULL JOIN ({_month_histograms_sql("resolve")}) r USING (month, dimension, value)
            """,  # noqa: S608 (constant SQL; values are parameters)
            params,
        )


def _months_of(runs: list[tuple[date, date]]) -> list[date]:
    months: set[date] = set()
    for first, last in runs:
        month = first.replace(day=1)
        while month <= last:
            months.add(month)
            month = _next_month(month)
    return sorted(months)


def _build_sequences(customers: list[int] | None) -> None:
    """Each complaint of the customers (of every customer: None) with the customer's
    complaint before it, in time order (ties by id), both primary causes, and the dimensions
    scopes filter on."""
    condition, params = ("WHERE c.customer_id = ANY(%s)", [customers]) if customers else ("", [])
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO insight_sequence
            SELECT c.id, c.customer_id, c.received_at,
                   lag(c.id) OVER customer_time, lag(c.received_at) OVER customer_time,
                   p.root_cause_id, lag(p.root_cause_id) OVER customer_time,
                   c.channel, c.product, c.touchpoint_id, c.team_id
            FROM recovery_complaint c
            LEFT JOIN recovery_complaintrootcause p ON p.complaint_id = c.id AND p.is_primary
            {condition}
            WINDOW customer_time AS (PARTITION BY c.customer_id ORDER BY c.received_at, c.id)
            """,  # noqa: S608 (constant SQL; values are parameters)
            params,
        )


# -- refreshing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refreshed:
    full: bool
    days: int


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=_zone())


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) runs, so each run is one range query."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def refresh(flags: dict[str, Q], alias: dict, *, full: bool = False) -> Refreshed | None:
    """Rebuild the summaries of the days whose complaints changed (all days when ``full``,
    when they were never built, or were built for another time zone or layout).

    One transaction under an advisory lock, so refreshes never interleave and readers see
    the old rows or the new ones. Changes committed while it runs stay logged and are
    picked up by the next refresh. Returns None where summaries are not kept.
    """
    if not available():
        return None
    zone = settings.TIME_ZONE
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        cursor.execute("SELECT time_zone, version FROM insight_summary_state")
        state = cursor.fetchone()
        if full or state != (zone, VERSION):
            cursor.execute("DELETE FROM insight_dirty")
            for table in (*SUMMARY_TABLES, "insight_duration_month", "insight_sequence"):
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (constant names)
            _build_sequences(None)
            cursor.execute("SELECT min(received_at), max(received_at) FROM recovery_complaint")
            first, last = cursor.fetchone()
            days = []
            if first is not None:
                first_day = first.astimezone(_zone()).date()
                last_day = last.astimezone(_zone()).date()
                days = [(first_day, last_day)]
            full = True
        else:
            cursor.execute(
                "DELETE FROM insight_dirty RETURNING (received_at AT TIME ZONE %s)::date, "
                "customer_id",
                [zone],
            )
            logged = cursor.fetchall()
            days = _runs(list({day for day, _customer in logged}))
            customers = sorted({customer for _day, customer in logged if customer is not None})
            if customers:
                cursor.execute(
                    "DELETE FROM insight_sequence WHERE customer_id = ANY(%s)", [customers]
                )
                _build_sequences(customers)
            for first_day, last_day in days:
                for table in SUMMARY_TABLES:
                    cursor.execute(
                        f"DELETE FROM {table} WHERE day BETWEEN %s AND %s",  # noqa: S608
                        [first_day, last_day],
                    )
        for first_day, last_day in days:
            _build(
                _local_midnight(first_day),
                _local_midnight(last_day + timedelta(days=1)),
                flags,
                alias,
            )
        _build_months(_months_of(days))
        if full:
            # Fresh statistics for the planner, which would otherwise plan over empty tables
            # until autovacuum comes by.
            cursor.execute(
                "ANALYZE insight_cause_day, insight_cost_day, insight_kpi_day, "
                "insight_duration_month, insight_clock_day, insight_sequence"
            )
        cursor.execute(
            "INSERT INTO insight_summary_state (id, time_zone, version, built_at) "
            "VALUES (1, %s, %s, now()) ON CONFLICT (id) DO UPDATE "
            "SET time_zone = EXCLUDED.time_zone, version = EXCLUDED.version, "
            "built_at = CASE WHEN %s THEN now() ELSE insight_summary_state.built_at END",
            [zone, VERSION, full],
        )
    return Refreshed(full=full, days=sum((last - first).days + 1 for first, last in days))


def complaints_at_least(count: int) -> bool:
    """Whether there are ``count`` complaints or more (reads at most that many ids)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM recovery_complaint LIMIT %s) c", [count]
        )
        return cursor.fetchone()[0] >= count


def pending() -> tuple[bool, bool]:
    """(built, changed): whether summaries exist for this layout and zone, and whether
    complaints changed since they were last refreshed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM insight_summary_state "
            "               WHERE time_zone = %s AND version = %s), "
            "       EXISTS (SELECT 1 FROM insight_dirty)",
            [settings.TIME_ZONE, VERSION],
        )
        return cursor.fetchone()


# -- reading ----------------------------------------------------------------------------------


def key_of(scope, by: str = "") -> tuple[str, str] | None:
    """The (dimension, value) rows that answer a scope, or None when the scope combines
    filters (or a filter and a grouping) that the per-dimension rows cannot answer."""
    filters = scope.column_filters()
    if len(filters) + (1 if by else 0) > 1:
        return None
    if filters:
        name, _column, value = filters[0]
        return name, str(value)
    return (by, None) if by else ("", "")


def where(
    key: tuple[str, str | None], start: date, end: date, *, column: str = "day"
) -> tuple[str, list]:
    """The WHERE clause selecting a key's rows of the days (or months) ``[start, end]``; a
    None value is every value of the dimension (one row per group)."""
    dimension, value = key
    if value is None:
        return f"dimension = %s AND {column} BETWEEN %s AND %s", [dimension, start, end]
    return f"dimension = %s AND value = %s AND {column} BETWEEN %s AND %s", [
        dimension,
        value,
        start,
        end,
    ]


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _whole_months(start: date, end: date) -> list[date]:
    """First days of the calendar months lying wholly within ``[start, end]``."""
    month = start if start.day == 1 else _next_month(start)
    months = []
    while _next_month(month) - timedelta(days=1) <= end:
        months.append(month)
        month = _next_month(month)
    return months


def histograms(key, start: date, end: date, measure: str) -> dict[str, dict[int, int]]:
    """Value -> duration histogram (bucket -> count) of ``measure`` over the days
    ``[start, end]``: whole calendar months from the month rows, the days around them from
    the day rows. One query."""
    unnest = f"unnest({measure}_buckets, {measure}_counts) AS u(bucket, n)"
    day_where, params = where(key, start, end)
    # Only constant names are interpolated; the key and dates are parameters.
    parts = [f"SELECT value, u.bucket, u.n FROM insight_kpi_day, {unnest} WHERE {day_where}"]  # noqa: S608
    months = _whole_months(start, end)
    if months:
        parts[0] += " AND (day < %s OR day >= %s)"
        params += [months[0], _next_month(months[-1])]
        month_where, month_params = where(key, months[0], months[-1], column="month")
        parts.append(
            f"SELECT value, u.bucket, u.n FROM insight_duration_month, {unnest} WHERE {month_where}"  # noqa: S608
        )
        params += month_params
    rows = fetch(
        f"SELECT value, bucket, sum(n) FROM ({' UNION ALL '.join(parts)}) h "  # noqa: S608
        "GROUP BY value, bucket",
        params,
    )
    found: dict[str, dict[int, int]] = {}
    for value, bucket, count in rows:
        found.setdefault(value, {})[bucket] = count
    return found


def sequence_where(scope) -> tuple[str, list]:
    """The WHERE clause selecting the scope's complaints in ``insight_sequence``."""
    conditions, params = ["received_at >= %s", "received_at < %s"], [scope.since, scope.until]
    for _name, column, value in scope.column_filters():
        conditions.append(f"{column} = %s")
        params.append(value)
    return " AND ".join(conditions), params


def fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def percentiles(histogram: dict[int, int], fractions) -> list[float | None]:
    """``percentile_cont`` of the durations a histogram counts (bucket -> count).

    The value at each rank is placed within its bucket as if the bucket's durations were
    spread evenly over it; the two ranks around a fraction are then interpolated as
    PostgreSQL does. Runs over the (at most a few hundred) buckets, never over complaints.
    """
    total = sum(histogram.values())
    if not total:
        return [None for _ in fractions]
    buckets = sorted(histogram)
    starts, running = [], 0
    for bucket in buckets:
        starts.append(running)
        running += histogram[bucket]

    def at_rank(rank: int) -> float:
        index = bisect.bisect_right(starts, rank) - 1
        bucket = buckets[index]
        low = 0 if bucket == 0 else BUCKET_EDGES[bucket - 1]
        high = BUCKET_EDGES[bucket] if bucket < len(BUCKET_EDGES) else low
        within = (rank - starts[index] + 0.5) / histogram[bucket]
        return low + within * (high - low)

    found = []
    for fraction in fractions:
        position = fraction * (total - 1)
        below, above = math.floor(position), math.ceil(position)
        low, high = at_rank(below), at_rank(above)
        found.append(low + (position - below) * (high - low))
    return found
