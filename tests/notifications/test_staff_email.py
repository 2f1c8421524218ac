"""Staff notification emails: preferences applied, digests batched, each notification once.

Personas (tests/conftest.py): ``agent`` and ``colleague`` work ``team`` (Billing), which the
complaints are routed to, so both are told of every event; ``agent`` is the one whose
preferences change here, ``colleague`` keeps the defaults (no email) throughout.

Time is moved with time-machine; the clock in each test is London's, where the agent lives.
"""

import threading
from datetime import datetime, time
from smtplib import SMTPServerDisconnected
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection

from config.celery import app as celery_app
from notifications import delivery, tasks
from notifications.models import (
    EmailStatus,
    Notification,
    NotificationPreference,
    Outbox,
    StaffEmail,
)
from recovery.services import messages, sla
from tests.conftest import acknowledge, api_client

LONDON = ZoneInfo("Europe/London")
PREFERENCES = "/api/notifications/preferences/"
FLAKY_BACKEND = "tests.notifications.test_staff_email.FlakyEmailBackend"
THREAD_JOIN_TIMEOUT_S = 60


def london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON)


class FlakyEmailBackend(BaseEmailBackend):
    """Fails ``failures_left`` times like a dropped SMTP connection, then delivers."""

    failures_left = 0

    def send_messages(self, email_messages):
        if self.failures_left:
            type(self).failures_left -= 1
            raise SMTPServerDisconnected("Connection unexpectedly closed")
        mail.outbox.extend(email_messages)
        return len(email_messages)


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    """Broker calls after commit, recorded: these tests run the tasks themselves."""
    calls: list[tuple[str, tuple]] = []
    monkeypatch.setattr(delivery, "enqueue", lambda task, *args: calls.append((task.name, args)))
    return calls


@pytest.fixture
def rung(monkeypatch):
    pushes: list[list[tuple[str, dict]]] = []
    monkeypatch.setattr(delivery, "ring", pushes.append)
    return pushes


@pytest.fixture
def outbox(mailoutbox, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return mailoutbox


def wants_email(user, **preferences) -> NotificationPreference:
    preference, _ = NotificationPreference.objects.update_or_create(
        user=user, defaults={"via_email": True, "time_zone": "Europe/London", **preferences}
    )
    return preference


def deliver_pending(django_capture_on_commit_callbacks) -> list[int]:
    ids = list(
        Outbox.objects.filter(delivered_at__isnull=True).order_by("id").values_list("pk", flat=True)
    )
    with django_capture_on_commit_callbacks(execute=True):
        for outbox_id in ids:
            assert delivery.deliver(outbox_id)
    return ids


def note(complaint, actor, body="Called the bank."):
    messages.message_add(complaint=complaint, actor=actor, body=body, internal=True)


def emails_to(outbox_list, user) -> list:
    return [message for message in outbox_list if message.to == [user.email]]


# -- without digest: one email per notification, at once ------------------------------------


@pytest.mark.django_db
def test_an_email_per_notification_goes_out_at_once_and_only_once(
    make_complaint,
    agent,
    colleague,
    teammate,
    outbox,
    enqueued,
    django_capture_on_commit_callbacks,
):
    wants_email(agent)
    complaint = make_complaint()
    with time_machine.travel(london(2026, 6, 10, 14, 0), tick=False):
        note(complaint, teammate)
        deliver_pending(django_capture_on_commit_callbacks)
        noted = Notification.objects.get(user=agent, event_type="complaint.note_added")
        assert noted.email_due_at == london(2026, 6, 10, 14, 0)
        # The colleague did not ask for email: their inbox row is all there is.
        assert Notification.objects.get(user=colleague).email_due_at is None
        # The delivery hands the agent's email to a worker straight after commit.
        assert ("notifications.staff_emails", ([agent.pk],)) in enqueued

        assert tasks.staff_emails([agent.pk]) == {"composed": 1, "sent": 1}
        # Again, from the fast path or the beat: nothing more.
        assert tasks.staff_emails([agent.pk]) == {"composed": 0, "sent": 0}
        assert tasks.staff_emails() == {"composed": 0, "sent": 0}

    (message,) = outbox
    assert message.to == [agent.email]
    assert (
        message.subject
        == f"Redress: {complaint.reference} “{complaint.subject}”: teammate added an internal note"
    )
    assert (
        f"2026-06-10 14:00 {complaint.reference} “{complaint.subject}”: teammate added an internal note"
        in message.body
    )
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    email = StaffEmail.objects.get()
    assert (email.status, email.attempts, email.user) == (EmailStatus.SENT, 1, agent)
    assert message.extra_headers["Message-ID"] == email.rfc_message_id
    noted.refresh_from_db()
    assert noted.staff_email == email


@pytest.mark.django_db
def test_muted_events_reach_neither_the_inbox_nor_the_socket_nor_email(
    make_complaint,
    agent,
    colleague,
    teammate,
    team,
    outbox,
    rung,
    django_capture_on_commit_callbacks,
):
    wants_email(agent, muted_events=["complaint.note_added"])
    complaint = make_complaint()
    acknowledge(complaint, teammate)
    deliver_pending(django_capture_on_commit_callbacks)
    note(complaint, teammate)
    rung.clear()
    (note_event,) = deliver_pending(django_capture_on_commit_callbacks)

    assert not Notification.objects.filter(user=agent, outbox_id=note_event).exists()
    assert Notification.objects.filter(user=colleague, outbox_id=note_event).exists()
    team_push = dict(rung[0])[f"team.{team.pk}"]
    assert team_push["to"] == [colleague.pk]
    tasks.staff_emails()
    # The one email is about the acknowledgement, not the muted note.
    (message,) = outbox
    assert (
        message.subject
        == f"Redress: {complaint.reference} “{complaint.subject}”: teammate acknowledged it"
    )


# -- quiet hours ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_quiet_hours_keep_the_inbox_and_the_push_and_hold_the_email_until_they_end(
    make_complaint,
    agent,
    team,
    outbox,
    rung,
    enqueued,
    django_capture_on_commit_callbacks,
    teammate,
):
    wants_email(agent, quiet_hours_start=time(22, 0), quiet_hours_end=time(7, 0))
    complaint = make_complaint()
    deliver_pending(django_capture_on_commit_callbacks)
    rung.clear()
    with time_machine.travel(london(2026, 6, 10, 23, 10), tick=False):
        acknowledge(complaint, teammate)
        deliver_pending(django_capture_on_commit_callbacks)
    with time_machine.travel(london(2026, 6, 11, 2, 30), tick=False):
        note(complaint, teammate)
        deliver_pending(django_capture_on_commit_callbacks)
        # Told in the inbox and live, at once...
        assert Notification.objects.filter(user=agent).count() == 2
        assert len(rung) == 2
        assert all(agent.pk in dict(pushes)[f"team.{team.pk}"]["to"] for pushes in rung)
        # ...but nothing is emailed in the night, nor handed to a worker.
        assert not [call for call in enqueued if call[0] == "notifications.staff_emails"]
        assert tasks.staff_emails() == {"composed": 0, "sent": 0}
        assert set(
            Notification.objects.filter(user=agent).values_list("email_due_at", flat=True)
        ) == {london(2026, 6, 11, 7, 0)}

    with time_machine.travel(london(2026, 6, 11, 6, 59), tick=False):
        assert tasks.staff_emails() == {"composed": 0, "sent": 0}
    with time_machine.travel(london(2026, 6, 11, 7, 0, 30), tick=False):
        # The beat's first tick after the window: what the night held, in one email.
        assert tasks.staff_emails() == {"composed": 1, "sent": 1}
        assert tasks.staff_emails() == {"composed": 0, "sent": 0}

    (message,) = outbox
    assert message.subject == "Redress: 2 notifications"
    assert (
        f"2026-06-10 23:10 {complaint.reference} “{complaint.subject}”: teammate acknowledged it"
        in message.body
    )
    assert (
        f"2026-06-11 02:30 {complaint.reference} “{complaint.subject}”: teammate added an internal note"
        in message.body
    )
    assert "Times are in Europe/London" in message.body


# -- digests --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_hourly_digest_batches_the_hours_notifications_into_one_email(
    make_complaint, agent, outbox, enqueued, django_capture_on_commit_callbacks, teammate
):
    wants_email(agent, email_digest="hourly")
    complaint = make_complaint()
    deliver_pending(django_capture_on_commit_callbacks)
    with time_machine.travel(london(2026, 6, 10, 10, 5), tick=False):
        acknowledge(complaint, teammate)
        deliver_pending(django_capture_on_commit_callbacks)
    for minute in (20, 50):
        with time_machine.travel(london(2026, 6, 10, 10, minute), tick=False):
            note(complaint, teammate, f"Note at {minute}.")
            deliver_pending(django_capture_on_commit_callbacks)
    assert not [call for call in enqueued if call[0] == "notifications.staff_emails"]

    with time_machine.travel(london(2026, 6, 10, 10, 59, 59), tick=False):
        assert tasks.staff_emails() == {"composed": 0, "sent": 0}
    with time_machine.travel(london(2026, 6, 10, 11, 0, 20), tick=False):
        assert tasks.staff_emails() == {"composed": 1, "sent": 1}
        # An event after the digest went is in the next hour's.
        note(complaint, teammate, "Late note.")
        deliver_pending(django_capture_on_commit_callbacks)
        assert tasks.staff_emails() == {"composed": 0, "sent": 0}
    with time_machine.travel(london(2026, 6, 10, 12, 0, 5), tick=False):
        assert tasks.staff_emails() == {"composed": 1, "sent": 1}

    first, second = outbox
    assert first.subject == "Redress: 3 notifications"
    assert first.body.count(complaint.reference) == 3
    assert (
        second.subject
        == f"Redress: {complaint.reference} “{complaint.subject}”: teammate added an internal note"
    )
    assert Notification.objects.filter(user=agent, staff_email__isnull=True).count() == 0
    assert StaffEmail.objects.filter(status=EmailStatus.SENT).count() == 2


@pytest.mark.django_db
def test_a_daily_digest_goes_out_at_eight_on_the_users_clock(
    make_complaint, agent, outbox, django_capture_on_commit_callbacks, teammate
):
    wants_email(agent, email_digest="daily")
    complaint = make_complaint()
    deliver_pending(django_capture_on_commit_callbacks)
    with time_machine.travel(london(2026, 6, 10, 9, 30), tick=False):
        acknowledge(complaint, teammate)
        deliver_pending(django_capture_on_commit_callbacks)
    with time_machine.travel(london(2026, 6, 10, 17, 45), tick=False):
        note(complaint, teammate)
        deliver_pending(django_capture_on_commit_callbacks)
        assert tasks.staff_emails() == {"composed": 0, "sent": 0}
    with time_machine.travel(london(2026, 6, 11, 7, 59), tick=False):
        assert tasks.staff_emails() == {"composed": 0, "sent": 0}
    with time_machine.travel(london(2026, 6, 11, 8, 0, 40), tick=False):
        assert tasks.staff_emails() == {"composed": 1, "sent": 1}

    (message,) = outbox
    assert message.subject == "Redress: 2 notifications"
    assert (
        f"2026-06-10 09:30 {complaint.reference} “{complaint.subject}”: teammate acknowledged it"
        in message.body
    )
    assert (
        f"2026-06-10 17:45 {complaint.reference} “{complaint.subject}”: teammate added an internal note"
        in message.body
    )


# -- preference changes ---------------------------------------------------------------------


@pytest.mark.django_db
def test_changing_preferences_reschedules_or_cancels_the_emails_still_owed(
    make_complaint, agent, outbox, django_capture_on_commit_callbacks, teammate
):
    wants_email(agent, email_digest="daily")
    client = api_client(agent)
    complaint = make_complaint()
    deliver_pending(django_capture_on_commit_callbacks)
    with time_machine.travel(london(2026, 6, 10, 9, 30), tick=False):
        acknowledge(complaint, teammate)
        deliver_pending(django_capture_on_commit_callbacks)
    with time_machine.travel(london(2026, 6, 10, 11, 0), tick=False):
        # No more digest: what the day's digest held is due now, in one email.
        assert client.patch(PREFERENCES, {"email_digest": "none"}, format="json").status_code == 200
        assert tasks.staff_emails() == {"composed": 1, "sent": 1}
        note(complaint, teammate)
        client.patch(PREFERENCES, {"email_digest": "hourly"}, format="json")
        # Email turned off: the pending note is never emailed, but stays in the inbox.
        assert client.patch(PREFERENCES, {"via_email": False}, format="json").status_code == 200
        deliver_pending(django_capture_on_commit_callbacks)
    with time_machine.travel(london(2026, 6, 10, 13, 0), tick=False):
        assert tasks.staff_emails() == {"composed": 0, "sent": 0}

    assert len(outbox) == 1
    assert Notification.objects.filter(user=agent).count() == 2
    assert (
        Notification.objects.get(user=agent, event_type="complaint.note_added").email_due_at is None
    )


@pytest.mark.django_db
def test_a_pending_email_is_held_by_quiet_hours_set_after_it_was_scheduled(
    make_complaint, agent, outbox, django_capture_on_commit_callbacks, teammate
):
    wants_email(agent, email_digest="hourly")
    complaint = make_complaint()
    deliver_pending(django_capture_on_commit_callbacks)
    with time_machine.travel(london(2026, 6, 10, 21, 30), tick=False):
        acknowledge(complaint, teammate)
        deliver_pending(django_capture_on_commit_callbacks)
        api_client(agent).patch(
            PREFERENCES,
            {"quiet_hours_start": "21:00", "quiet_hours_end": "08:00"},
            format="json",
        )
    assert Notification.objects.get(user=agent).email_due_at == london(2026, 6, 11, 8, 0)


@pytest.mark.django_db
def test_someone_with_no_address_or_no_account_any_more_gets_no_email_and_nothing_breaks(
    make_complaint, agent, colleague, outbox, django_capture_on_commit_callbacks
):
    wants_email(agent)
    wants_email(colleague)
    type(colleague).objects.filter(pk=colleague.pk).update(email="")
    acknowledge(make_complaint(), agent)
    deliver_pending(django_capture_on_commit_callbacks)
    # The colleague was never scheduled; the agent was, then left before the tick.
    assert Notification.objects.get(user=colleague).email_due_at is None
    type(agent).objects.filter(pk=agent.pk).update(is_active=False)

    assert tasks.staff_emails() == {"composed": 0, "sent": 0}
    assert outbox == []
    assert Notification.objects.filter(email_due_at__isnull=False).count() == 0


# -- failures and races ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_send_stays_queued_and_is_retried_by_the_beat_until_it_goes_once(
    make_complaint, agent, settings, mailoutbox, django_capture_on_commit_callbacks, teammate
):
    settings.EMAIL_BACKEND = FLAKY_BACKEND
    FlakyEmailBackend.failures_left = 2
    wants_email(agent)
    acknowledge(make_complaint(), teammate)
    deliver_pending(django_capture_on_commit_callbacks)

    assert tasks.staff_emails([agent.pk]) == {"composed": 1, "sent": 0}
    email = StaffEmail.objects.get()
    assert (email.status, email.attempts) == (EmailStatus.QUEUED, 1)
    assert "SMTPServerDisconnected" in email.failure_reason
    assert tasks.staff_emails() == {"composed": 0, "sent": 0}
    assert tasks.staff_emails() == {"composed": 0, "sent": 1}
    assert tasks.staff_emails() == {"composed": 0, "sent": 0}

    email.refresh_from_db()
    assert (email.status, email.attempts) == (EmailStatus.SENT, 3)
    assert len(mailoutbox) == 1


@pytest.mark.django_db
def test_an_email_that_never_gets_through_is_marked_failed_after_the_retry_budget(
    make_complaint, agent, settings, mailoutbox, django_capture_on_commit_callbacks, teammate
):
    settings.EMAIL_BACKEND = FLAKY_BACKEND
    FlakyEmailBackend.failures_left = 100
    wants_email(agent)
    acknowledge(make_complaint(), teammate)
    deliver_pending(django_capture_on_commit_callbacks)

    for _ in range(tasks.EMAIL_MAX_RETRIES + 3):
        tasks.staff_emails()

    email = StaffEmail.objects.get()
    assert email.status == EmailStatus.FAILED
    assert email.attempts == tasks.EMAIL_MAX_RETRIES + 1
    # Recorded, not lost: the notification stays linked to the email that failed.
    assert Notification.objects.get(user=agent).staff_email == email
    assert mailoutbox == []


@pytest.mark.django_db(transaction=True)
def test_racing_composers_put_each_notification_in_exactly_one_email(
    make_complaint, agent, colleague, settings, mailoutbox, teammate
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    wants_email(agent, email_digest="hourly")
    wants_email(colleague, email_digest="hourly")
    with time_machine.travel(london(2026, 6, 10, 10, 5), tick=False):
        complaint = make_complaint()
        acknowledge(complaint, teammate)
        for number in range(5):
            note(complaint, teammate, f"Note {number}.")
        for outbox_id in Outbox.objects.order_by("id").values_list("pk", flat=True):
            delivery.deliver(outbox_id)
    owed = Notification.objects.filter(email_due_at__isnull=False).count()
    assert owed == 12  # six events, two people

    start = threading.Barrier(3)
    results, errors = [], []

    def compose():
        try:
            start.wait(timeout=THREAD_JOIN_TIMEOUT_S)
            results.append(tasks.staff_emails())
        except Exception as exc:  # reported below; a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connection.close()

    # time-machine moves the clock of the whole process, these threads' included.
    with time_machine.travel(london(2026, 6, 10, 11, 0, 30), tick=False):
        threads = [threading.Thread(target=compose) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=THREAD_JOIN_TIMEOUT_S)

    assert errors == []
    assert sum(result["sent"] for result in results) == StaffEmail.objects.count()
    linked = Notification.objects.filter(staff_email__isnull=False)
    assert linked.count() == owed
    # One email per person at most per composer that found their rows; never a row twice,
    # and every email was sent once.
    assert all(email.status == EmailStatus.SENT for email in StaffEmail.objects.all())
    assert len(mailoutbox) == StaffEmail.objects.count()
    lines = sum(message.body.count(complaint.reference) for message in mailoutbox)
    assert lines == owed


def test_the_beat_runs_the_staff_email_task_every_minute():
    entry = django_settings.CELERY_BEAT_SCHEDULE["staff-emails"]
    assert entry["task"] == tasks.staff_emails.name == "notifications.staff_emails"
    assert entry["schedule"] == 60.0
    assert tasks.staff_emails.name in celery_app.tasks


# -- the actor ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_nobody_is_told_of_their_own_action_by_inbox_push_or_email(
    make_complaint, agent, colleague, team, outbox, rung, django_capture_on_commit_callbacks
):
    # The agent is told three ways over: assignee, team member, and wants email.
    wants_email(agent)
    wants_email(colleague)
    complaint = make_complaint()
    sla.complaint_assign(complaint=complaint, assignee=agent, reason="test")
    deliver_pending(django_capture_on_commit_callbacks)
    tasks.staff_emails()
    rung.clear()
    outbox.clear()

    note(complaint, agent)
    (event,) = deliver_pending(django_capture_on_commit_callbacks)
    tasks.staff_emails()

    assert list(Notification.objects.filter(outbox_id=event).values_list("user", flat=True)) == [
        colleague.pk
    ]
    pushes = dict(rung[0])
    assert pushes[f"team.{team.pk}"]["to"] == [colleague.pk]
    assert f"user.{agent.pk}" not in pushes
    assert [message.to for message in outbox] == [[colleague.email]]


# -- links ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_emailed_notification_links_to_the_desk_at_the_public_url(
    make_complaint, agent, teammate, outbox, settings, django_capture_on_commit_callbacks
):
    settings.REDRESS_PUBLIC_URL = "https://complaints.example.com"
    wants_email(agent, email_digest="hourly")
    complaint = make_complaint()
    with time_machine.travel(london(2026, 6, 10, 10, 5), tick=False):
        acknowledge(complaint, teammate)
        note(complaint, teammate)
        deliver_pending(django_capture_on_commit_callbacks)
    with time_machine.travel(london(2026, 6, 10, 11, 0, 5), tick=False):
        tasks.staff_emails()

    (message,) = outbox
    told = list(Notification.objects.filter(user=agent, complaint_id=complaint.pk).order_by("id"))
    links = [f"https://complaints.example.com/desk/notifications/{n.pk}/" for n in told]
    assert len(links) == 2
    for line in links:
        assert f"\n  {line}\n" in message.body
    # The link is the desk's "open a notification": it marks it read.
    client = api_client(agent)
    client.force_login(agent)
    response = client.get(links[0].removeprefix("https://complaints.example.com"))
    assert response.status_code == 302
    assert response["Location"] == f"/desk/complaints/{complaint.reference}/"
    opened, other = told
    opened.refresh_from_db()
    other.refresh_from_db()
    assert (opened.read_at is not None, other.read_at) == (True, None)
