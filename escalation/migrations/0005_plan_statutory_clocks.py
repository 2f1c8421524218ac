"""Give existing complaints their statutory obligations as clocks of their own.

Before 0004 a profile's deadline replaced the policy's target when it was earlier, and was
counted as N x 24 hours. Here every complaint with a regulatory profile gets each of its
profile's obligations planned from receipt, the way the rules count them
(``escalation.obligations_from_record``): open obligations run (the sweeper warns and breaches them from
now on), those whose step already happened are met or breached by when it happened, and
those of withdrawn complaints are cancelled. Obligations already decided keep their history
and only learn their rule and region. Imported history, which never had clocks, gets none.
"""

from django.db import migrations
from django.utils import timezone


def plan(apps, schema_editor):
    from escalation.obligations_from_record import plan_from_record

    complaint_model = apps.get_model("recovery", "Complaint")
    clock_model = apps.get_model("escalation", "Clock")
    ladder = (
        apps.get_model("escalation", "EscalationLadder").objects.filter(is_default=True).first()
    )
    now = timezone.now()
    # Complaints taken in with clocks; imported history (the CFPB import) never had any.
    complaints = (
        complaint_model.objects.exclude(regulatory_profile="")
        .filter(pk__in=clock_model.objects.values("complaint_id"))
        .iterator(chunk_size=500)
    )
    for complaint in complaints:
        existing = {
            clock.kind: clock
            for clock in clock_model.objects.filter(complaint=complaint).exclude(
                regulatory_profile=""
            )
        }
        for obligation in plan_from_record(complaint, now):
            clock = existing.get(obligation.kind)
            if clock is not None and clock.state not in ("running", "paused"):
                clock.rule = obligation.fields["rule"]
                clock.jurisdiction = obligation.fields["jurisdiction"]
                clock.save(update_fields=["rule", "jurisdiction"])
                continue
            if clock is None:
                clock = clock_model(complaint=complaint, kind=obligation.kind, ladder=ladder)
            for name, value in obligation.fields.items():
                setattr(clock, name, value)
            clock.save()
    _refresh_deadlines(complaint_model, clock_model)


def _refresh_deadlines(complaint_model, clock_model):
    """The complaints' read-side copy of their soonest deadlines, statutory ones included."""
    from django.db.models import Min, OuterRef, Q, Subquery

    def soonest(condition):
        return Subquery(
            clock_model.objects.filter(condition, complaint=OuterRef("pk"), state="running")
            .order_by()
            .values("complaint")
            .annotate(value=Min("due_at"))
            .values("value")[:1]
        )

    complaint_model.objects.filter(pk__in=clock_model.objects.values("complaint_id")).update(
        next_deadline_at=soonest(Q()),
        next_statutory_deadline_at=soonest(~Q(regulatory_profile="") & Q(escalates=True)),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("escalation", "0004_statutory_obligations"),
        ("recovery", "0011_regulation_changes"),
    ]

    operations = [migrations.RunPython(plan, migrations.RunPython.noop)]
