"""The desk's macros join the configuration each process keeps in memory
(escalation.configuration): on PostgreSQL, a write to it changes the configuration token
like a write to any other watched table (the function of migration 0007)."""

from django.db import migrations

TABLE = "recovery_macro"


def add_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite: the model signals write the token
    schema_editor.execute(
        f"CREATE TRIGGER configuration_changed AFTER INSERT OR UPDATE OR DELETE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION escalation_configuration_changed()"
    )


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS configuration_changed ON {TABLE}")


class Migration(migrations.Migration):
    dependencies = [
        ("escalation", "0009_watch_recovery_guidelines"),
        ("recovery", "0033_macros"),
    ]

    operations = [migrations.RunPython(add_trigger, drop_trigger)]
