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
    if connection.vendor != "postgresql" or len(rows) < 2:
        objs = model.objects.bulk_create([model(**row) for row in complete])
        return [obj.pk for obj in objs]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    definition = ", ".join(f"{quote(field.column)} {field.db_type(connection)}" for field in fields)
    statement = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "  # noqa: S608
        f"SELECT {columns} FROM jsonb_to_recordset(%s) AS r({definition}) "
        f"RETURNING {quote(model._meta.pk.column)}"
    )
    # jsonb_to_recordset matches keys to column names; attname and column differ only when
    # a field sets db_column, so rename those keys.
    renamed = [(field.attname, field.column) for field in fields if field.attname != field.column]
    if renamed:
        for row in complete:
            for attname, column in renamed:
                row[column] = row.pop(attname)
    with connection.cursor() as cursor:
        cursor.execute(statement, [Jsonb(complete, dumps=_dumps)])
        # PostgreSQL returns the rows of INSERT … SELECT in the order they were selected,
        # which is the document's order (Django's bulk_create relies on the same).
        return [row[0] for row in cursor.fetchall()]


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
