"""Who is told what (docs/notifications.md, *Who is told what*): supervisors only what needs
them, each line saying which complaint, what about and who did what, and no email tried for
someone without an address.

Personas (tests/conftest.py): ``agent`` and ``teammate`` work ``team`` (Billing), where the
complaints are; ``supervisor`` leads Billing; ``manager`` is on no team and is told only
when named.
"""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from escalation.services import ladder
from escalation.services.sweeper import sweep
from notifications import delivery, staff_email
from notifications.models import Notification, NotificationPreference, Outbox, StaffEmail
from recovery.models import ComplaintEvent, EventType
from recovery.services import messages, sla
from recovery.services.unpicked import alert_unpicked
from tests.conftest import acknowledge


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    calls: list[tuple[str, tuple]] = []
    monkeypatch.setattr(delivery, "enqueue", lambda task, *args: calls.append((task.name, args)))
    return calls


def deliver_pending() -> None:
    for outbox_id in (
        Outbox.objects.filter(delivered_at__isnull=True).order_by("id").values_list("pk", flat=True)
    ):
        delivery.deliver(outbox_id)


def told(user) -> set[str]:
    return set(Notification.objects.filter(user=user).values_list("event_type", flat=True))


@pytest.mark.django_db
def test_routine_steps_tell_the_agents_but_not_the_supervisor(
    make_complaint, agent, teammate, supervisor
):
    complaint = make_complaint()
    acknowledge(complaint, teammate)
    messages.message_add(complaint=complaint, actor=teammate, body="We are on it.")
    messages.message_add(complaint=complaint, actor=teammate, body="Logs.", internal=True)
    sla.complaint_assign(complaint=complaint, assignee=teammate, actor=teammate, reason="mine")
    deliver_pending()

    routine = {
        "complaint.acknowledged",
        "complaint.message_added",
        "complaint.note_added",
        "complaint.assigned",
    }
    assert routine <= told(agent)
    assert told(supervisor).isdisjoint(routine)


@pytest.mark.django_db
def test_a_supervisor_named_as_assignee_hears_of_routine_steps(
    make_complaint, supervisor, teammate
):
    complaint = make_complaint()
    sla.complaint_assign(complaint=complaint, assignee=supervisor, reason="test")
    messages.message_add(complaint=complaint, actor=teammate, body="We are on it.")
    deliver_pending()

    assert "complaint.message_added" in told(supervisor)


@pytest.mark.django_db
def test_escalations_on_their_team_reach_the_supervisor(make_complaint, agent, supervisor, manager):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    ladder.complaint_escalate_by_hand(
        complaint=complaint, actor=manager, direction="up", reason="The customer is upset."
    )
    deliver_pending()

    assert "complaint.escalated" in told(supervisor)


@pytest.mark.django_db
def test_each_line_says_the_reference_the_subject_and_who_did_what(make_complaint, agent, teammate):
    complaint = make_complaint(subject="Parcel arrived crushed")
    teammate.first_name, teammate.last_name = "Tess", "Mate"
    teammate.save(update_fields=["first_name", "last_name"])
    messages.message_add(complaint=complaint, actor=teammate, body="We are on it.")
    deliver_pending()

    note = Notification.objects.get(user=agent, event_type="complaint.message_added")
    assert note.summary == (
        f"{complaint.reference} “Parcel arrived crushed”: Tess Mate wrote to the customer"
    )


@pytest.mark.django_db
def test_no_email_is_composed_or_tried_for_someone_without_an_address(
    make_complaint, agent, teammate, enqueued
):
    type(agent).objects.filter(pk=agent.pk).update(email="")
    NotificationPreference.objects.create(user=agent, via_email=True)
    complaint = make_complaint()
    enqueued.clear()

    acknowledge(complaint, teammate)
    deliver_pending()

    note = Notification.objects.get(user=agent, event_type="complaint.acknowledged")
    assert note.email_due_at is None
    assert not [call for call in enqueued if call[0] == "notifications.staff_emails"]
    assert not StaffEmail.objects.exists()


# --- unpicked complaints -----------------------------------------------------------------


def minutes_later(minutes: float):
    return time_machine.travel(timezone.now() + timedelta(minutes=minutes), tick=False)


@pytest.mark.django_db
def test_a_complaint_an_agent_answered_without_taking_it_is_not_unpicked(
    make_complaint, agent, supervisor
):
    answered = make_complaint()
    acknowledge(answered, agent)
    noted = make_complaint()
    messages.message_add(complaint=noted, actor=agent, body="Looking.", internal=True)
    untouched = make_complaint()

    with minutes_later(settings.REDRESS_UNPICKED_ALERT_MINUTES + 1):
        assert alert_unpicked().alerted == 1

    alerted = ComplaintEvent.objects.filter(type=EventType.UNPICKED)
    assert [event.complaint_id for event in alerted] == [untouched.pk]


@pytest.mark.django_db
def test_an_unpicked_alert_is_checked_again_when_it_is_delivered(make_complaint, agent, supervisor):
    complaint = make_complaint()
    with minutes_later(settings.REDRESS_UNPICKED_ALERT_MINUTES + 1):
        assert alert_unpicked().alerted == 1
    alert = Outbox.objects.get(complaint_id=complaint.pk, event_type="complaint.unpicked")
    # An agent picks it up before the alert is delivered (a worker outage, say).
    sla.complaint_assign(complaint=complaint, assignee=agent, reason="mine")

    assert delivery.deliver(alert.pk) is True

    assert not Notification.objects.filter(outbox=alert).exists()
    # The timeline keeps the alert; nobody is told a thing that is no longer true.
    assert ComplaintEvent.objects.filter(complaint=complaint, type=EventType.UNPICKED).exists()


@pytest.mark.django_db
def test_an_unpicked_alert_still_true_reaches_the_supervisor(make_complaint, supervisor):
    complaint = make_complaint()
    with minutes_later(settings.REDRESS_UNPICKED_ALERT_MINUTES + 1):
        alert_unpicked()
    alert = Outbox.objects.get(complaint_id=complaint.pk, event_type="complaint.unpicked")

    delivery.deliver(alert.pk)

    assert list(Notification.objects.filter(outbox=alert).values_list("user", flat=True)) == [
        supervisor.pk
    ]


@pytest.mark.django_db
def test_an_unpicked_alert_in_a_digest_is_checked_again_when_the_email_is_composed(
    make_complaint, agent, supervisor
):
    supervisor.email = "sam@example.com"
    supervisor.save(update_fields=["email"])
    NotificationPreference.objects.create(user=supervisor, via_email=True, email_digest="daily")
    complaint = make_complaint()
    with minutes_later(settings.REDRESS_UNPICKED_ALERT_MINUTES + 1):
        alert_unpicked()
        deliver_pending()
    note = Notification.objects.get(user=supervisor, event_type="complaint.unpicked")
    assert note.email_due_at is not None
    # Taken before the morning digest.
    sla.complaint_assign(complaint=complaint, assignee=agent, reason="mine")

    assert staff_email.compose_due(now=note.email_due_at + timedelta(minutes=1)) == []

    note.refresh_from_db()
    assert note.email_due_at is None  # emailed to nobody; the inbox keeps it
    assert not StaffEmail.objects.exists()


# --- deadlines -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_warning_overtaken_by_its_breach_is_recorded_but_told_to_nobody(
    make_complaint, agent, supervisor
):
    complaint = make_complaint()
    later = timezone.now() + timedelta(days=60)

    with time_machine.travel(later, tick=False):
        sweep(later)
        deliver_pending()

    warnings = Outbox.objects.filter(
        complaint_id=complaint.pk, event_type="complaint.clock_warning"
    )
    assert warnings.exists()
    assert ComplaintEvent.objects.filter(complaint=complaint, type=EventType.CLOCK_WARNING).exists()
    assert not Notification.objects.filter(outbox__in=warnings).exists()
    # The breaches (or the escalations they caused) are what is told, supervisors included.
    assert told(supervisor) & {"complaint.clock_breached", "complaint.escalated"}


@pytest.mark.django_db
def test_a_breach_found_by_a_late_answer_reaches_the_agents_not_the_supervisor(
    make_complaint, teammate, colleague, supervisor
):
    complaint = make_complaint()

    with time_machine.travel(timezone.now() + timedelta(days=60), tick=False):
        acknowledge(complaint, teammate)
        deliver_pending()

    breach = Outbox.objects.get(complaint_id=complaint.pk, event_type="complaint.clock_breached")
    # The team's agents (the one who answered late too: the breach is the clock's, not theirs).
    assert set(Notification.objects.filter(outbox=breach).values_list("user", flat=True)) == {
        teammate.pk,
        colleague.pk,
    }
    assert "complaint.clock_breached" not in told(supervisor)
