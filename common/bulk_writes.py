"""Batch INSERT and UPDATE for the hot paths of every app (the sweeper, outbox delivery).

On PostgreSQL a batch travels as ONE jsonb parameter expanded by ``jsonb_to_recordset``
(inserts) or as one array per column expanded by ``unnest`` (updates):
- Django's ``bulk_create`` also sends one array per column, and psycopg escapes every
  quote of every JSON value into those arrays with a regular expression: with two JSON
  columns per timeline event and outbox row that escaping was most of a sweep's time;
- Django's ``bulk_update`` writes ``CASE WHEN id = … THEN …`` with a branch per row for each
  field, which PostgreSQL evaluates row by row: quadratic in the batch.
Elsewhere (SQLite, the embedded mode, a handful of rows) Django's own bulk methods are used.
"""

import json
import sqlite3
from datetime import datetime
from functools import partial

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from psycopg.types.json import Jsonb


class _ExactEncoder(DjangoJSONEncoder):
    """Django's encoder, but datetimes keep their microseconds (it cuts them to ms)."""

    def default(self, o):
        if isinstance(o, datetime):
            return o.isoformat()
        return super().default(o)


_dumps = partial(json.dumps, cls=_ExactEncoder, separators=(",", ":"))


def as_stored_json(value):
    """``value`` as a ``jsonb`` column written by these functions gives it back: through
    the same encoder, and each object's keys in jsonb's order (shorter keys first, then by
    their UTF-8 bytes). A writer that keeps what it wrote need not read it back."""
    return _jsonb_ordered(json.loads(_dumps(value)))


def _jsonb_ordered(value):
    if isinstance(value, dict):
        return {
            key: _jsonb_ordered(value[key])
            for key in sorted(value, key=lambda key: (len(key.encode()), key.encode()))
        }
    if isinstance(value, list):
        return [_jsonb_ordered(item) for item in value]
    return value


def sqlite_variable_limit(sender, connection, **kwargs) -> None:
    """On ``connection_created``: let SQLite batches be as big as this SQLite allows.

    Django 5.2 assumes SQLite's pre-3.32 limit of 999 parameters per statement, so a batch
    of 500 timeline events went in as eight INSERTs; SQLite since 3.32 allows 32,766 and
    Debian's build 250,000. Django 6.0 reads the limit the same way (ticket #36143).
    """
    if connection.vendor == "sqlite":
        connection.features.max_query_params = connection.connection.getlimit(
            sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER
        )


def insert_rows(model: type[models.Model], rows: list[dict]) -> list[int]:
    """INSERT ``rows`` (dicts keyed by attribute name; missing fields take their defaults).

    Returns the new primary keys in order. The hot paths (sweeper, outbox) use this rather
    than building a model instance per row: ``Model.__init__`` was a third of a sweep's CPU.
    """
    fields, complete = _complete(model, rows)
    if connection.vendor != "postgresql" or len(rows) < 2:
        objs = model.objects.bulk_create([model(**row) for row in complete])
        return [obj.pk for obj in objs]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    statement = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "  # noqa: S608
        f"SELECT {columns} FROM jsonb_to_recordset(%s) AS r({_definition(fields)}) "
        f"RETURNING {quote(model._meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [Jsonb(_by_column(fields, complete), dumps=_dumps)])
        # PostgreSQL returns the rows of INSERT … SELECT in the order they were selected,
        # which is the document's order (Django's bulk_create relies on the same).
        return [row[0] for row in cursor.fetchall()]


def _complete(model: type[models.Model], rows: list[dict]) -> tuple[list, list[dict]]:
    """The fields an INSERT writes, and ``rows`` with the defaults of the fields they lack."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    # A callable default (timezone.now, dict) is called per row; any other is computed once,
    # because get_default() itself is slow (a foreign key's checks its type every call).
    per_row = {f.attname: f.get_default for f in fields if f.has_default() and callable(f.default)}
    constant = {f.attname: f.get_default() for f in fields if f.attname not in per_row}
    complete = []
    for row in rows:
        full = dict(constant)
        full.update((name, default()) for name, default in per_row.items() if name not in row)
        full.update(row)
        complete.append(full)
    return fields, complete


def _definition(fields) -> str:
    quote = connection.ops.quote_name
    return ", ".join(f"{quote(field.column)} {field.db_type(connection)}" for field in fields)


def _by_column(fields, complete: list[dict]) -> list[dict]:
    # jsonb_to_recordset matches keys to column names; attname and column differ only when
    # a field sets db_column, so rename those keys.
    renamed = [(field.attname, field.column) for field in fields if field.attname != field.column]
    if renamed:
        for row in complete:
            for attname, column in renamed:
                row[column] = row.pop(attname)
    return complete


def insert_rows_with_children(
    model: type[models.Model],
    rows: list[dict],
    child: type[models.Model],
    child_rows: list[dict],
    *,
    linked: dict[str, str],
) -> tuple[list[int], list[int]]:
    """INSERT ``rows`` of ``model`` and ``child_rows`` of ``child`` in ONE statement
    (PostgreSQL only): the i-th child row belongs to the i-th new row, and ``linked`` says
    how a child column takes its row's new id, as SQL in which ``{value}`` stands for the
    child row's own value and ``{id}`` for the new id (``"{value} || {id}"``).

    Returns the new primary keys of each model, in order. Each timeline event and its outbox
    row took two round trips; one data-modifying CTE does both:
    1. insert the rows, as ``insert_rows`` does;
    2. number the new ids: they rise in the order the rows were selected (the document's);
    3. insert the child rows joined to their row's number, in the document's order.
    """
    fields, complete = _complete(model, rows)
    child_fields, child_complete = _complete(child, child_rows)
    for position, row in enumerate(child_complete):
        row["position"] = position
    quote = connection.ops.quote_name
    pk = quote(model._meta.pk.column)
    columns = ", ".join(quote(field.column) for field in fields)
    child_columns = [quote(field.column) for field in child_fields]
    selected = ", ".join(
        linked[field.attname].replace("{value}", f"c.{column}").replace("{id}", f"n.{pk}")
        if field.attname in linked
        else f"c.{column}"
        for field, column in zip(child_fields, child_columns, strict=True)
    )
    statement = (
        f"WITH parent AS (INSERT INTO {quote(model._meta.db_table)} ({columns}) "  # noqa: S608
        f"  SELECT {columns} FROM jsonb_to_recordset(%s) AS r({_definition(fields)}) "
        f"  RETURNING {pk}), "
        f"numbered AS (SELECT {pk}, row_number() OVER (ORDER BY {pk}) - 1 AS position "
        "  FROM parent), "
        f"children AS (INSERT INTO {quote(child._meta.db_table)} ({', '.join(child_columns)}) "
        f"  SELECT {selected} FROM jsonb_to_recordset(%s) "
        f"  AS c({_definition(child_fields)}, position bigint) "
        "  JOIN numbered AS n ON n.position = c.position ORDER BY c.position "
        f"  RETURNING {quote(child._meta.pk.column)} AS id) "
        f"SELECT (SELECT array_agg({pk} ORDER BY {pk}) FROM parent), "
        "(SELECT array_agg(id ORDER BY id) FROM children)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            statement,
            [
                Jsonb(_by_column(fields, complete), dumps=_dumps),
                Jsonb(_by_column(child_fields, child_complete), dumps=_dumps),
            ],
        )
        ids, child_ids = cursor.fetchone()
    return ids or [], child_ids or []


def insert_many(model: type[models.Model], objs: list) -> list:
    """INSERT ``objs`` (unsaved instances, every concrete field); sets their primary keys."""
    if connection.vendor != "postgresql" or len(objs) < 2:
        return model.objects.bulk_create(objs)
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    keys = insert_rows(
        model, [{field.attname: getattr(obj, field.attname) for field in fields} for obj in objs]
    )
    for obj, key in zip(objs, keys, strict=True):
        obj.pk = key
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs


def update_many(model: type[models.Model], objs: list, field_names: list[str]) -> None:
    """UPDATE ``field_names`` of saved ``objs`` in one statement."""
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, field_names)
        return
    fields = [model._meta.pk, *(model._meta.get_field(name) for name in field_names)]
    quote = connection.ops.quote_name
    arrays = ", ".join(f"%s::{field.cast_db_type(connection)}[]" for field in fields)
    columns = [quote(field.column) for field in fields]
    assignments = ", ".join(f"{column} = v.{column}" for column in columns[1:])
    statement = (
        f"UPDATE {quote(model._meta.db_table)} AS t SET {assignments} "  # noqa: S608
        f"FROM unnest({arrays}) AS v({', '.join(columns)}) WHERE t.{columns[0]} = v.{columns[0]}"
    )
    params = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs]
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
