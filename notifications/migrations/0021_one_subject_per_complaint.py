from django.db import migrations, models

# Every email about a complaint carries one subject, "[RDR-2026-000123] <its subject>"
# (notifications.rendering.thread_subject): Gmail keeps emails in one conversation only when
# their subjects match, and the subject per kind of email ("We have received your complaint
# …", "Our response to …") split each complaint into as many conversations as emails. What
# kind of email it is, each template's text already says. A subject someone edited is
# replaced too: one of its own would split the conversation again (a suffix after the
# variable is allowed, and saving checks the subject begins with it).
THREAD_SUBJECT = "{{ thread_subject }}"


def one_subject(apps, schema_editor):
    template_model = apps.get_model("notifications", "MessageTemplate")
    template_model.objects.exclude(subject__startswith=THREAD_SUBJECT).update(
        subject=THREAD_SUBJECT
    )


class Migration(migrations.Migration):
    dependencies = [("notifications", "0020_receipt_confirmation_link")]

    # Backwards there is nothing to restore: the old subjects are in migrations 0003-0020.
    operations = [
        migrations.AlterField(
            model_name="messagetemplate",
            name="subject",
            field=models.CharField(
                default="{{ thread_subject }}",
                help_text=(
                    "Begins with {{ thread_subject }}, the one subject of every email about a "
                    "complaint, so that mail programs keep them in one conversation."
                ),
                max_length=200,
                verbose_name="subject",
            ),
        ),
        migrations.RunPython(one_subject, migrations.RunPython.noop),
    ]
