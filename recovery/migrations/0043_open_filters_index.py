"""The filtered queue's count: an index of the open complaints by team and the filtered
columns (``complaint_open_filters_idx``, see ``Complaint.Meta.indexes``).

Built concurrently on PostgreSQL, outside a transaction, so that a large complaint table
stays writable while it is built; SQLite (the embedded mode) builds it as any index.
"""

from django.db import migrations, models

INDEX = models.Index(
    fields=["team", "channel", "severity", "regulatory_profile", "category", "assignee"],
    condition=models.Q(state__in=["received", "acknowledged"]),
    name="complaint_open_filters_idx",
)


def create_index(apps, schema_editor):
    model = apps.get_model("recovery", "Complaint")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(model, INDEX, concurrently=True)
    else:
        schema_editor.add_index(model, INDEX)


def drop_index(apps, schema_editor):
    model = apps.get_model("recovery", "Complaint")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(model, INDEX, concurrently=True)
    else:
        schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("recovery", "0042_vacuum_after_the_words_rewrite")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="complaint", index=INDEX)],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        )
    ]
