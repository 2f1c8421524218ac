"""How each person is told of each kind of notification: in-app, email, daily digest, silent.

Personas (tests/conftest.py): ``agent`` and ``colleague`` work ``team`` (Billing), which the
complaints are routed to; ``teammate`` (also on Billing) does what they are told of;
``customer_user`` writes in.
"""

from datetime import time

import pytest
import time_machine

from notifications import delivery, kinds, tasks
from notifications.models import Notification, NotificationPreference
from recovery.models import EventType
from recovery.services import messages
from tests.conftest import acknowledge, api_client
from tests.notifications.test_staff_email import deliver_pending, london, note

pytestmark = pytest.mark.django_db

PREFERENCES = "/api/notifications/preferences/"


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


def choose(user, **by_kind) -> NotificationPreference:
    preference, _ = NotificationPreference.objects.update_or_create(
        user=user, defaults={"by_kind": by_kind, "time_zone": "Europe/London"}
    )
    return preference


def customer_writes(complaint, customer_user, body="Any news?"):
    messages.message_add(complaint=complaint, actor=customer_user, body=body)


def test_every_event_type_has_a_kind_and_the_kinds_people_ask_for_exist():
    for value in EventType.values:
        assert kinds.kind_of(f"complaint.{value}") in kinds.Kind.values
    assert kinds.kind_of("complaint.escalated") == kinds.Kind.ESCALATED
    assert kinds.kind_of("complaint.clock_warning") == kinds.Kind.DEADLINES
    assert kinds.kind_of("complaint.message_added") == kinds.Kind.CUSTOMER
    assert kinds.kind_of("complaint.recovery_approval_requested") == kinds.Kind.APPROVALS
    assert kinds.kind_of("complaint.assigned") == kinds.Kind.ASSIGNED
    assert kinds.kind_of("complaint.received") == kinds.Kind.NEW_COMPLAINT
    # An event type added later is told like "everything else" until it is given a kind.
    assert kinds.kind_of("complaint.something_new") == kinds.Kind.OTHER


def test_silent_leaves_that_kind_out_of_inbox_push_and_email_and_only_that_kind(
    make_complaint,
    agent,
    colleague,
    teammate,
    team,
    customer_user,
    outbox,
    rung,
    django_capture_on_commit_callbacks,
):
    # Email in general, silent for customer messages.
    choose(agent, customer=kinds.Telling.SILENT)
    NotificationPreference.objects.filter(user=agent).update(via_email=True)
    complaint = make_complaint()
    deliver_pending(django_capture_on_commit_callbacks)
    rung.clear()

    customer_writes(complaint, customer_user)
    note(complaint, teammate)
    written, noted = deliver_pending(django_capture_on_commit_callbacks)
    tasks.staff_emails()

    assert not Notification.objects.filter(user=agent, outbox_id=written).exists()
    assert Notification.objects.filter(user=colleague, outbox_id=written).exists()
    assert Notification.objects.filter(user=agent, outbox_id=noted).exists()
    team_pushes = [dict(pushes)[f"team.{team.pk}"] for pushes in rung]
    assert agent.pk not in team_pushes[0]["to"] and colleague.pk in team_pushes[0]["to"]
    assert agent.pk in team_pushes[1]["to"]
    # The one email is about the note, the kind left to the general switch.
    (message,) = outbox
    assert (
        message.subject
        == f"Redress: {complaint.reference} “{complaint.subject}”: teammate added an internal note"
    )


def test_email_for_one_kind_emails_at_once_and_in_app_for_another_does_not(
    make_complaint,
    agent,
    teammate,
    customer_user,
    outbox,
    enqueued,
    django_capture_on_commit_callbacks,
):
    # No email in general (the default); email for customer messages only.
    choose(agent, customer=kinds.Telling.EMAIL, other=kinds.Telling.IN_APP)
    complaint = make_complaint()
    deliver_pending(django_capture_on_commit_callbacks)
    with time_machine.travel(london(2026, 6, 10, 14, 0), tick=False):
        customer_writes(complaint, customer_user)
        note(complaint, teammate)
        written, noted = deliver_pending(django_capture_on_commit_callbacks)
        assert Notification.objects.get(user=agent, outbox_id=written).email_due_at == (
            london(2026, 6, 10, 14, 0)
        )
        assert Notification.objects.get(user=agent, outbox_id=noted).email_due_at is None
        assert ("notifications.staff_emails", ([agent.pk],)) in enqueued
        tasks.staff_emails([agent.pk])

    (message,) = outbox
    assert message.to == [agent.email]
    assert (
        message.subject
        == f"Redress: {complaint.reference} “{complaint.subject}”: the customer wrote"
    )


def test_the_daily_digest_sends_one_email_a_day_with_only_what_was_chosen_for_it(
    make_complaint,
    agent,
    colleague,
    teammate,
    customer_user,
    outbox,
    django_capture_on_commit_callbacks,
):
    choose(agent, customer=kinds.Telling.DAILY_DIGEST, other=kinds.Telling.DAILY_DIGEST)
    choose(colleague, customer=kinds.Telling.DAILY_DIGEST)
    complaint = make_complaint()
    deliver_pending(django_capture_on_commit_callbacks)
    with time_machine.travel(london(2026, 6, 10, 9, 30), tick=False):
        customer_writes(complaint, customer_user, "First.")
        deliver_pending(django_capture_on_commit_callbacks)
    with time_machine.travel(london(2026, 6, 10, 16, 45), tick=False):
        customer_writes(complaint, customer_user, "Second.")
        note(complaint, teammate)
        acknowledge(complaint, teammate)
        deliver_pending(django_capture_on_commit_callbacks)

    # The beat's tick runs every minute; nothing goes before 08:00 the next day.
    with time_machine.travel(london(2026, 6, 11, 7, 59), tick=False):
        assert tasks.staff_emails() == {"composed": 0, "sent": 0}
    with time_machine.travel(london(2026, 6, 11, 8, 0, 30), tick=False):
        assert tasks.staff_emails() == {"composed": 2, "sent": 2}
    with time_machine.travel(london(2026, 6, 11, 8, 1, 30), tick=False):
        assert tasks.staff_emails() == {"composed": 0, "sent": 0}

    by_person = {tuple(message.to): message for message in outbox}
    assert set(by_person) == {(agent.email,), (colleague.email,)}
    mine = by_person[(agent.email,)]
    # Agent: two customer messages, the note and the acknowledgement ("other").
    assert mine.subject == "Redress: 4 notifications"
    theirs = by_person[(colleague.email,)]
    # Supervisor digested customer messages only: note and acknowledgement stay in-app.
    assert theirs.subject == "Redress: 2 notifications"
    assert theirs.body.count("the customer wrote") == 2
    assert "internal note" not in theirs.body


def test_choosing_again_reschedules_what_is_owed_kind_by_kind(
    make_complaint, agent, teammate, customer_user, django_capture_on_commit_callbacks
):
    choose(agent, customer=kinds.Telling.DAILY_DIGEST, other=kinds.Telling.DAILY_DIGEST)
    complaint = make_complaint()
    deliver_pending(django_capture_on_commit_callbacks)
    with time_machine.travel(london(2026, 6, 10, 14, 0), tick=False):
        customer_writes(complaint, customer_user)
        note(complaint, teammate)
        written, noted = deliver_pending(django_capture_on_commit_callbacks)
        client = api_client(agent)
        answer = client.patch(PREFERENCES, {"by_kind": {"other": "in_app"}}, format="json")
        assert answer.status_code == 200

    owed = dict(Notification.objects.filter(user=agent).values_list("outbox_id", "email_due_at"))
    assert owed[written] == london(2026, 6, 11, 8, 0)
    assert owed[noted] is None


def test_quiet_hours_hold_an_email_chosen_for_a_kind(
    make_complaint, agent, customer_user, django_capture_on_commit_callbacks
):
    preference = choose(agent, customer=kinds.Telling.EMAIL)
    preference.quiet_hours_start, preference.quiet_hours_end = time(22, 0), time(7, 0)
    preference.save()
    complaint = make_complaint()
    with time_machine.travel(london(2026, 6, 10, 23, 0), tick=False):
        customer_writes(complaint, customer_user)
        (written,) = deliver_pending(django_capture_on_commit_callbacks)[-1:]
    assert Notification.objects.get(user=agent, outbox_id=written).email_due_at == (
        london(2026, 6, 11, 7, 0)
    )


# -- the API ------------------------------------------------------------------------------------


def test_the_api_sets_choices_by_kind_merging_and_forgetting(agent):
    client = api_client(agent)
    assert client.get(PREFERENCES).json()["by_kind"] == {}

    answer = client.patch(
        PREFERENCES, {"by_kind": {"escalated": "email", "customer": "silent"}}, format="json"
    )
    assert answer.status_code == 200
    assert answer.json()["by_kind"] == {"escalated": "email", "customer": "silent"}

    # Only the kinds sent change; null (or "") forgets one.
    answer = client.patch(
        PREFERENCES, {"by_kind": {"customer": None, "deadlines": "daily_digest"}}, format="json"
    )
    assert answer.json()["by_kind"] == {"escalated": "email", "deadlines": "daily_digest"}
    assert NotificationPreference.objects.get(user=agent).by_kind == answer.json()["by_kind"]


@pytest.mark.parametrize(
    ("by_kind", "named"),
    [
        pytest.param({"everything": "email"}, "everything", id="unknown-kind"),
        pytest.param({"escalated": "pigeon"}, "escalated", id="unknown-choice"),
        pytest.param({"escalated": 3}, "escalated", id="not-a-string"),
        pytest.param("email", "by_kind", id="not-an-object"),
    ],
)
def test_bad_choices_are_a_400_naming_them_and_nothing_changes(agent, by_kind, named):
    choose(agent, escalated=kinds.Telling.EMAIL)

    answer = api_client(agent).patch(PREFERENCES, {"by_kind": by_kind}, format="json")

    assert answer.status_code == 400
    assert "by_kind" in answer.json()["details"]
    assert named in str(answer.json())
    assert NotificationPreference.objects.get(user=agent).by_kind == {"escalated": "email"}
