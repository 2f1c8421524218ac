"""Give existing complaints their statutory obligations as clocks of their own.

Before 0004 a profile's deadline replaced the policy's target when it was earlier, and was
counted as N x 24 hours. Here every complaint with a regulatory profile gets each of its
profile's obligations planned from receipt, the way the rules count them: open obligations
run (the sweeper warns and breaches them from now on), those whose step already happened are
met or breached by when it happened, and those of withdrawn complaints are cancelled.
"""

from django.db import migrations
from django.utils import timezone

# When each statutory clock's step happened, from the complaint's own timestamps.
_STOPPED_BY = {
    "acknowledge": ("acknowledged_at", "resolved_at"),
    "initial_response": ("acknowledged_at", "resolved_at"),
    "summary_resolution": ("resolved_at",),
    "resolve": ("resolved_at",),
}


def plan(apps, schema_editor):
    from escalation import deadlines, regulatory

    complaint_model = apps.get_model("recovery", "Complaint")
    clock_model = apps.get_model("escalation", "Clock")
    ladder = (
        apps.get_model("escalation", "EscalationLadder").objects.filter(is_default=True).first()
    )
    now = timezone.now()
    complaints = complaint_model.objects.exclude(regulatory_profile="").iterator(chunk_size=500)
    for complaint in complaints:
        profile = regulatory.get_profile(complaint.regulatory_profile)
        if profile is None:
            continue
        region = profile.region(complaint.jurisdiction).code
        existing = {
            clock.kind: clock
            for clock in clock_model.objects.filter(complaint=complaint).exclude(
                regulatory_profile=""
            )
        }
        for deadline in profile.deadlines:
            start = complaint.received_at
            if deadline.starts == "sent_to_company" and complaint.sent_to_company_at:
                start = complaint.sent_to_company_at
            due = profile.due_at(deadline, start, region)
            basis = "business" if deadline.rule.startswith("business") else "calendar"
            calendar = profile.calendar(range(start.year - 1, due.year + 2), region)
            seconds = max(deadlines.between(start, due, basis=basis, calendar=calendar), 0)
            clock = existing.get(deadline.clock) or clock_model(
                complaint=complaint, kind=deadline.clock, cycle=1, escalation_level=0
            )
            if clock.pk and clock.state not in ("running", "paused"):
                # Already decided: keep its history, name its rule.
                clock.rule, clock.jurisdiction = deadline.citation, region
                clock.save(update_fields=["rule", "jurisdiction"])
                continue
            clock.regulatory_profile = profile.code
            clock.rule, clock.jurisdiction = deadline.citation, region
            clock.policy = clock.calendar = None
            clock.ladder = clock.ladder or ladder
            clock.basis = basis
            clock.target_seconds = round(seconds)
            clock.pausable = False
            clock.escalates = deadline.escalates
            clock.started_at = start
            clock.due_at = due
            clock.warn_at = deadlines.add(start, seconds * 0.8, basis=basis, calendar=calendar)
            clock.paused_at = clock.seconds_left_when_paused = None
            clock.seconds_to_warn_when_paused = None
            stopped = next(
                (
                    getattr(complaint, name)
                    for name in _STOPPED_BY.get(deadline.clock, ())
                    if getattr(complaint, name)
                ),
                None,
            )
            if complaint.state == "withdrawn":
                clock.state, clock.stopped_at = "cancelled", complaint.withdrawn_at or now
            elif stopped is not None:
                late = stopped > due
                clock.state = "breached" if late else "met"
                clock.breached_at = due if late else None
                clock.stopped_at = stopped
                clock.next_escalation_at = None
            else:
                clock.state = "running"
                clock.stopped_at = None
            clock.save()


class Migration(migrations.Migration):
    dependencies = [
        ("escalation", "0004_statutory_obligations"),
    ]

    operations = [migrations.RunPython(plan, migrations.RunPython.noop)]
