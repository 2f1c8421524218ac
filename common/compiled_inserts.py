"""INSERTs of new model instances whose SQL Django builds once per process.

``Model.objects.create()`` and ``bulk_create()`` compile a new ``InsertQuery`` for every row
they write: the field list, the quoting, ``pre_save`` and ``get_db_prep_save`` of every
field through the compiler's generic path. A new complaint writes five rows that way (the
complaint, its customer, its original message, its first clocks, its idempotency key), and
that compiling was a sixth of the whole request's CPU. A ``CompiledInsert`` writes the same
row with the same values: the statement is built once per model and row count, and only
the values are worked out per row, the plain ones (a ``str`` for a text column, an aware
``datetime`` for a timestamp) passed on as ``get_db_prep_save`` would pass them.

What ``save()`` does around an INSERT is kept: ``pre_save``/``post_save`` are sent, an
unsaved related object is refused, a failure marks the transaction for rollback, the
instance is marked saved (django-fsm's record of the saved state included). On PostgreSQL
the values are bound by the server (``compiled_queries.server_binding_cursor``), so a
statement run often is prepared once per connection; elsewhere Django's own methods serve.

``extra_columns`` (PostgreSQL only): columns the model does not declare, written in the same
INSERT, ``{column: (SQL expression with one %s, function of the instance giving its value)}``
(a new complaint's ``message_document``). Where Django's own INSERT serves, they are not
written: whatever keeps them otherwise (a trigger) must still be right without them.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import connections, models, transaction
from django.db.models.signals import post_save, pre_save

from common.compiled_queries import server_binding_cursor

# The field classes whose ``get_db_prep_save`` hands a value of these exact types to the
# driver unchanged on PostgreSQL (``None`` too), when a subclass changes none of the methods
# that prepare it. Anything else (a JSON document, a str enum, a naive datetime, an
# expression) goes through the field's own ``get_db_prep_save``.
_PASSED_AS_IS = {
    models.AutoField: (int,),
    models.BigAutoField: (int,),
    models.CharField: (str,),
    models.TextField: (str,),
    models.BooleanField: (bool,),
    models.IntegerField: (int,),
    models.FloatField: (float,),
    models.DateField: (date,),
    models.DateTimeField: (datetime,),
}
_PREPARING_METHODS = ("get_db_prep_save", "get_db_prep_value", "get_prep_value", "to_python")


def _passed_as_is(field) -> tuple | None:
    """The value types ``field`` stores as they are, or None if it prepares every value."""
    if field.is_relation:
        same = type(field).get_db_prep_save is models.ForeignKey.get_db_prep_save
        return _passed_as_is(field.target_field) if same and field.concrete else None
    for base in type(field).__mro__:
        kinds = _PASSED_AS_IS.get(base)
        if kinds is not None:
            same = all(
                getattr(type(field), name) is getattr(base, name) for name in _PREPARING_METHODS
            )
            return kinds if same else None
    return None


def _needs_pre_save(field) -> bool:
    """Whether ``field.pre_save`` may give other than the instance's attribute."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return True
    return type(field).pre_save not in (
        models.Field.pre_save,
        models.DateField.pre_save,
        models.DateTimeField.pre_save,
    )


class _Columns:
    """What one model's INSERT writes, worked out once: its fields, how each value is
    prepared, and the statement for each number of rows."""

    __slots__ = (
        "by_rows",
        "columns",
        "extra",
        "fields",
        "kinds",
        "pre_saved",
        "quote",
        "returning",
        "table",
    )

    def __init__(self, model, connection, extra: dict):
        meta = model._meta
        # What Model._save_table inserts for a new row with no primary key set.
        self.fields = [
            field
            for field in meta.local_concrete_fields
            if not field.generated and field is not meta.auto_field
        ]
        self.kinds = [_passed_as_is(field) for field in self.fields]
        self.pre_saved = [_needs_pre_save(field) for field in self.fields]
        self.returning = list(meta.db_returning_fields)
        self.quote = quote = connection.ops.quote_name
        self.table = quote(meta.db_table)
        self.extra = list(extra.values())
        self.columns = ", ".join(
            [quote(field.column) for field in self.fields] + [quote(column) for column in extra]
        )
        self.by_rows: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        statement = self.by_rows.get(rows)
        if statement is None:
            placeholders = ["%s"] * len(self.fields) + [sql for sql, _value in self.extra]
            row = "(" + ", ".join(placeholders) + ")"
            returning = ", ".join(
                f"{self.table}.{self.quote(field.column)}" for field in self.returning
            )
            statement = self.by_rows[rows] = (
                f"INSERT INTO {self.table} ({self.columns}) "  # noqa: S608
                f"VALUES {', '.join([row] * rows)} RETURNING {returning}"
            )
        return statement

    def values(self, obj, connection) -> list | None:
        """The row's values as ``save()`` would send them; None if one is an expression
        (Django's own INSERT must place it)."""
        values = []
        for field, kinds, pre_saved in zip(self.fields, self.kinds, self.pre_saved, strict=True):
            value = field.pre_save(obj, True) if pre_saved else getattr(obj, field.attname)
            if kinds is not None and (value is None or type(value) in kinds):
                if type(value) is datetime and value.tzinfo is None:
                    value = field.get_db_prep_save(value, connection)  # warns, as Django does
                values.append(value)
                continue
            if hasattr(value, "resolve_expression"):
                return None
            values.append(field.get_db_prep_save(value, connection))
        values.extend(value_of(obj) for _sql, value_of in self.extra)
        return values


class CompiledInsert:
    """``COMPLAINTS = CompiledInsert(Complaint)``: ``COMPLAINTS.create(**fields)`` is
    ``Complaint.objects.create(**fields)``, ``COMPLAINTS.bulk_create(objs)`` is
    ``Complaint.objects.bulk_create(objs)`` of new instances (one statement, the primary keys
    set, no signals, as Django's)."""

    def __init__(self, model: type[models.Model], *, extra_columns: dict | None = None):
        self.model = model
        self.extra_columns = extra_columns or {}
        self._columns: dict[str, _Columns] = {}

    def create(self, using: str = "default", **fields) -> models.Model:
        return self.insert(self.model(**fields), using=using)

    def insert(self, obj: models.Model, using: str = "default") -> models.Model:
        """Write the new instance ``obj`` as ``obj.save(force_insert=True)`` would."""
        if obj.pk is not None or connections[using].vendor != "postgresql":
            obj.save(force_insert=True, using=using)
            return obj
        obj._prepare_related_fields_for_save(operation_name="save")
        pre_save.send(sender=self.model, instance=obj, raw=False, using=using, update_fields=None)
        self._insert([obj], using)
        # django-fsm's record of the state as saved (ConcurrentTransitionMixin.save).
        remember_saved_state = getattr(obj, "_update_initial_state", None)
        if remember_saved_state is not None:
            remember_saved_state()
        post_save.send(
            sender=self.model,
            instance=obj,
            created=True,
            update_fields=None,
            raw=False,
            using=using,
        )
        return obj

    def bulk_create(self, objs: list, using: str = "default") -> list:
        if (
            not objs
            or connections[using].vendor != "postgresql"
            or any(obj.pk is not None for obj in objs)
        ):
            return self.model.objects.using(using).bulk_create(objs)
        for obj in objs:
            obj._prepare_related_fields_for_save(operation_name="bulk_create")
        return self._insert(objs, using)

    def _insert(self, objs: list, using: str) -> list:
        connection = connections[using]
        columns = self._columns.get(using)
        if columns is None:
            columns = self._columns[using] = _Columns(self.model, connection, self.extra_columns)
        params = []
        for obj in objs:
            values = columns.values(obj, connection)
            if values is None:
                params = None
                break
            params.extend(values)
        with transaction.mark_for_rollback_on_error(using):
            if params is None:
                # A value is an expression: Django's compiler places it (without the extra
                # columns).
                returned = self.model._base_manager.using(using)._insert(
                    objs, fields=columns.fields, returning_fields=columns.returning, using=using
                )
            else:
                sql = columns.sql(len(objs))
                with server_binding_cursor(connection) as cursor:
                    cursor.execute(sql, params)
                    returned = cursor.fetchall()
                if connection.queries_logged:
                    # As compiled_queries logs a prepared statement's run: with its values.
                    connection.queries_log[-1]["sql"] = connection.ops.compose_sql(sql, params)
        for obj, row in zip(objs, returned, strict=True):
            for field, value in zip(columns.returning, row, strict=True):
                setattr(obj, field.attname, value)
            obj._state.adding = False
            obj._state.db = using
        return objs
