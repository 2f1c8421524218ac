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

import copy
import itertools
from collections.abc import Callable

from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import ModelIterable, ValuesIterable, get_related_populators

# Marker values unlikely to occur in any other parameter of a compiled query.
_MARKER_INTS = itertools.count(-7_919_000_000_001, -1)


class _Compiled:
    __slots__ = ("compiler", "init_list", "model", "params", "populators", "positions", "sql")

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
        self.compiler = compiler
        select, klass_info = compiler.select, compiler.klass_info
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
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        # The compiler knows the converters of each column; this thread's connection runs them.
        compiler = copy.copy(compiled.compiler)
        compiler.connection = connection
        if compiled.model is None:
            names = compiled.init_list
            return [dict(zip(names, row, strict=True)) for row in compiler.results_iter([rows])]
        start, end, init_list = compiled.init_list
        annotations = compiler.annotation_col_map
        objects = []
        for row in compiler.results_iter([rows]):
            obj = compiled.model.from_db(using, init_list, row[start:end])
            for populator in compiled.populators:
                populator.populate(row, obj)
            for name, position in annotations.items():
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects
