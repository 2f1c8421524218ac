"""Complaints with an outcome, and upheld ones, per day in the KPI summaries (PostgreSQL).

The columns start at 0; ``insights.summaries.VERSION`` 4 makes the next refresh rebuild every
day, so no figure reads them before they are counted.
"""

from django.db import migrations


def add(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "ALTER TABLE insight_kpi_day "
        "ADD COLUMN IF NOT EXISTS with_outcome integer NOT NULL DEFAULT 0, "
        "ADD COLUMN IF NOT EXISTS upheld integer NOT NULL DEFAULT 0"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "ALTER TABLE insight_kpi_day DROP COLUMN IF EXISTS with_outcome, "
        "DROP COLUMN IF EXISTS upheld"
    )
    # Built with the columns: rebuilt without them by the version before this one.
    schema_editor.execute("DELETE FROM insight_summary_state")


class Migration(migrations.Migration):
    dependencies = [("recovery", "0026_message_writer_and_idempotency_key")]

    operations = [migrations.RunPython(add, drop)]
