"""Drop the Notification indexes that others already serve.

The foreign keys' own indexes on ``user_id`` and ``outbox_id`` are prefixes of the
(user, outbox) index and of the unique (outbox, user) key; the one on ``staff_email_id`` is
replaced by a partial index of the rows already emailed. Only the indexes are dropped: the
state operations alone would also drop and re-validate the foreign keys, a scan of the whole
table under an exclusive lock.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# The names Django gave the foreign keys' indexes, and their columns.
FOREIGN_KEY_INDEXES = {
    "notifications_notification_outbox_id_3a9c8af4": "outbox_id",
    "notifications_notification_staff_email_id_9e1ac96b": "staff_email_id",
    "notifications_notification_user_id_b5e8c0ff": "user_id",
}


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0006_outbox_committed_at"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("staff_email__isnull", False)),
                fields=["staff_email"],
                name="notification_staff_email_idx",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="notification",
                    name="outbox",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="notifications",
                        to="notifications.outbox",
                    ),
                ),
                migrations.AlterField(
                    model_name="notification",
                    name="staff_email",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.RESTRICT,
                        related_name="notifications",
                        to="notifications.staffemail",
                        verbose_name="email",
                    ),
                ),
                migrations.AlterField(
                    model_name="notification",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="notifications",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=[f"DROP INDEX IF EXISTS {name}" for name in FOREIGN_KEY_INDEXES],
                    reverse_sql=[
                        f"CREATE INDEX IF NOT EXISTS {name} ON notifications_notification ({column})"
                        for name, column in FOREIGN_KEY_INDEXES.items()
                    ],
                ),
            ],
        ),
    ]
