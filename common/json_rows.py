"""A to-many relation read in its parent's own row, as one JSON array (PostgreSQL).

An answer that shows a few small relations of one row (a complaint's escalations, its root
causes) read them with a statement each. Brought along in the row's query as
``ARRAY(SELECT jsonb_build_object(…) … ORDER BY …)``, they cost none: ``json_rows`` builds
that expression from a correlated queryset, and ``instance`` turns each object back into a
model instance.
"""

from django.contrib.postgres.expressions import ArraySubquery
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models.functions import JSONObject


def json_rows(queryset: models.QuerySet, **fields: str) -> ArraySubquery:
    """``queryset`` (filtered on an ``OuterRef``, ordered) as an array of JSON objects, each
    with ``fields`` (the object's keys, each given the lookup it takes its value from)."""
    return ArraySubquery(queryset.values(row=JSONObject(**fields)))


def instance(model: type[models.Model], row: dict, db: str = DEFAULT_DB_ALIAS) -> models.Model:
    """An instance of ``model`` from the values in ``row`` keyed by field attname (other
    keys are ignored), as the database would have given it.

    Each value goes through its field's ``to_python``: JSON carries instants as ISO text.
    The fields ``row`` lacks are deferred, as ``QuerySet.only()`` leaves them: reading one
    loads it.
    """
    names, values = [], []
    for field in model._meta.concrete_fields:
        if field.attname in row:
            names.append(field.attname)
            values.append(field.to_python(row[field.attname]))
    return model.from_db(db, names, values)
