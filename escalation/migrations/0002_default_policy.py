from django.db import migrations

HOUR = 3600
# An 8-hour business day: the defaults are one day to acknowledge and to answer a customer
# message, five to resolve, two to close the loop. Edit them in the admin.
TARGETS = [
    ("acknowledge", 8 * HOUR),
    ("respond", 8 * HOUR),
    ("resolve", 40 * HOUR),
    ("close_loop", 16 * HOUR),
]
LADDER = [
    (1, "team_supervisor", 4 * HOUR),
    (2, "complaints_manager", 8 * HOUR),
    (3, "head_of_cx", None),
]


def add_defaults(apps, schema_editor):
    calendar_model = apps.get_model("escalation", "BusinessCalendar")
    ladder_model = apps.get_model("escalation", "EscalationLadder")
    level_model = apps.get_model("escalation", "EscalationLevel")
    policy_model = apps.get_model("escalation", "SlaPolicy")
    target_model = apps.get_model("escalation", "SlaTarget")
    calendar, _ = calendar_model.objects.get_or_create(
        slug="office-hours",
        defaults={
            "name": "Office hours",
            "time_zone": "UTC",
            "weekly_hours": {str(day): [["09:00", "17:00"]] for day in range(5)},
        },
    )
    ladder, created = ladder_model.objects.get_or_create(
        name="Default ladder", defaults={"is_default": True}
    )
    if created:
        for level, target, seconds in LADDER:
            level_model.objects.create(
                ladder=ladder, level=level, target=target, seconds_to_next=seconds
            )
    policy, created = policy_model.objects.get_or_create(
        name="Standard", defaults={"position": 1000, "calendar": calendar, "ladder": ladder}
    )
    if created:
        for clock, seconds in TARGETS:
            target_model.objects.create(
                policy=policy, clock=clock, seconds=seconds, basis="business", warn_at_percent=80
            )


class Migration(migrations.Migration):
    dependencies = [("escalation", "0001_initial")]

    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
