"""Reads behind the insights: every figure is computed by the database in aggregate queries.

Python only reshapes what the queries return (one row per cause, week, group or currency),
never walks complaints. docs/insights.md says what each figure means and how it is counted.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import (
    Avg,
    Case,
    Count,
    F,
    FilteredRelation,
    Q,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Lag, TruncWeek
from django.utils import timezone

from escalation import selectors as escalation_selectors
from escalation.regulatory import PROFILES, deadline_of
from insights import summaries
from insights.expressions import (
    WEEK_SECONDS,
    BusinessDaysAfter,
    LocalDayNumber,
    Percentiles,
    WeeksSince,
)
from insights.params import DEFAULT_TREND_CAUSES, Scope, local_midnight, week_start
from recovery import access, rules
from recovery.models import (
    Channel,
    Complaint,
    ComplaintEvent,
    ComplaintRootCause,
    CorrectiveAction,
    Customer,
    EventType,
    JourneyStage,
    Outcome,
    RecoveryAction,
    RecoveryStatus,
    RootCause,
    RootCauseAlert,
    Team,
    Touchpoint,
)

UPHELD_OUTCOMES = (Outcome.UPHELD, Outcome.PARTLY_UPHELD)

# Reports sort and hash a year of complaints at once; PostgreSQL's default of 4 MB per sort
# would spill them to temporary files. 64 MB holds a million-row sort in memory, and applies
# only inside the insight's own transaction (SET LOCAL).
REPORT_WORK_MEM = "64MB"


def report_transaction():
    """A read transaction with enough sort memory for a year of complaints."""
    return _ReportTransaction()


class _ReportTransaction:
    def __enter__(self):
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
                # Compiling a report's plan (JIT) costs more than it saves on these sizes.
                cursor.execute("SET LOCAL jit = off")
        return self

    def __exit__(self, *exc):
        return self._atomic.__exit__(*exc)


def _summary_key(scope: Scope, by: str = ""):
    """The summary rows (``summaries.key_of``) that answer the scope, refreshed first if
    complaints changed since; None when the scope is answered from the complaints."""
    key = summaries.key_of(scope, by)
    if key is None or not _summaries_ready():
        return None
    return key


# A read builds missing summaries itself only for this many complaints or fewer (a few
# seconds); a larger database answers from the complaints until the periodic task or
# ``manage.py refresh_insights`` has built them, rather than holding a request for minutes.
BUILD_ON_READ_LIMIT = 100_000


def _summaries_ready() -> bool:
    """Whether the summaries can answer now: up to date after folding in the changes since
    the last refresh, or built now if missing and the database is small."""
    if not summaries.available():
        return False
    built, changed = summaries.pending()
    if not built and summaries.complaints_at_least(BUILD_ON_READ_LIMIT + 1):
        return False
    if changed or not built:
        summaries.refresh(kpi_flags(), kpi_alias())
    return True


def refresh_summaries_if_needed(*, full: bool = False):
    """Bring the summaries up to date with every committed change (see summaries.py).

    None when nothing was refreshed: the summaries were up to date, or this database keeps
    none (SQLite has neither their tables nor their triggers).
    """
    if not summaries.available():
        return None
    built, changed = summaries.pending() if not full else (False, True)
    if built and not changed:
        return None
    return summaries.refresh(kpi_flags(), kpi_alias(), full=full)


# -- root causes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CauseInfo:
    id: int
    code: str
    name: str
    path: str
    owner_id: int | None
    retired: bool


def cause_catalogue() -> dict[int, CauseInfo]:
    """Every root cause with its full path, from one query over the (small) taxonomy."""
    rows = list(
        RootCause.objects.values("id", "code", "name", "parent_id", "owner_id", "retired_at")
    )
    by_id = {row["id"]: row for row in rows}

    def path_of(row) -> str:
        names, node, seen = [], row, set()
        while node is not None and node["id"] not in seen:
            seen.add(node["id"])
            names.append(node["name"])
            node = by_id.get(node["parent_id"])
        return " > ".join(reversed(names))

    return {
        row["id"]: CauseInfo(
            id=row["id"],
            code=row["code"],
            name=row["name"],
            path=path_of(row),
            owner_id=row["owner_id"],
            retired=row["retired_at"] is not None,
        )
        for row in rows
    }


def cause_and_descendants(cause_ids) -> set[int]:
    """The causes and every cause below them in the taxonomy."""
    children: dict[int | None, list[int]] = {}
    for cause_id, parent_id in RootCause.objects.values_list("id", "parent_id"):
        children.setdefault(parent_id, []).append(cause_id)
    found, stack = set(), list(cause_ids)
    while stack:
        cause_id = stack.pop()
        if cause_id not in found:
            found.add(cause_id)
            stack.extend(children.get(cause_id, ()))
    return found


def _cause_fields(info: CauseInfo | None, cause_id: int) -> dict:
    if info is None:
        return {"root_cause_id": cause_id, "code": "", "name": "", "path": ""}
    return {"root_cause_id": cause_id, "code": info.code, "name": info.name, "path": info.path}


def _percent(part, whole) -> float | None:
    # float(): shares of money are Decimal / Decimal, and a share is a plain number.
    return round(float(100 * part / whole), 1) if whole else None


def _causes_in_scope(scope: Scope, *, causes: str, since=None, until=None):
    links = ComplaintRootCause.objects.filter(
        scope.complaint_q("complaint__", since=since, until=until)
    )
    if causes == "primary":
        links = links.filter(is_primary=True)
    return links


# -- Pareto ---------------------------------------------------------------------------------


def _primary_cause():
    """The complaint's primary-cause row as a LEFT JOIN: complaints without one stay, with a
    NULL cause, so one pass over the complaints also counts those not yet classified."""
    return FilteredRelation("root_causes", condition=Q(root_causes__is_primary=True))


def _ranked(rows: list[dict], key: str) -> list[dict]:
    """Rows (largest first) with rank, share and running share of ``key``. Runs over the
    grouped rows, one per cause, never over complaints."""
    total = sum(row[key] for row in rows)
    running = 0
    for rank, row in enumerate(rows, start=1):
        running += row[key]
        row.update(
            rank=rank,
            percent=_percent(row[key], total),
            cumulative_percent=_percent(running, total),
        )
    return rows


def pareto_by_count(scope: Scope, *, causes: str = "primary") -> dict:
    """Root causes by number of complaints in the scope, most frequent first.

    ``causes="primary"`` counts each complaint once, under its primary cause: one query over
    the complaints with their primary cause left-joined, grouped by cause (the NULL group is
    the complaints without one). ``"all"`` counts a complaint under each of its causes, so the
    counts add up to more than the complaints; the complaints are then counted apart. Ties
    are ranked by cause id, so the order and the running share are stable.
    """
    key = _summary_key(scope)
    with report_transaction():
        if key is not None:
            where, params = summaries.where(key, scope.start, scope.end)
            grouped = [
                {"root_cause_id": cause_id, "complaints": primary, "mentions": mentions}
                for cause_id, primary, mentions in summaries.fetch(
                    "SELECT root_cause_id, sum(primary_complaints), sum(mentions) "  # noqa: S608
                    f"FROM insight_cause_day WHERE {where} GROUP BY root_cause_id",
                    params,
                )
            ]
            in_scope = sum(row["complaints"] for row in grouped)
            measure = "complaints" if causes == "primary" else "mentions"
            counted = [
                {"root_cause_id": row["root_cause_id"], "complaints": row[measure]}
                for row in grouped
                if row["root_cause_id"] is not None and row[measure]
            ]
        elif causes == "primary":
            grouped = list(
                Complaint.objects.filter(scope.complaint_q())
                .alias(primary_cause=_primary_cause())
                .values(root_cause_id=F("primary_cause__root_cause_id"))
                .annotate(complaints=Count("id"))
                .order_by()
            )
            in_scope = sum(row["complaints"] for row in grouped)
            counted = [row for row in grouped if row["root_cause_id"] is not None]
        else:
            counted = list(
                _causes_in_scope(scope, causes=causes)
                .values("root_cause_id")
                .annotate(complaints=Count("complaint_id"))
                .order_by()
            )
            in_scope = Complaint.objects.filter(scope.complaint_q()).count()
    counted.sort(key=lambda row: (-row["complaints"], row["root_cause_id"]))
    catalogue = cause_catalogue()
    return {
        "scope": _scope_dict(scope),
        "measure": "count",
        "causes": causes,
        "complaints": in_scope,
        "counted": sum(row["complaints"] for row in counted),
        "rows": [
            {
                "rank": row["rank"],
                **_cause_fields(catalogue.get(row["root_cause_id"]), row["root_cause_id"]),
                "complaints": row["complaints"],
                "percent": row["percent"],
                "cumulative_percent": row["cumulative_percent"],
            }
            for row in _ranked(counted, "complaints")
        ],
    }


def pareto_by_cost(scope: Scope) -> dict:
    """Root causes by the recovery money spent on their complaints, per currency.

    Every monetary recovery action except declined ones counts in full under its complaint's
    primary cause; currencies are never added together, so each has its own ranking and
    running share. One query: the actions with their complaint's primary cause left-joined,
    grouped by currency and cause; the NULL cause is money on complaints not yet given one
    (``unattributed``).
    """
    key = _summary_key(scope)
    with report_transaction():
        if key is not None:
            where, params = summaries.where(key, scope.start, scope.end)
            grouped = [
                {
                    "currency": currency,
                    "cause": cause_id,
                    "spent": spent,
                    "actions": actions,
                    "complaints": complaints,
                }
                for currency, cause_id, spent, actions, complaints in summaries.fetch(
                    "SELECT currency, root_cause_id, sum(spent), sum(actions), "  # noqa: S608
                    f"sum(complaints) FROM insight_cost_day WHERE {where} "
                    "GROUP BY currency, root_cause_id",
                    params,
                )
            ]
        else:
            grouped = _cost_rows_live(scope)
    catalogue = cause_catalogue()
    currencies, table = [], []
    for currency in sorted({row["currency"] for row in grouped}):
        rows = [row for row in grouped if row["currency"] == currency]
        attributed = sorted(
            (row for row in rows if row["cause"] is not None),
            key=lambda row: (-row["spent"], row["cause"]),
        )
        total = sum((row["spent"] for row in rows), Decimal(0))
        in_causes = sum((row["spent"] for row in attributed), Decimal(0))
        currencies.append(
            {
                "currency": currency,
                "total": _money(total),
                "attributed": _money(in_causes),
                "unattributed": _money(total - in_causes),
            }
        )
        table.extend(
            {
                "currency": currency,
                "rank": row["rank"],
                **_cause_fields(catalogue.get(row["cause"]), row["cause"]),
                "amount": _money(row["spent"]),
                "actions": row["actions"],
                "complaints": row["complaints"],
                "percent": row["percent"],
                "cumulative_percent": row["cumulative_percent"],
            }
            for row in _ranked(attributed, "spent")
        )
    return {
        "scope": _scope_dict(scope),
        "measure": "cost",
        "causes": "primary",
        "currencies": currencies,
        "rows": table,
    }


def _cost_rows_live(scope: Scope) -> list[dict]:
    return list(
        RecoveryAction.objects.filter(scope.complaint_q("complaint__"), amount__isnull=False)
        .exclude(status=RecoveryStatus.DECLINED)
        .alias(
            primary_cause=FilteredRelation(
                "complaint__root_causes",
                condition=Q(complaint__root_causes__is_primary=True),
            )
        )
        .values("currency", cause=F("primary_cause__root_cause_id"))
        .annotate(
            spent=Sum("amount"),
            actions=Count("id"),
            complaints=Count("complaint_id", distinct=True),
        )
        .order_by()
    )


def _money(value) -> str:
    """Money leaves as a string with two decimals: JSON numbers are binary floats."""
    return f"{Decimal(value or 0):.2f}"


# -- trends ---------------------------------------------------------------------------------


def weeks_of(scope: Scope) -> tuple[date, date]:
    """The scope stretched to whole weeks (Monday to Sunday): the first and last Monday."""
    return week_start(scope.start), week_start(scope.end)


def cause_trends(
    scope: Scope,
    *,
    causes: str = "primary",
    chosen: list[RootCause] | None = None,
    top: int | None = None,
) -> dict:
    """Complaints per week for a few causes, and the week's complaint volume.

    The period is stretched to whole weeks. Without ``chosen`` causes, the ``top`` causes of
    the period are shown. One grouped query gives the count of every cause in every week
    (for primary causes, with the complaints without one in the NULL group, so the same pass
    gives the volume); the top causes are then picked from those few hundred rows. Weeks
    without complaints are zeros, so every series has a value for every week.
    """
    first, last = weeks_of(scope)
    since, until = local_midnight(first), local_midnight(last + timedelta(days=7))
    key = _summary_key(scope)
    with report_transaction():
        if key is not None:
            where, params = summaries.where(key, first, last + timedelta(days=6))
            weekly = summaries.fetch(
                "SELECT date_trunc('week', day)::date, root_cause_id, "  # noqa: S608
                "sum(primary_complaints), sum(mentions) "
                f"FROM insight_cause_day WHERE {where} GROUP BY 1, 2",
                params,
            )
            measure = 2 if causes == "primary" else 3
            cells = [
                {"week": row[0], "root_cause_id": row[1], "complaints": row[measure]}
                for row in weekly
            ]
            volume_rows = [
                {"week": row[0], "root_cause_id": row[1], "complaints": row[2]} for row in weekly
            ]
        elif causes == "primary":
            cells = list(
                Complaint.objects.filter(scope.complaint_q(since=since, until=until))
                .alias(primary_cause=_primary_cause())
                .annotate(week=TruncWeek("received_at"))
                .values("week", root_cause_id=F("primary_cause__root_cause_id"))
                .annotate(complaints=Count("id"))
                .order_by()
            )
            volume_rows = cells
        else:
            cells = list(
                _causes_in_scope(scope, causes=causes, since=since, until=until)
                .annotate(week=TruncWeek("complaint__received_at"))
                .values("week", "root_cause_id")
                .annotate(complaints=Count("complaint_id"))
                .order_by()
            )
            volume_rows = list(
                Complaint.objects.filter(scope.complaint_q(since=since, until=until))
                .annotate(week=TruncWeek("received_at"))
                .values("week")
                .annotate(complaints=Count("id"))
                .order_by()
            )
    by_cell: dict[tuple, int] = {}
    per_cause: dict[int, int] = {}
    for row in cells:
        if row["root_cause_id"] is None:
            continue
        by_cell[(_local_date(row["week"]), row["root_cause_id"])] = row["complaints"]
        per_cause[row["root_cause_id"]] = per_cause.get(row["root_cause_id"], 0) + row["complaints"]
    by_week: dict[date, int] = {}
    for row in volume_rows:
        day = _local_date(row["week"])
        by_week[day] = by_week.get(day, 0) + row["complaints"]
    if chosen is None:
        ranked = sorted(per_cause, key=lambda cause_id: (-per_cause[cause_id], cause_id))
        cause_ids = ranked[: top or DEFAULT_TREND_CAUSES]
    else:
        cause_ids = [cause.pk for cause in chosen]
    weeks = [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]
    catalogue = cause_catalogue()
    return {
        "scope": _scope_dict(scope),
        "causes": causes,
        "weeks": [day.isoformat() for day in weeks],
        "volume": [by_week.get(day, 0) for day in weeks],
        "series": [
            {
                **_cause_fields(catalogue.get(cause_id), cause_id),
                "counts": [by_cell.get((day, cause_id), 0) for day in weeks],
            }
            for cause_id in cause_ids
        ],
    }


def _local_date(value) -> date:
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


# -- rising causes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RisingCause:
    root_cause_id: int
    week_start: date
    count: int
    baseline: float


def rising_causes(
    *, week: date, baseline_weeks: int, margin: float, min_count: int
) -> list[RisingCause]:
    """Causes whose complaints in ``week`` exceed their baseline by more than ``margin``.

    Counts primary causes of complaints received in the week (Monday to Sunday, local
    time). The baseline is the mean over the ``baseline_weeks`` weeks before, weeks without
    any complaint counting as zero: the previous count is divided by the number of weeks,
    not by the weeks that had complaints. Retired causes are left out. One aggregate query.
    """
    since = local_midnight(week - timedelta(weeks=baseline_weeks))
    starts = local_midnight(week)
    until = local_midnight(week + timedelta(weeks=1))
    factor = (1 + margin) / baseline_weeks
    if _summaries_ready():
        found = summaries.fetch(
            """
            SELECT d.root_cause_id, sum(d.primary_complaints) FILTER (WHERE d.day >= %s),
                   sum(d.primary_complaints) FILTER (WHERE d.day < %s)
            FROM insight_cause_day d JOIN recovery_rootcause r ON r.id = d.root_cause_id
            WHERE d.dimension = '' AND d.value = '' AND d.day >= %s AND d.day < %s
              AND r.retired_at IS NULL
            GROUP BY d.root_cause_id
            ORDER BY d.root_cause_id
            """,
            [week, week, week - timedelta(weeks=baseline_weeks), week + timedelta(weeks=1)],
        )
        rows = [
            {"root_cause_id": cause_id, "current": current or 0, "previous": previous or 0}
            for cause_id, current, previous in found
        ]
        rows = [
            row
            for row in rows
            if row["current"] >= min_count and row["current"] > row["previous"] * factor
        ]
    else:
        rows = _rising_rows_live(since, starts, until, min_count, factor)
    return [
        RisingCause(
            root_cause_id=row["root_cause_id"],
            week_start=week,
            count=row["current"],
            baseline=row["previous"] / baseline_weeks,
        )
        for row in rows
    ]


def _rising_rows_live(since, starts, until, min_count: int, factor: float):
    return (
        ComplaintRootCause.objects.filter(
            is_primary=True,
            complaint__received_at__gte=since,
            complaint__received_at__lt=until,
            root_cause__retired_at__isnull=True,
        )
        .values("root_cause_id")
        .annotate(
            current=Count("complaint_id", filter=Q(complaint__received_at__gte=starts)),
            previous=Count("complaint_id", filter=Q(complaint__received_at__lt=starts)),
        )
        .filter(current__gte=min_count, current__gt=F("previous") * factor)
        .order_by("root_cause_id")
    )


def recent_alerts(*, limit: int = 50) -> list[dict]:
    catalogue = cause_catalogue()
    return [
        {
            **_cause_fields(catalogue.get(alert.root_cause_id), alert.root_cause_id),
            "week_start": alert.week_start.isoformat(),
            "count": alert.count,
            "baseline": round(alert.baseline, 2),
            "raised_at": alert.raised_at.isoformat(),
        }
        for alert in RootCauseAlert.objects.order_by("-week_start", "root_cause_id")[:limit]
    ]


# -- repeat complaints ----------------------------------------------------------------------


def repeat_complaints(
    scope: Scope, *, within_days: int, top_customers: int = 20, viewer=None
) -> dict:
    """Complaints whose customer had complained before, within ``within_days`` days.

    The counts are organisation-wide (they name nobody). The top customers name people: for
    a ``viewer`` who does not see every complaint (``recovery.access``), they are counted
    from the repeats the viewer may see only, so no customer appears, nor any count, that
    the viewer's own complaints do not show. ``viewer=None``: the whole organisation (the
    insights' own jobs and tests).

    A complaint in the scope is a *repeat* when the same customer's previous complaint (of
    any channel, product or team, and possibly from before the period) was received at most
    ``within_days`` days earlier. One statement:

    1. every complaint of the scope with the customer's previous one: kept per complaint in
       the summaries (PostgreSQL), or ``LAG`` over each customer's complaints in time order
       over the period and the look-back (``_sequence_live``);
    2. the repeats are the in-scope rows whose previous complaint is recent enough;
    3. they are counted in total, per primary cause (and how many had the same primary cause
       as the complaint before), and per customer (the most frequent first), next to the
       complaints and customers of the scope.
    """
    if _summaries_ready():
        # Each complaint's previous one is kept (insight_sequence): the scope's complaints,
        # and its repeats, are two filtered reads of one index; no sort, no window.
        where, params = summaries.sequence_where(scope)
        period = f"SELECT * FROM insight_sequence WHERE {where}"  # noqa: S608
        # With no filter hiding any of their complaints, a customer's first complaint of the
        # period is the one whose previous came before it: counting those counts the
        # customers without a distinct count (a sort of the whole period).
        customers = (
            "count(DISTINCT customer_id)"
            if scope.filters
            else "count(*) FILTER (WHERE previous_at IS NULL OR previous_at < %s)"
        )
        # The gap to the previous complaint, one subtraction a row (``within_days`` is a
        # validated integer, never text from a request).
        days = int(within_days)
        ctes = (
            "repeats AS MATERIALIZED (SELECT complaint_id AS id, customer_id, "  # noqa: S608
            "primary_cause_id, previous_cause_id "
            f"FROM ({period}) p WHERE received_at - previous_at <= interval '{days} days')"
        )
        by_cause = (
            "SELECT 'cause', primary_cause_id, CAST(NULL AS TEXT), count(*), "
            "count(*) FILTER (WHERE previous_cause_id = primary_cause_id) FROM repeats "
            "WHERE primary_cause_id IS NOT NULL GROUP BY primary_cause_id"
        )
        scope_sql = f"SELECT count(*), {customers} FROM ({period}) p"  # noqa: S608
        ctes_params = params
        # The count of customers comes before the period in the text, so do its values.
        scope_params = [*([] if scope.filters else [scope.since]), *params]
    else:
        sequence_sql, sequence_params = _sequence_live(scope, within_days)
        recent = _instant_minus_days("seq.received_at", within_days)
        ctes = (
            f"seq AS ({sequence_sql}), repeats AS (SELECT seq.id, seq.customer_id, "  # noqa: S608
            f"seq.previous_id FROM seq WHERE seq.in_scope = 1 AND seq.previous_at >= {recent})"
        )
        scope_sql = "SELECT count(*), count(DISTINCT customer_id) FROM seq WHERE seq.in_scope = 1"
        ctes_params, scope_params = sequence_params, []
        causes = ComplaintRootCause._meta.db_table
        by_cause = f"""
            SELECT 'cause', now_cause.root_cause_id, CAST(NULL AS TEXT), count(*),
                   count(*) FILTER (WHERE then_cause.root_cause_id = now_cause.root_cause_id)
            FROM repeats r
            JOIN {causes} now_cause ON now_cause.complaint_id = r.id AND now_cause.is_primary
            LEFT JOIN {causes} then_cause
                   ON then_cause.complaint_id = r.previous_id AND then_cause.is_primary
            GROUP BY now_cause.root_cause_id
        """  # noqa: S608
    customers_table = Customer._meta.db_table
    # The top customers: from every repeat, or from those of complaints the viewer may see.
    visible_sql, visible_params = "", ()
    if viewer is not None and not rules.sees_every_complaint(viewer):
        subquery = access.complaints_visible_to(viewer).values("pk").query
        visible_sql, visible_params = subquery.sql_with_params()
    named = (
        f"(SELECT customer_id, count(*) AS n FROM repeats WHERE id IN ({visible_sql}) "  # noqa: S608
        "GROUP BY customer_id)"
        if visible_sql
        else "by_customer"
    )
    # Only table names, the ORM's own SQL and an integer are interpolated; values are params.
    # The repeats per customer give both the repeat customers and the top ones; a CTE read
    # twice is computed once (PostgreSQL materializes it).
    statement = f"""
        WITH {ctes},
        by_customer AS (SELECT customer_id, count(*) AS n FROM repeats GROUP BY customer_id)
        SELECT 'scope', CAST(NULL AS BIGINT), CAST(NULL AS TEXT), s.* FROM ({scope_sql}) s
        UNION ALL
        SELECT 'total', CAST(NULL AS BIGINT), CAST(NULL AS TEXT),
               CAST(COALESCE(sum(n), 0) AS BIGINT), count(*)
        FROM by_customer
        UNION ALL
        {by_cause}
        UNION ALL
        SELECT 'customer', top.customer_id, cu.name, top.n, CAST(NULL AS BIGINT)
        FROM (
            SELECT customer_id, n FROM {named} named ORDER BY n DESC, customer_id LIMIT %s
        ) top
        JOIN {customers_table} cu ON cu.id = top.customer_id
    """  # noqa: S608
    with report_transaction(), connection.cursor() as cursor:
        cursor.execute(statement, [*ctes_params, *scope_params, *visible_params, top_customers])
        found = cursor.fetchall()
    in_scope = next(row for row in found if row[0] == "scope")
    counts = {"complaints": in_scope[3], "customers": in_scope[4]}
    totals = next(row for row in found if row[0] == "total")
    cause_rows = sorted(
        (row for row in found if row[0] == "cause"), key=lambda row: (-row[3], row[1])
    )
    customer_rows = sorted(
        (row for row in found if row[0] == "customer"), key=lambda row: (-row[3], row[1])
    )
    repeats, repeat_customers = totals[3], totals[4]
    replied = replied_after_closing(scope)
    catalogue = cause_catalogue()
    return {
        "scope": _scope_dict(scope),
        "within_days": within_days,
        "complaints": counts["complaints"],
        "customers": counts["customers"],
        "repeat_complaints": repeats,
        "repeat_customers": repeat_customers,
        "repeat_percent": _percent(repeats, counts["complaints"]),
        "replied_after_closing": replied,
        "possible_repeats": repeats + replied,
        "causes": [
            {
                **_cause_fields(catalogue.get(cause_id), cause_id),
                "repeat_complaints": count,
                "same_cause_as_previous": same,
                "same_cause_percent": _percent(same, count),
            }
            for _kind, cause_id, _name, count, same in cause_rows
        ],
        "top_customers": [
            {"customer_id": customer_id, "name": name, "repeat_complaints": count}
            for _kind, customer_id, name, count, _same in customer_rows
        ],
    }


def replied_after_closing(scope: Scope) -> int:
    """Complaints of the scope's filters whose customer wrote again, in the period, after
    they were resolved or closed: possible repeats that opened no new complaint.

    Counted from the timeline (``customer_replied_after_closing`` events, in the period by
    when the customer wrote), not from the per-day summaries, which count complaints by when
    they were received; the marker on the complaint is cleared once it is answered.
    """
    events = ComplaintEvent.objects.filter(
        type=EventType.CUSTOMER_REPLIED_AFTER_CLOSING,
        created_at__gte=scope.since,
        created_at__lt=scope.until,
        **{f"complaint__{column}": value for _name, column, value in scope.column_filters()},
    )
    with report_transaction():
        return events.values("complaint_id").distinct().count()


_in_time = [F("received_at").asc(), F("id").asc()]


def _sequence_live(scope: Scope, within_days: int) -> tuple[str, tuple]:
    """Every complaint of the period and the look-back with the customer's previous
    complaint (``LAG`` in time order), and whether it is in the scope: a column, not a
    filter, because filtering first would hide the previous complaints of other channels
    or teams."""
    sequence = (
        Complaint.objects.filter(
            received_at__gte=scope.since - timedelta(days=within_days),
            received_at__lt=scope.until,
        )
        .annotate(
            previous_id=Window(Lag("id"), partition_by=[F("customer_id")], order_by=_in_time),
            previous_at=Window(
                Lag("received_at"), partition_by=[F("customer_id")], order_by=_in_time
            ),
            in_scope=Case(When(scope.complaint_q(), then=Value(1)), default=Value(0)),
        )
        .values("id", "customer_id", "received_at", "previous_id", "previous_at", "in_scope")
        .order_by()
    )
    return sequence.query.sql_with_params()


def _instant_minus_days(column: str, days: int) -> str:
    # ``days`` is a validated integer, never text from a request.
    days = int(days)
    if connection.vendor == "postgresql":
        return f"{column} - interval '{days} days'"
    return f"datetime({column}, '-{days} days')"


# -- KPIs -----------------------------------------------------------------------------------

# What a KPI row is grouped by: the complaint column, and where its key and readable name
# are (None: the column is the key). Groups are integer ids, looked up afterwards in the
# small table they point to: ordered-set aggregates make PostgreSQL sort the complaints by
# group, and sorting a million integers is about twice as fast as sorting their slugs.
KPI_GROUPS = {
    "": (None, None, None, None),
    "channel": ("channel", None, None, None),
    "touchpoint": ("touchpoint_id", Touchpoint, "slug", "name"),
    "journey_stage": ("journey_stage_id", JourneyStage, "slug", "name"),
    "team": ("team_id", Team, "slug", "name"),
    # A user's readable name is their full name, else the username (see ``kpis``).
    "agent": ("assignee_id", get_user_model, "username", None),
}
# The KPIs report against the FCA's periods, taken from its profile (the clocks count by the
# same definitions): a final response by the end of the local day 56 days after the day of
# receipt (DISP 1.6.2R), a summary resolution within 3 business days (DISP 1.5.1R).
FINAL_RESPONSE = deadline_of("uk_fca_disp", "resolve")
SUMMARY_RESOLUTION = deadline_of("uk_fca_disp", "summary_resolution")
SUMMARY_RESOLUTION_BUSINESS_DAYS = SUMMARY_RESOLUTION.amount
# Counting days converts both instants to local dates, the costly part of the KPI query;
# most complaints are decided by their duration alone, and PostgreSQL evaluates the OR and
# AND of an aggregate's FILTER left to right, so only the others are converted.
# Under 71 hours (72 less a daylight-saving hour) a span crosses at most 3 local midnights:
# at most 3 days after the day of receipt, so within. From 6 days 2 hours it crosses at least
# 6, and any 6 days in a row hold at least 4 weekdays: beyond.
SURELY_WITHIN = timedelta(hours=71)
SURELY_BEYOND = timedelta(days=6, hours=2)
# The same for the final response: a span under N days less an hour crosses at most N local
# midnights; from N + 1 days and an hour it crosses at least N + 1.
FINAL_SURELY_WITHIN = timedelta(days=FINAL_RESPONSE.amount, hours=-1)
FINAL_SURELY_BEYOND = timedelta(days=FINAL_RESPONSE.amount + 1, hours=1)


def _complaint_time_zone():
    """The zone each complaint's business days are counted in: its regulatory profile's,
    else the installation's ``TIME_ZONE``."""
    return Case(
        *(
            When(regulatory_profile=code, then=Value(profile.default_region.time_zone))
            for code, profile in sorted(PROFILES.items())
        ),
        default=Value(settings.TIME_ZONE),
    )


def kpi_alias() -> dict:
    """What the KPI rules read besides the complaint's own columns: business days and local
    dates from receipt to resolution, in the complaint's time zone."""
    zone = _complaint_time_zone()
    received, resolved = LocalDayNumber("received_at", zone), LocalDayNumber("resolved_at", zone)
    return {
        "business_days": BusinessDaysAfter(received, resolved),
        "local_days": resolved - received,
    }


def kpi_flags() -> dict[str, Q]:
    """The conditions the KPIs count complaints by; the live queries and the summaries
    (``summaries.facts``) both take them from here."""
    resolved = Q(resolved_at__isnull=False)
    return {
        "resolved": resolved,
        # The outcome recorded at resolution; "upheld" counts the complaints found for the
        # customer in whole or in part, as the regulators' complaint returns do.
        "with_outcome": ~Q(outcome=""),
        "upheld": Q(outcome__in=UPHELD_OUTCOMES),
        # Ever resolved: resolved now, or reopened (which clears the resolution).
        "ever_resolved": resolved | Q(reopen_count__gt=0),
        "reopened": Q(reopen_count__gt=0),
        "within_3_business_days": resolved
        & (
            Q(resolved_at__lt=F("received_at") + SURELY_WITHIN)
            | (
                Q(resolved_at__lt=F("received_at") + SURELY_BEYOND)
                & Q(business_days__lte=SUMMARY_RESOLUTION_BUSINESS_DAYS)
            )
        ),
        "within_8_weeks": resolved
        & (
            Q(resolved_at__lt=F("received_at") + FINAL_SURELY_WITHIN)
            | (
                Q(resolved_at__lt=F("received_at") + FINAL_SURELY_BEYOND)
                & Q(local_days__lte=FINAL_RESPONSE.amount)
            )
        ),
    }


def _kpi_aggregates() -> dict:
    flags = kpi_flags()
    resolved = flags["resolved"]
    return {
        "complaints": Count("id"),
        "acknowledged": Count("business_seconds_to_acknowledge"),
        "acknowledge_seconds": Percentiles("business_seconds_to_acknowledge", (0.5, 0.9)),
        "resolve_seconds": Percentiles("business_seconds_to_resolve", (0.5, 0.9), filter=resolved),
        **{name: Count("id", filter=condition) for name, condition in flags.items()},
        "csat_answers": Count("survey__csat"),
        "csat_satisfied": Count("survey__csat", filter=Q(survey__csat__gte=4)),
        "nps_answers": Count("survey__nps"),
        "nps_promoters": Count("survey__nps", filter=Q(survey__nps__gte=9)),
        "nps_detractors": Count("survey__nps", filter=Q(survey__nps__lte=6)),
        "ces_answers": Count("survey__ces"),
        "ces_mean": Avg("survey__ces"),
    }


def kpis(scope: Scope, *, by: str = "") -> dict:
    """Service KPIs of the complaints received in the scope, overall or per group.

    From the per-day summaries where the scope allows (``_kpi_rows_from_summaries``: sums,
    and percentiles from duration histograms); otherwise two aggregate queries, one over the
    complaints (with their survey, a one-to-one join), one over their SLA clocks
    (escalation's selector), with PostgreSQL's ``percentile_cont`` over the business seconds
    fixed on each complaint when it was acknowledged and resolved.
    """
    column, model, key_field, label_field = KPI_GROUPS[by]
    key = _summary_key(scope, by)
    with report_transaction():
        if key is not None:
            rows, sla = _kpi_rows_from_summaries(scope, key, by)
        else:
            rows, sla = _kpi_rows_live(scope, column)
        if model is not None:
            # Ids to slugs and names: one query over the few groups found.
            related = model() if model is get_user_model else model
            found = related.objects.filter(
                pk__in=[row["group"] for row in rows if row["group"] is not None]
            )
            if model is get_user_model:
                # A person by their full name, as everywhere else; the username if none.
                names = {
                    user.pk: (user.get_username(), user.get_full_name() or user.get_username())
                    for user in found.only("pk", key_field, "first_name", "last_name")
                }
            else:
                names = {
                    pk: (key, label)
                    for pk, key, label in found.values_list("pk", key_field, label_field)
                }
            for row in rows + sla:
                row["group"], row["label"] = names.get(row["group"], (None, None))
    sla_by_group: dict = {}
    for row in sla:
        sla_by_group.setdefault(row["group"], {})[row["clock"]] = {
            "met": row["met"],
            "breached": row["breached"],
            "met_percent": _percent(row["met"], row["met"] + row["breached"]),
        }
    table = [_kpi_row(row, by, sla_by_group.get(row["group"], {})) for row in rows]
    table.sort(key=lambda row: (-row["complaints"], row["group"] or ""))
    return {
        "scope": _scope_dict(scope),
        "by": by or None,
        "clocks": sorted({row["clock"] for row in sla}),
        "rows": table,
    }


def _kpi_rows_live(scope: Scope, column: str | None) -> tuple[list[dict], list[dict]]:
    complaints = Complaint.objects.filter(scope.complaint_q()).alias(**kpi_alias()).order_by()
    if column is None:
        rows = [{"group": None, **complaints.aggregate(**_kpi_aggregates())}]
    else:
        rows = list(complaints.values(group=F(column)).annotate(**_kpi_aggregates()))
    sla = escalation_selectors.clock_compliance(
        # A clock starts when its complaint is received or later: the redundant bound on
        # started_at drops older complaints' clocks before the join, not after it.
        complaints=scope.complaint_q("complaint__") & Q(started_at__gte=scope.since),
        group=f"complaint__{column}" if column else None,
    )
    return rows, sla


_KPI_SUMS = (
    "complaints",
    "acknowledged",
    "resolved",
    "ever_resolved",
    "reopened",
    "within_3_business_days",
    "within_8_weeks",
    "with_outcome",
    "upheld",
    "csat_answers",
    "csat_satisfied",
    "nps_answers",
    "nps_promoters",
    "nps_detractors",
    "ces_answers",
    "ces_sum",
)


def _kpi_rows_from_summaries(scope: Scope, key, by: str) -> tuple[list[dict], list[dict]]:
    """The same rows as the live query, added up from the days' summaries: counts from
    their sums, percentiles from their summed duration histograms."""
    where, params = summaries.where(key, scope.start, scope.end)
    sums = ", ".join(f"sum({name})" for name in _KPI_SUMS)
    # Only constant column names are interpolated; the key and dates are parameters.
    counted = summaries.fetch(
        f"SELECT value, {sums} FROM insight_kpi_day WHERE {where} GROUP BY value",  # noqa: S608
        params,
    )
    histograms = {
        measure: summaries.histograms(key, scope.start, scope.end, measure)
        for measure in summaries.MEASURES
    }
    rows = []
    for value, *totals in counted:
        row = dict(zip(_KPI_SUMS, totals, strict=True))
        row["group"] = _summary_group(value, by)
        for measure in summaries.MEASURES:
            row[f"{measure}_seconds"] = summaries.percentiles(
                histograms[measure].get(value, {}), (0.5, 0.9)
            )
        answers = row["ces_answers"]
        row["ces_mean"] = row["ces_sum"] / answers if answers else None
        rows.append(row)
    if not by and not rows:
        rows = [
            {
                **dict.fromkeys(_KPI_SUMS, 0),
                "group": None,
                "acknowledge_seconds": None,
                "resolve_seconds": None,
                "ces_mean": None,
            }
        ]
    sla = [
        {"clock": clock, "group": _summary_group(value, by), "met": met, "breached": breached}
        for value, clock, met, breached in summaries.fetch(
            "SELECT value, clock, sum(met), sum(breached) FROM insight_clock_day "  # noqa: S608
            f"WHERE {where} GROUP BY value, clock",
            params,
        )
    ]
    return rows, sla


def _summary_group(value: str, by: str):
    """A summary row's value as the group the live query would give (an id, a channel, or
    None for complaints without one)."""
    if not by or value == "":
        return None
    return value if by == "channel" else int(value)


def _kpi_row(row: dict, by: str, sla: dict) -> dict:
    group = row["group"]
    if by == "channel" and group:
        label = str(Channel(group).label) if group in Channel.values else group
    else:
        label = row.get("label") or group
    ack = row["acknowledge_seconds"] or [None, None]
    res = row["resolve_seconds"] or [None, None]
    resolved, within_3, within_8w = (
        row["resolved"],
        row["within_3_business_days"],
        row["within_8_weeks"],
    )
    nps = (
        round(100 * (row["nps_promoters"] - row["nps_detractors"]) / row["nps_answers"], 1)
        if row["nps_answers"]
        else None
    )
    return {
        "group": group,
        "label": label if group is not None else None,
        "complaints": row["complaints"],
        "acknowledged": row["acknowledged"],
        "acknowledge_median_seconds": _seconds(ack[0]),
        "acknowledge_p90_seconds": _seconds(ack[1]),
        "resolved": resolved,
        "resolve_median_seconds": _seconds(res[0]),
        "resolve_p90_seconds": _seconds(res[1]),
        "reopened": row["reopened"],
        "reopen_percent": _percent(row["reopened"], row["ever_resolved"]),
        "resolved_within_3_business_days": within_3,
        "resolved_within_8_weeks": within_8w - within_3,
        "resolved_later": resolved - within_8w,
        "within_3_business_days_percent": _percent(within_3, resolved),
        "within_8_weeks_percent": _percent(within_8w - within_3, resolved),
        "later_percent": _percent(resolved - within_8w, resolved),
        "with_outcome": row["with_outcome"],
        "upheld": row["upheld"],
        "upheld_percent": _percent(row["upheld"], row["with_outcome"]),
        "csat_answers": row["csat_answers"],
        "csat_percent": _percent(row["csat_satisfied"], row["csat_answers"]),
        "nps_answers": row["nps_answers"],
        "nps": nps,
        "ces_answers": row["ces_answers"],
        "ces_mean": round(row["ces_mean"], 2) if row["ces_mean"] is not None else None,
        "sla": sla,
    }


def _seconds(value) -> float | None:
    return round(value, 1) if value is not None else None


# -- CAPA effectiveness -----------------------------------------------------------------------


def capa_effectiveness(action: CorrectiveAction, *, weeks: int) -> dict:
    """Was the cause rarer after the corrective action was done than before it?

    Windows of ``weeks`` weeks on each side of ``done_at``: before is
    ``[done_at - weeks, done_at)``, after is ``[done_at, done_at + weeks)``, cut to the whole
    weeks that have passed. In each week, complaints received, complaints *classified* (given
    a primary cause, so resolved at least once) and complaints carrying one of the action's
    causes or a cause below them (as primary or contributing). The rate is carriers per
    classified complaint: complaints not yet resolved have no causes yet, so counting them
    in the denominator would make any action look effective in its first weeks. One
    aggregate query, grouped by week number relative to ``done_at``.
    """
    origin = action.done_at
    causes = cause_and_descendants(action.root_causes.values_list("id", flat=True))
    elapsed = int((timezone.now() - origin) / timedelta(weeks=1))
    after_weeks = max(0, min(weeks, elapsed))
    since, until = origin - timedelta(weeks=weeks), origin + timedelta(weeks=after_weeks)
    from_sequences = _summaries_ready()
    with report_transaction():
        if from_sequences:
            buckets = _capa_weeks_from_sequences(origin, causes, since, until)
        else:
            buckets = _capa_weeks_live(origin, causes, since, until)
    series = []
    for week in range(-weeks, after_weeks):
        cell = buckets.get(week, {})
        series.append(
            _rate_row(
                {
                    "week": week,
                    "starts": (origin + timedelta(weeks=week)).isoformat(),
                    "complaints": cell.get("complaints", 0),
                    "classified": cell.get("classified", 0),
                    "with_cause": cell.get("with_cause", 0),
                }
            )
        )
    before = _window([row for row in series if row["week"] < 0], weeks)
    after = _window([row for row in series if row["week"] >= 0], after_weeks)
    catalogue = cause_catalogue()
    change = None
    if before["rate"] and after["rate"] is not None:
        change = round(100 * (after["rate"] - before["rate"]) / before["rate"], 1)
    return {
        "corrective_action": {
            "id": action.pk,
            "title": action.title,
            "status": action.status,
            "done_at": origin.isoformat(),
            "root_causes": [
                _cause_fields(catalogue.get(cause_id), cause_id)
                for cause_id in sorted(
                    causes, key=lambda c: catalogue[c].code if c in catalogue else ""
                )
            ],
        },
        "weeks": weeks,
        "complete": after_weeks == weeks,
        "before": before,
        "after": after,
        "rate_change_percent": change,
        "series": series,
    }


def _capa_weeks_live(origin, causes, since, until) -> dict[int, dict]:
    # One pass over the window's complaints. Whether each has a primary cause, and one of
    # the action's, is a membership test in two sets of complaint ids that PostgreSQL
    # hashes once (a "hashed SubPlan"): no join fans the complaints out per cause, so no
    # distinct count (a sort) has to undo it.
    primary = ComplaintRootCause.objects.filter(is_primary=True).values("complaint_id")
    carriers = ComplaintRootCause.objects.filter(root_cause_id__in=causes).values("complaint_id")
    return {
        row["week"]: row
        for row in Complaint.objects.filter(received_at__gte=since, received_at__lt=until)
        .annotate(week=WeeksSince("received_at", Value(origin)))
        .values("week")
        .annotate(
            complaints=Count("id"),
            classified=Count("id", filter=Q(id__in=primary)),
            with_cause=Count("id", filter=Q(id__in=carriers)),
        )
        .order_by()
    }


def _capa_weeks_from_sequences(origin, causes, since, until) -> dict[int, dict]:
    """The same counts from ``insight_sequence``, which carries each complaint's primary
    cause: one narrow index range, and the carriers hashed once."""
    rows = summaries.fetch(
        f"""
        SELECT floor(extract(epoch FROM s.received_at - %s) / {WEEK_SECONDS})::int,
               count(*), count(s.primary_cause_id),
               count(*) FILTER (WHERE s.complaint_id IN (
                   SELECT complaint_id FROM recovery_complaintrootcause
                   WHERE root_cause_id = ANY(%s)))
        FROM insight_sequence s WHERE s.received_at >= %s AND s.received_at < %s
        GROUP BY 1
        """,  # noqa: S608 (a constant; values are parameters)
        [origin, sorted(causes), since, until],
    )
    return {
        week: {"complaints": complaints, "classified": classified, "with_cause": with_cause}
        for week, complaints, classified, with_cause in rows
    }


def _rate_row(row: dict) -> dict:
    row["rate"] = _ratio(row["with_cause"], row["classified"])
    return row


def _ratio(part, whole) -> float | None:
    return round(part / whole, 4) if whole else None


def _window(rows: list[dict], weeks: int) -> dict:
    complaints = sum(row["complaints"] for row in rows)
    classified = sum(row["classified"] for row in rows)
    with_cause = sum(row["with_cause"] for row in rows)
    return {
        "weeks": weeks,
        "starts": rows[0]["starts"] if rows else None,
        "complaints": complaints,
        "classified": classified,
        "with_cause": with_cause,
        "rate": _ratio(with_cause, classified),
        "with_cause_per_week": round(with_cause / weeks, 2) if weeks else None,
    }


def _scope_dict(scope: Scope) -> dict:
    return {"start": scope.start.isoformat(), "end": scope.end.isoformat(), **scope.filters}
