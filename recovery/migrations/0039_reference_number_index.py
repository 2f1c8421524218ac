"""The queue's search by a reference's trailing number, as a caller reads it ("57" or
"000057" for RDR-2026-000057): an index of each reference's number without its leading
zeros, PostgreSQL only (SQLite, the embedded mode, has small data and no such index).

Built concurrently, outside a transaction, so that a large complaint table stays writable
while it is built.
"""

from django.db import migrations

INDEX = (
    "complaint_reference_number_idx ON recovery_complaint "
    "((ltrim(substring(reference::text from '[0-9]+$'), '0')))"
)


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX}")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS complaint_reference_number_idx")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("recovery", "0038_message_words_of_a_complaint_written_with_them")]

    operations = [migrations.RunPython(create_index, drop_index)]
