"""After 0041 rewrote the complaint and message tables, their visibility map is empty: until
autovacuum reaches them, every index-only scan of the queue (its covering urgency indexes,
0036) reads the table's rows as well, and a queue page at 100,000 complaints took 40 ms of
PostgreSQL time instead of 8. ``VACUUM ANALYZE`` here makes them whole again at once.

Not atomic: PostgreSQL runs VACUUM outside a transaction only. PostgreSQL only; about as
long as 0041's rewrite (a minute or two at a million rows).
"""

from django.db import migrations

TABLES = ("recovery_complaint", "recovery_message")


def vacuum(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("recovery", "0041_search_words_without_accents")]

    operations = [migrations.RunPython(vacuum, migrations.RunPython.noop, elidable=True)]
