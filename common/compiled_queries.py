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
from django.db.models import F, Func, Model, QuerySet
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query import ModelIterable, ValuesIterable, get_related_populators
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

# Marker values unlikely to occur in any other parameter of a compiled query, and within a
# 32-bit integer column's range (Django compiles an out-of-range value to "no rows").
_MARKER_INTS = itertools.count(-2_147_000_001, -1)


def count_row(queryset: QuerySet) -> QuerySet:
    """``queryset``'s count as a ``values()`` read of one row, ``{"n": …}``: a query that can
    be compiled (``CompiledQuery``) or brought along in another's row (``Subquery``)."""
    return queryset.order_by().values(n=Func(F("pk"), function="COUNT"))


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
        make = _maker(compiled.model)
        populators = [(populator, _maker(populator.model_cls)) for populator in compiled.populators]
        objects = []
        for row in rows:
            obj = make(using, init_list, row[start:end])
            for populator, make_related in populators:
                _populate(populator, make_related, row, obj)
            for name, position in compiled.annotations:
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects


def _maker(model):
    """``model.from_db``, or a function that makes the same instance for a fraction of its
    cost where ``Model.__init__`` would only store the values (``_plainly_made``): a
    complaint's detail made two hundred instances (its timeline, messages and their
    authors), and ``__init__`` was the biggest part of the read's CPU."""
    if not _plainly_made(model) or pre_init.has_listeners(model) or post_init.has_listeners(model):
        return model.from_db
    maker = _MAKERS.get(model)
    if maker is None:
        maker = _MAKERS[model] = _made_plainly(model)
    return maker


_MAKERS: dict[type, object] = {}


def _made_plainly(model):
    """What ``model.from_db`` gives for a model that ``_plainly_made`` accepts: the instance's
    state first, then each fetched field's value in its ``__dict__``, in the order ``__init__``
    sets them (the row's); the fields not fetched are deferred (absent)."""
    new = model.__new__

    def make(db, init_list, values):
        obj = new(model)
        state = ModelState()
        state.adding = False
        state.db = db
        attributes = obj.__dict__
        attributes["_state"] = state
        attributes.update(zip(init_list, values, strict=True))
        return obj

    return make


_PLAIN: dict[type, bool] = {}


def _plainly_made(model) -> bool:
    """Whether ``Model.__init__`` would only store a fetched row's values on an instance of
    ``model``: its own ``__init__`` and ``from_db`` are Django's, and setting each field's
    attribute puts the value in the instance's ``__dict__`` (on a new instance, the descriptor
    of a foreign key's id does no more). Signals are checked on each read, not here."""
    plain = _PLAIN.get(model)
    if plain is None:
        plain = _PLAIN[model] = (
            model.__init__ is Model.__init__ and model.from_db.__func__ is Model.from_db.__func__
        ) and all(
            type(model.__dict__.get(field.attname, None) or getattr(model, field.attname, None))
            in (DeferredAttribute, ForeignKeyDeferredAttribute)
            for field in model._meta.concrete_fields
        )
    return plain


def _populate(populator, make, row, from_obj) -> None:
    """``RelatedPopulator.populate`` with the related instance made by ``make``."""
    if populator.reorder_for_init:
        obj_data = populator.reorder_for_init(row)
    else:
        obj_data = row[populator.cols_start : populator.cols_end]
    if obj_data[populator.pk_idx] is None:
        obj = None
    else:
        obj = make(populator.db, populator.init_list, obj_data)
        for related in populator.related_populators:
            _populate(related, _maker(related.model_cls), row, obj)
    populator.local_setter(from_obj, obj)
    if obj is not None:
        populator.remote_setter(obj, from_obj)


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
    from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, Format, register_tzloader

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = _cursor_class()(connection.connection)
        # As Django's own cursors: timestamps read in the connection's time zone.
        loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        if connection.timezone != loader.timezone:
            register_tzloader(connection.timezone, cursor)
        return connection._prepare_cursor(cursor)


_CURSOR_CLASS: list = []


def _cursor_class():
    """Django's server-binding cursor, keeping psycopg's parse of every statement it sends.

    psycopg parses a statement's placeholders on each run, and keeps the parse only of
    statements under 4,096 characters and 50 parameters (an ORM's one-off SQL, it reasons):
    the complaint's read and a new complaint's clocks are longer, and their parse cost the
    API's detail a tenth of its CPU. These statements are few and the same on every run (each
    compiled once per process), so each is parsed once; psycopg's cache of parses is the
    same bounded one (``_queries._query2pg``).
    """
    if not _CURSOR_CLASS:
        from django.db.backends.postgresql.base import ServerBindingCursor
        from psycopg import _queries

        class ParsedOnce(_queries.PostgresQuery):
            def convert(self, query, vars):
                if vars is None or not isinstance(query, str | bytes):
                    return super().convert(query, vars)
                parsed = _queries._query2pg(self._ensure_bytes(query), self._tx.encoding)
                self.query, self._want_formats, self._order, self._parts = parsed
                self.dump(vars)
                return None

        class Cursor(ServerBindingCursor):
            _query_cls = ParsedOnce

        _CURSOR_CLASS.append(Cursor)
    return _CURSOR_CLASS[0]


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
