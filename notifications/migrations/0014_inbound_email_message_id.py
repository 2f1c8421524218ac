from django.db import migrations, models


def message_ids_from_fingerprints(apps, schema_editor):
    """A stored email's fingerprint is its Message-ID unless it had none (or a long one):
    copy the ids our answers can name in a header, so replies to older complaints thread."""
    inbound_email = apps.get_model("notifications", "InboundEmail")
    inbound_email.objects.exclude(fingerprint__startswith="sha256:").exclude(
        fingerprint__startswith="message-id-sha256:"
    ).filter(fingerprint__regex=r"^[!-;=?-~]{1,255}$").update(
        rfc_message_id=models.F("fingerprint")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0013_template_text_is_the_one_wording"),
    ]

    operations = [
        migrations.AddField(
            model_name="inboundemail",
            name="rfc_message_id",
            field=models.CharField(blank=True, max_length=255, verbose_name="Message-ID"),
        ),
        migrations.AddIndex(
            model_name="inboundemail",
            index=models.Index(
                condition=models.Q(("complaint_id__isnull", False)),
                fields=["complaint_id", "received_at"],
                name="inbound_email_complaint_idx",
            ),
        ),
        migrations.RunPython(message_ids_from_fingerprints, migrations.RunPython.noop),
    ]
