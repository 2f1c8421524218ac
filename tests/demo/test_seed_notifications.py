"""What the demo's supervisor finds in their notifications after ``seed_demo``.

A newcomer signing in as ``supervisor1`` found 128 unread notifications: every
acknowledgement and note of their two teams. They should find a short list, each entry one
a supervisor has to act on (docs/notifications.md, *Who is told what*).

Personas: ``supervisor1`` leads Billing and Triage; the demo's agents and manager work the
complaints; the beat's sweeps (deadlines, unpicked complaints) run once, as a first start
would run them.
"""

from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from escalation.services.sweeper import sweep
from notifications import delivery
from notifications.models import Notification, Outbox
from recovery.services.unpicked import alert_unpicked

# What a supervisor is told as a team's supervisor (recovery.events.SUPERVISOR_EVENT_TYPES),
# and what names them: unpicked complaints, failed emails, approvals awaiting them.
SUPERVISOR_KINDS = {
    "complaint.escalated",
    "complaint.de_escalated",
    "complaint.escalation_requested",
    "complaint.clock_warning",
    "complaint.clock_breached",
    "complaint.customer_replied_after_closing",
    "complaint.unpicked",
    "complaint.email_not_delivered",
    "complaint.recovery_approval_requested",
}
# "Modest": a morning's worth to read through, against 128 before. The demo leaves about
# ten complaints open on the supervisor's two teams, most of them long overdue: each can
# need them once or twice (nobody picked it up; a deadline escalated). Seeding gives 20 today.
UNREAD_AT_MOST = 25


@pytest.fixture
def no_broker(monkeypatch):
    monkeypatch.setattr(delivery, "enqueue", lambda task, *args: None)


@pytest.mark.django_db
def test_the_demo_supervisor_is_told_only_what_needs_a_supervisor(no_broker):
    with override_settings(REDRESS_DEMO=True):
        call_command("seed_demo", verbosity=0, no_progress=True)
    # The first start's beat: the clocks swept, and half an hour on, what nobody picked up.
    now = timezone.now() + timedelta(minutes=settings.REDRESS_UNPICKED_ALERT_MINUTES + 1)
    sweep(now)
    alert_unpicked(now)
    for outbox_id in (
        Outbox.objects.filter(delivered_at__isnull=True).order_by("id").values_list("pk", flat=True)
    ):
        delivery.deliver(outbox_id)

    supervisor = get_user_model().objects.get(username="supervisor1")
    unread = Notification.objects.filter(user=supervisor, read_at__isnull=True)
    kinds = Counter(unread.values_list("event_type", flat=True))
    assert 0 < unread.count() <= UNREAD_AT_MOST, kinds
    assert set(kinds) <= SUPERVISOR_KINDS, kinds
    # Meaningful: the complaints nobody picked up and the overdue ones escalated to them.
    assert kinds["complaint.unpicked"] > 0
    assert kinds["complaint.escalated"] > 0
    # And every line says which complaint, what about, and what happened.
    for summary in unread.values_list("summary", flat=True):
        assert "“" in summary and ": " in summary, summary
