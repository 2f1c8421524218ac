"""SQL expressions the ORM lacks: percentiles, business days, week buckets.

Each compiles to native SQL on PostgreSQL. The embedded mode runs on SQLite, which has no
ordered-set aggregates nor time-zone conversion; there the same expressions call small
functions registered on the connection, the way Django itself gives SQLite ``STDDEV``.
"""

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from django.db.models import Aggregate, Field, Func, IntegerField

# Day numbers count from a Monday, so ``day % 7`` is the weekday (0 = Monday). 1900-01-01
# was a Monday and lies before any complaint, which keeps every day number positive (integer
# division and modulo then agree on both databases).
DAY_ZERO = date(1900, 1, 1)
WEEK_SECONDS = 7 * 86_400


class _FloatList(Field):
    """A list of floats read back from an aggregate (a PostgreSQL ``float8[]``; on SQLite
    the JSON text the registered aggregate returns)."""

    def from_db_value(self, value, expression, connection):
        if isinstance(value, str):
            return json.loads(value)
        return value


class Percentiles(Aggregate):
    """``percentile_cont(ARRAY[fractions]) WITHIN GROUP (ORDER BY expression)``.

    Interpolated percentiles (as PostgreSQL defines them), NULLs ignored, returned as a list
    in the order of ``fractions``. The array form sorts the values once for all fractions,
    where one ``percentile_cont`` per fraction would sort them once each.
    """

    name = "Percentiles"
    allow_distinct = False

    def __init__(self, expression, fractions, **extra):
        fractions = tuple(float(f) for f in fractions)
        if not fractions or not all(0 <= f <= 1 for f in fractions):
            raise ValueError("Percentiles are fractions between 0 and 1.")
        self.fractions = fractions
        super().__init__(expression, output_field=_FloatList(), **extra)

    def _array(self) -> str:
        # Literals: the fractions come from code, never from a request.
        return ", ".join(repr(f) for f in self.fractions)

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.get_source_expressions()[0])
        condition = ""
        if self.filter is not None:
            filter_sql, filter_params = compiler.compile(self.filter)
            condition, params = f" FILTER (WHERE {filter_sql})", (*params, *filter_params)
        return (
            f"percentile_cont(ARRAY[{self._array()}]::float8[]) "
            f"WITHIN GROUP (ORDER BY {sql}){condition}",
            params,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        _register_sqlite_functions(connection)
        sql, params = compiler.compile(self.get_source_expressions()[0])
        if self.filter is not None:
            filter_sql, filter_params = compiler.compile(self.filter)
            sql, params = f"CASE WHEN {filter_sql} THEN {sql} END", (*filter_params, *params)
        return f"redress_percentiles({sql}, '{self._array()}')", params

    def as_sql(self, compiler, connection, **extra_context):
        raise NotImplementedError("Percentiles need PostgreSQL or SQLite.")


class LocalDayNumber(Func):
    """Days from 1900-01-01 to the local date of an instant in a time zone (a zone name or
    an expression giving one per row)."""

    output_field = IntegerField()
    arity = 2

    def as_postgresql(self, compiler, connection, **extra_context):
        instant, zone = (compiler.compile(e) for e in self.get_source_expressions())
        return (
            f"((({instant[0]}) AT TIME ZONE ({zone[0]}))::date - DATE '{DAY_ZERO.isoformat()}')",
            (*instant[1], *zone[1]),
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        _register_sqlite_functions(connection)
        instant, zone = (compiler.compile(e) for e in self.get_source_expressions())
        return f"redress_local_day({instant[0]}, {zone[0]})", (*instant[1], *zone[1])


class BusinessDaysAfter(Func):
    """Monday-to-Friday days strictly after the first day number and up to the second.

    With ``W(d)`` the weekdays in ``[0, d)`` — ``5 * (d / 7) + min(d % 7, 5)`` in integer
    arithmetic — the days in ``(a, b]`` are ``W(b + 1) - W(a + 1)``: a complaint received on
    a Friday and resolved the next Wednesday took 3 business days, one received on Saturday
    and resolved on Monday took 1, one resolved the day it came took 0. Public holidays are
    not subtracted (see docs/insights.md).
    """

    output_field = IntegerField()
    arity = 2

    def as_sql(self, compiler, connection, **extra_context):
        (first, first_params), (last, last_params) = (
            compiler.compile(e) for e in self.get_source_expressions()
        )
        least = "LEAST" if connection.vendor != "sqlite" else "MIN"

        def weekdays_before(day: str) -> str:
            shifted = f"(({day}) + 1)"
            return f"(5 * ({shifted} / 7) + {least}({shifted} %% 7, 5))"

        # Each day number appears twice in the formula, so its parameters do too.
        return (
            f"({weekdays_before(last)} - {weekdays_before(first)})",
            (*last_params, *last_params, *first_params, *first_params),
        )


class WeeksSince(Func):
    """Whole weeks from an instant to another, rounded down: week 0 starts at the origin,
    week -1 is the week before it."""

    output_field = IntegerField()
    arity = 2

    def as_postgresql(self, compiler, connection, **extra_context):
        instant, origin = (compiler.compile(e) for e in self.get_source_expressions())
        return (
            f"floor(extract(epoch FROM ({instant[0]}) - ({origin[0]})) / {WEEK_SECONDS})::int",
            (*instant[1], *origin[1]),
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        _register_sqlite_functions(connection)
        instant, origin = (compiler.compile(e) for e in self.get_source_expressions())
        return f"redress_weeks_since({instant[0]}, {origin[0]})", (*instant[1], *origin[1])


# -- SQLite ---------------------------------------------------------------------------------


class _SqlitePercentiles:
    """The aggregate behind ``Percentiles`` on SQLite: PostgreSQL's ``percentile_cont``."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fractions = "0.5"

    def step(self, value, fractions) -> None:
        self.fractions = fractions
        if value is not None:
            self.values.append(value)

    def finalize(self):
        fractions = [float(f) for f in self.fractions.split(",")]
        if not self.values:
            return json.dumps([None] * len(fractions))
        ordered = sorted(self.values)
        results = []
        for fraction in fractions:
            # percentile_cont: interpolate between the two closest ranks.
            position = fraction * (len(ordered) - 1)
            below = int(position)
            above = min(below + 1, len(ordered) - 1)
            results.append(
                float(ordered[below] + (position - below) * (ordered[above] - ordered[below]))
            )
        return json.dumps(results)


def _sqlite_instant(value) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _sqlite_local_day(value, zone):
    instant = _sqlite_instant(value)
    if instant is None:
        return None
    return (instant.astimezone(ZoneInfo(zone)).date() - DAY_ZERO).days


def _sqlite_weeks_since(value, origin):
    instant, start = _sqlite_instant(value), _sqlite_instant(origin)
    if instant is None or start is None:
        return None
    return int((instant - start).total_seconds() // WEEK_SECONDS)


def _register_sqlite_functions(connection) -> None:
    # Registering again on each compile costs microseconds and needs no bookkeeping of
    # which connections already have them (sqlite3 connections take no attributes).
    connection.ensure_connection()
    raw = connection.connection
    raw.create_aggregate("redress_percentiles", 2, _SqlitePercentiles)
    raw.create_function("redress_local_day", 2, _sqlite_local_day, deterministic=True)
    raw.create_function("redress_weeks_since", 2, _sqlite_weeks_since, deterministic=True)
