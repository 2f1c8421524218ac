"""The default approval limits (``recovery.authority.DEFAULT_LIMITS``)."""

from django.db import migrations


def seed(apps, schema_editor):
    from recovery.services.remedies import approval_limits_seed

    approval_limits_seed(apps.get_model("recovery", "ApprovalLimit"))


class Migration(migrations.Migration):
    dependencies = [("recovery", "0004_recovery_actions_capa_surveys")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
