"""A message is stored once per (Message-ID, content digest), no longer per Message-ID."""

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
    ]
