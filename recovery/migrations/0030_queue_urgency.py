"""The queues' urgency order (``Complaint.urgency``, ``overdue_since``, ``overdue_kind``) and
its two partial indexes over open complaints; the open complaints that have clocks get their
urgency computed from them (the others have none: no deadline)."""

import django.db.models.functions.comparison
from django.conf import settings
from django.db import migrations, models
from django.db.models import Case, Exists, Min, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

OPEN = ["received", "acknowledged"]


def compute_urgency(apps, schema_editor):
    # As escalation.selectors.urgency_expressions at the time of writing, on the historical
    # models: the clocks service keeps it from here on.
    Complaint = apps.get_model("recovery", "Complaint")
    Clock = apps.get_model("escalation", "Clock")
    now = timezone.now()
    mine = Clock.objects.filter(complaint=OuterRef("pk"))
    overdue = Q(state="breached", stopped_at__isnull=True) | Q(state="running", due_at__lte=now)
    duty = Q(escalates=True) & ~Q(regulatory_profile="")

    def first_due(condition):
        return Subquery(
            mine.filter(condition)
            .order_by()
            .values("complaint")
            .annotate(m=Min("due_at"))
            .values("m")[:1]
        )

    kind = Subquery(
        mine.filter(overdue)
        .annotate(duty=Case(When(duty, then=Value(0)), default=Value(1)))
        .order_by("duty", "due_at", "id")
        .values("kind")[:1]
    )
    with_clocks = Clock.objects.filter(Q(state="running") | Q(state="breached")).values(
        "complaint_id"
    )
    Complaint.objects.filter(state__in=OPEN, pk__in=with_clocks).update(
        urgency=Case(
            When(Exists(mine.filter(overdue & duty)), then=Value(0)),
            When(Exists(mine.filter(overdue)), then=Value(1)),
            When(Exists(mine.filter(state="running", warn_at__lte=now)), then=Value(2)),
            When(Exists(mine.filter(state="running", due_at__isnull=False)), then=Value(3)),
            default=Value(4),
        ),
        overdue_since=Coalesce(first_due(overdue & duty), first_due(overdue)),
        overdue_kind=Coalesce(kind, Value("")),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("recovery", "0029_resolved_events_index"),
        ("escalation", "0008_watch_root_causes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="complaint",
            name="overdue_kind",
            field=models.CharField(blank=True, max_length=32, verbose_name="overdue deadline"),
        ),
        migrations.AddField(
            model_name="complaint",
            name="overdue_since",
            field=models.DateTimeField(blank=True, null=True, verbose_name="overdue since"),
        ),
        migrations.AddField(
            model_name="complaint",
            name="urgency",
            field=models.PositiveSmallIntegerField(
                choices=[
                    (0, "Statutory deadline breached"),
                    (1, "Breached"),
                    (2, "At risk"),
                    (3, "On track"),
                    (4, "No deadline"),
                ],
                default=4,
                verbose_name="urgency",
            ),
        ),
        migrations.AddIndex(
            model_name="complaint",
            index=models.Index(
                models.F("urgency"),
                django.db.models.functions.comparison.Coalesce("overdue_since", "next_deadline_at"),
                models.F("id"),
                models.F("team"),
                condition=models.Q(("state__in", ["received", "acknowledged"])),
                name="complaint_open_urgency_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="complaint",
            index=models.Index(
                models.F("assignee"),
                models.F("urgency"),
                django.db.models.functions.comparison.Coalesce("overdue_since", "next_deadline_at"),
                models.F("id"),
                condition=models.Q(("state__in", ["received", "acknowledged"])),
                name="complaint_mine_urgency_idx",
            ),
        ),
        migrations.RunPython(compute_urgency, migrations.RunPython.noop),
    ]
