"""The configuration version row, and on PostgreSQL the triggers that change its token with
every write to a table whose rows processes keep in memory (escalation.configuration)."""

from django.db import migrations, models

# A copy of escalation.configuration.WATCHED_TABLES as it was: a migration must not change
# when the code does. A table added to the list later gets its trigger in a migration of its own.
WATCHED_TABLES = (
    "escalation_businesscalendar",
    "escalation_calendarclosure",
    "escalation_escalationladder",
    "escalation_escalationlevel",
    "escalation_slapolicy",
    "escalation_slatarget",
    "recovery_routingrule",
    "recovery_team",
    "recovery_category",
    "recovery_touchpoint",
    "recovery_journeystage",
    "auth_group",
    "auth_group_permissions",
    "auth_permission",
)

FUNCTION = """
CREATE OR REPLACE FUNCTION escalation_configuration_changed() RETURNS trigger AS $$
BEGIN
    -- A random token, never a counter: see escalation.configuration.
    INSERT INTO escalation_configurationversion (id, token)
    VALUES (1, floor(random() * 4e18)::bigint)
    ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""


def add_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite: the model signals write the token
    schema_editor.execute(FUNCTION)
    for table in WATCHED_TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER configuration_changed AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION escalation_configuration_changed()"
        )


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in WATCHED_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS configuration_changed ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS escalation_configuration_changed()")


class Migration(migrations.Migration):
    dependencies = [
        ("escalation", "0006_customer_update_and_targets"),
        ("recovery", "0019_every_event_type"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConfigurationVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("token", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(add_triggers, drop_triggers),
    ]
