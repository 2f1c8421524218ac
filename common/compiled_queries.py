"""Hot reads whose SQL Django builds once per process, not on every request.

Building a queryset's SQL (joins, annotations, ``only()``) costs Django more CPU than the
database spends answering a one-row read: for an API request, each of its few statements
took a millisecond or more to compile. A ``CompiledQuery`` compiles its queryset once, with
marker values where the parameters go, and then sends the same SQL with each run's values,
turning the rows into instances as Django's ``ModelIterable`` does (``select_related``
objects, deferred fields and annotations included).

Only for querysets whose SQL does not depend on the values (exact lookups on a column, no
``__in`` lists whose length varies): each marker must appear among the compiled parameters
as given, which ``compile`` checks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import ModelIterable, ValuesIterable, get_related_populators

# Marker values unlikely to occur in any other parameter of a compiled query.
_MARKER_INTS = itertools.count(-7_919_000_000_001, -1)


class _Compiled:
    __slots__ = (
        "annotations",
        "converters",
        "init_list",
        "model",
        "params",
        "populators",
        "positions",
        "sql",
    )

    def __init__(self, queryset: QuerySet, markers: dict, using: str):
        if queryset._iterable_class not in (ModelIterable, ValuesIterable):
            raise ValueError("Only querysets of instances or of values() can be compiled.")
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        positions = {}
        for name, marker in markers.items():
            found = [index for index, param in enumerate(params) if param == marker]
            if not found:
                raise ValueError(f"Parameter {name!r} is not among the compiled query's.")
            positions[name] = found
        self.sql, self.params, self.positions = sql, list(params), positions
        select, klass_info = compiler.select, compiler.klass_info
        columns = [expression for expression, _, _ in select[: compiler.col_count]]
        if compiler.has_composite_fields(columns):
            raise ValueError("Composite fields are not supported.")
        # Each converter is given the connection when it runs, so the converters found
        # once serve every thread's connection.
        self.converters = tuple(compiler.get_converters(columns).items())
        self.annotations = tuple(compiler.annotation_col_map.items())
        if queryset._iterable_class is ValuesIterable:  # dicts, as values() gives them
            query = queryset.query
            self.model, self.populators = None, ()
            self.init_list = [*query.extra_select, *query.values_select, *query.annotation_select]
            return
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        self.init_list = (start, end, [f[0].target.attname for f in select[start:end]])
        self.populators = get_related_populators(klass_info, select, using)
        self.model = klass_info["model"]


class CompiledQuery:
    """``CompiledQuery(lambda key: AuthToken.objects.filter(token_key=key), key=str)``;
    ``query.run(key="…")`` is the list the queryset would give for that key (instances, or
    dicts for a ``values()`` queryset)."""

    def __init__(self, build: Callable[..., QuerySet], **parameters: type):
        self._build = build
        self._types = parameters
        self._compiled: dict[str, _Compiled] = {}

    def _markers(self) -> dict:
        return {
            name: next(_MARKER_INTS) if kind is int else f"\x1fmarker:{name}\x1f"
            for name, kind in self._types.items()
        }

    def compiled(self, using: str = "default") -> _Compiled:
        compiled = self._compiled.get(using)
        if compiled is None:
            markers = self._markers()
            queryset = self._build(**markers)
            compiled = self._compiled[using] = _Compiled(queryset, markers, queryset.db)
        return compiled

    def run(self, using: str = "default", **values) -> list:
        compiled = self.compiled(using)
        params = list(compiled.params)
        for name, positions in compiled.positions.items():
            for position in positions:
                params[position] = values[name]
        connection = connections[using]
        with server_binding_cursor(connection) as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if connection.queries_logged and connection.vendor == "postgresql":
            # A prepared statement's run leaves psycopg no text to log: log the SQL with its
            # values, as Django logs its own statements.
            connection.queries_log[-1]["sql"] = connection.ops.compose_sql(compiled.sql, params)
        if compiled.converters:
            rows = _converted(rows, compiled.converters, connection)
        if compiled.model is None:
            names = compiled.init_list
            return [dict(zip(names, row, strict=True)) for row in rows]
        start, end, init_list = compiled.init_list
        objects = []
        for row in rows:
            obj = compiled.model.from_db(using, init_list, row[start:end])
            for populator in compiled.populators:
                populator.populate(row, obj)
            for name, position in compiled.annotations:
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects


def server_binding_cursor(connection):
    """A cursor that sends the values apart from the SQL on PostgreSQL (server-side binding).

    Django's cursors bind on the client, so each run is new SQL to the server, planned anew:
    planning the complaint's read (a dozen joins) took ten times longer than running it. With
    the values sent apart, psycopg prepares a statement it has run a few times on a
    connection, and the pooled connections keep the plan (``prepare_threshold`` in the
    connection's options; None turns this off, e.g. behind a PgBouncer that cannot keep
    prepared statements). The cursor is wrapped as ``connection.cursor()`` wraps its own, so
    the statements are logged and counted the same way.
    """
    if connection.vendor != "postgresql":
        return connection.cursor()
    from django.db.backends.postgresql.base import (
        TIMESTAMPTZ_OID,
        Format,
        ServerBindingCursor,
        register_tzloader,
    )

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = ServerBindingCursor(connection.connection)
        # As Django's own cursors: timestamps read in the connection's time zone.
        loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        if connection.timezone != loader.timezone:
            register_tzloader(connection.timezone, cursor)
        return connection._prepare_cursor(cursor)


def _converted(rows, converters, connection) -> list:
    """What ``SQLCompiler.apply_converters`` does to ``rows``, with the converters found once."""
    converted = []
    for row in rows:
        row = list(row)
        for position, (functions, expression) in converters:
            value = row[position]
            for function in functions:
                value = function(value, expression, connection)
            row[position] = value
        converted.append(row)
    return converted
