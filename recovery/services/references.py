"""Human-friendly complaint references: RDR-<year>-<number>, numbered per year."""

from datetime import datetime

from django.db import connection, transaction
from django.db.models import QuerySet

from recovery.models import ReferenceCounter

PREFIX = "RDR"


def format_reference(year: int, number: int) -> str:
    return f"{PREFIX}-{year}-{number:06d}"


def allocate_reference(received_at: datetime) -> str:
    """Take the next number of the year: one ``UPDATE … RETURNING``, its own transaction.

    Called outside the intake transaction, in autocommit, so concurrent intakes hold the
    counter row only for that one statement, not for the whole intake, and it costs one
    round trip (no BEGIN/COMMIT around it). The year's row is created the first time it
    is missing. A failed intake leaves a gap in the numbering, the same trade-off a
    database sequence makes.
    """
    year = received_at.year
    number = _next_number(year)
    if number is None:
        ReferenceCounter.objects.bulk_create(
            [ReferenceCounter(year=year, last_number=0)], ignore_conflicts=True
        )
        number = _next_number(year)
    return format_reference(year, number)


def allocate_reference_unless(received_at: datetime, found: QuerySet) -> str | None:
    """``allocate_reference``, unless ``found`` finds a row: then no number is taken, in
    the same statement (``UPDATE … WHERE NOT EXISTS (…)``), and None is returned.

    Intake asks it with the idempotency key a request names: a new request costs one round
    trip, not a look-up of its key and then the counter's. None also when the year has no
    counter row yet (the caller looks its key up, then calls ``allocate_reference``).
    """
    number = _next_number(received_at.year, unless=found)
    return None if number is None else format_reference(received_at.year, number)


def _next_number(year: int, *, unless: QuerySet | None = None) -> int | None:
    table = connection.ops.quote_name(ReferenceCounter._meta.db_table)
    condition, params = "", [year]
    if unless is not None:
        subquery, subquery_params = unless.values("pk").query.sql_with_params()
        condition = f" AND NOT EXISTS ({subquery})"
        params += list(subquery_params)
    with connection.cursor() as cursor:
        # UPDATE ... RETURNING is atomic in PostgreSQL and SQLite >= 3.35 alike.
        cursor.execute(
            f"UPDATE {table} SET last_number = last_number + 1 "  # noqa: S608
            f"WHERE year = %s{condition} RETURNING last_number",
            params,
        )
        row = cursor.fetchone()
    return row[0] if row else None


def allocate_reference_block(*, year: int, count: int) -> list[str]:
    """Take ``count`` consecutive numbers of ``year`` with one UPDATE (imports, in batches).

    Like ``allocate_reference``, in its own short transaction (a savepoint when the caller
    already has one): a batch that fails afterwards leaves a gap, never a duplicate.
    """
    if count < 1:
        return []
    table = connection.ops.quote_name(ReferenceCounter._meta.db_table)
    with transaction.atomic():
        ReferenceCounter.objects.bulk_create(
            [ReferenceCounter(year=year, last_number=0)], ignore_conflicts=True
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET last_number = last_number + %s "  # noqa: S608
                "WHERE year = %s RETURNING last_number",
                [count, year],
            )
            (last,) = cursor.fetchone()
    return [format_reference(year, number) for number in range(last - count + 1, last + 1)]
