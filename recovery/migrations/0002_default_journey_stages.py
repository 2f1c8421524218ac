from django.db import migrations

# The customer journey stages named in the product brief; editable in the admin afterwards.
STAGES = [
    ("awareness", "Awareness"),
    ("consideration", "Consideration"),
    ("purchase", "Purchase"),
    ("delivery", "Delivery"),
    ("onboarding", "Onboarding"),
    ("usage", "Usage"),
    ("billing", "Billing"),
    ("support", "Support"),
    ("returns", "Returns"),
    ("renewal", "Renewal"),
]


def add_stages(apps, schema_editor):
    JourneyStage = apps.get_model("recovery", "JourneyStage")
    for position, (slug, name) in enumerate(STAGES, start=1):
        JourneyStage.objects.get_or_create(slug=slug, defaults={"name": name, "position": position})


class Migration(migrations.Migration):
    dependencies = [("recovery", "0001_initial")]

    operations = [migrations.RunPython(add_stages, migrations.RunPython.noop)]
