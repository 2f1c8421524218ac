"""Inbound email stored once per (Message-ID, content digest), no longer per Message-ID; bounces
recorded on the customer email they return."""

from django.db import migrations, models

# Rows are read in batches of this many: raw messages can be megabytes each.
BATCH = 200


def fill_digests(apps, schema_editor):
    from notifications.inbound_parsing import content_digest

    InboundEmail = apps.get_model("notifications", "InboundEmail")
    rows = InboundEmail.objects.order_by("pk").only("pk", "raw")
    last = 0
    while batch := list(rows.filter(pk__gt=last)[:BATCH]):
        for row in batch:
            row.content_digest = content_digest(bytes(row.raw))
        InboundEmail.objects.bulk_update(batch, ["content_digest"])
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [("notifications", "0015_held_inbound_email")]

    operations = [
        migrations.AddField(
            model_name="inboundemail",
            name="content_digest",
            field=models.CharField(blank=True, max_length=80, verbose_name="content digest"),
        ),
        migrations.RunPython(fill_digests, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="inboundemail",
            name="fingerprint",
            field=models.CharField(max_length=300, verbose_name="fingerprint"),
        ),
        migrations.AddConstraint(
            model_name="inboundemail",
            constraint=models.UniqueConstraint(
                fields=("fingerprint", "content_digest"), name="inbound_email_once"
            ),
        ),
        migrations.AddField(
            model_name="emaildelivery",
            name="bounce_email_id",
            field=models.BigIntegerField(
                blank=True, null=True, verbose_name="bounce (inbound email id)"
            ),
        ),
        migrations.AddField(
            model_name="emaildelivery",
            name="bounce_permanent",
            field=models.BooleanField(blank=True, null=True, verbose_name="permanent failure"),
        ),
        migrations.AddField(
            model_name="emaildelivery",
            name="bounce_status",
            field=models.CharField(blank=True, max_length=16, verbose_name="bounce status code"),
        ),
        migrations.AddField(
            model_name="emaildelivery",
            name="bounced_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="bounced at"),
        ),
        migrations.AlterField(
            model_name="inboundemail",
            name="status",
            field=models.CharField(
                choices=[
                    ("accepted", "Accepted"),
                    ("ignored", "Ignored (automatic)"),
                    ("quarantined", "Quarantined"),
                    ("held", "Held for review"),
                    ("discarded", "Discarded after review"),
                    ("bounce", "Bounce recorded"),
                ],
                max_length=16,
                verbose_name="status",
            ),
        ),
        migrations.AddIndex(
            model_name="emaildelivery",
            index=models.Index(
                condition=models.Q(
                    ("status", "failed"), ("bounced_at__isnull", False), _connector="OR"
                ),
                fields=["complaint_id"],
                name="email_undelivered_idx",
            ),
        ),
    ]
