"""The triage team: where intake routes complaints that no routing rule matches.

A team already flagged is kept; else a team called "Triage" (or slugged "triage") is
flagged; else one is made. Its members are to be chosen by the installation (docs/recovery.md).
"""

from django.db import migrations
from django.db.models import Q


def flag_triage_team(apps, schema_editor):
    Team = apps.get_model("recovery", "Team")
    if Team.objects.filter(is_triage=True).exists():
        return
    team = Team.objects.filter(Q(slug="triage") | Q(name="Triage")).first()
    if team is None:
        Team.objects.create(name="Triage", slug="triage", is_triage=True)
    else:
        team.is_triage = True
        team.save(update_fields=["is_triage"])


class Migration(migrations.Migration):
    dependencies = [("recovery", "0016_routing_rules")]

    operations = [migrations.RunPython(flag_triage_team, migrations.RunPython.noop)]
