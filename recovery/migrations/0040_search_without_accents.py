"""The queue's search, whatever the accents: a customer's name is matched through
``redress_unaccent(UPPER(name))`` ("zoe" and "ZOE" find Zoë), with its trigram index.
PostgreSQL only (SQLite, the embedded mode, folds in Python: ``redress_fold``).

``unaccent`` is an extension shipped with PostgreSQL (contrib); like ``pg_trgm`` it needs a
role that may create extensions (docs/operations.md). Its function is not IMMUTABLE (it
reads the dictionary named in the search path), so an index cannot use it: the wrapper names
the dictionary and is declared immutable, as PostgreSQL's documentation suggests. The index
is built concurrently, outside a transaction, so that the customer table stays writable;
it replaces ``customer_name_trgm_idx`` (0009, on ``UPPER(name)``), which nothing reads now.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION redress_unaccent(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT unaccent('unaccent'::regdictionary, $1) $$
"""
INDEX = (
    "customer_name_unaccent_trgm_idx ON recovery_customer "
    "USING gin (redress_unaccent(UPPER(name::text)) gin_trgm_ops)"
)

REPLACED = "customer_name_trgm_idx ON recovery_customer USING gin (UPPER(name::text) gin_trgm_ops)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    schema_editor.execute(FUNCTION)
    schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX}")
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {REPLACED.split()[0]}")
    schema_editor.execute("ANALYZE recovery_customer")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {REPLACED}")
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS customer_name_unaccent_trgm_idx")
    schema_editor.execute("DROP FUNCTION IF EXISTS redress_unaccent(text)")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("recovery", "0039_reference_number_index")]

    operations = [migrations.RunPython(create, drop)]
