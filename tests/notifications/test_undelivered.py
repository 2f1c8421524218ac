"""Customer emails our mail server refused to the end: told once, shown, and sent again.

Personas (tests/conftest.py): ``agent`` works Billing (``team``) and is the complaint's
assignee; ``supervisor`` leads Billing and answers for an unassigned complaint;
``other_agent`` works Delivery and may not touch Billing's mail; ``customer_user`` is the
customer whose receipt did not arrive. Bounces (the other way an email fails, through the
same code path) are in test_bounces.py.
"""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from notifications import delivery, emailing, tasks
from notifications.models import EmailDelivery, EmailStatus, Notification, Outbox
from recovery.models import (
    STAFF_ONLY_EVENT_TYPES,
    ComplaintEvent,
    EventType,
    MessageKind,
)
from recovery.services import messages, sla
from tests.conftest import api_client
from tests.notifications.shipped_templates import ensure_default_templates
from tests.notifications.test_delivery import FLAKY_BACKEND, FlakyEmailBackend

REFUSED = "Mail server disconnected: Connection unexpectedly closed"


@pytest.fixture(autouse=True)
def default_templates(db):
    ensure_default_templates()


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    """Tasks handed to the broker after commit, recorded instead of sent."""
    calls: list[tuple[str, tuple]] = []
    monkeypatch.setattr(delivery, "enqueue", lambda task, *args: calls.append((task.name, args)))
    return calls


@pytest.fixture
def refusing_server(settings, mailoutbox):
    """A mail server that never takes the email: every attempt is refused."""
    settings.EMAIL_BACKEND = FLAKY_BACKEND
    FlakyEmailBackend.failures_left = None
    FlakyEmailBackend.calls = 0
    return FlakyEmailBackend


def deliver_pending() -> None:
    for outbox_id in (
        Outbox.objects.filter(delivered_at__isnull=True).order_by("id").values_list("pk", flat=True)
    ):
        delivery.deliver(outbox_id)


def failed_receipt(complaint) -> EmailDelivery:
    """The complaint's receipt, tried through the retry window and refused each time: the
    task's quick retries, then the sweep's, the last at the window's end."""
    deliver_pending()
    receipt = EmailDelivery.objects.get(complaint_id=complaint.pk, kind="receipt")
    return tried_to_the_end(receipt)


def tried_to_the_end(email: EmailDelivery) -> EmailDelivery:
    assert tasks.send_email.apply(args=[email.pk]).get() is False
    email.refresh_from_db()
    assert email.status == EmailStatus.QUEUED  # the failure may pass: tried again later
    window = timedelta(hours=settings.REDRESS_EMAIL_RETRY_HOURS)
    with time_machine.travel(email.created_at + window, tick=False):
        tasks.redeliver()
    email.refresh_from_db()
    assert email.status == EmailStatus.FAILED
    return email


@pytest.fixture
def assigned(make_complaint, agent):
    complaint = make_complaint()
    sla.complaint_assign(complaint=complaint, assignee=agent, reason="test")
    return complaint


def not_delivered_events(complaint) -> list[ComplaintEvent]:
    return list(
        ComplaintEvent.objects.filter(complaint=complaint, type=EventType.EMAIL_NOT_DELIVERED)
    )


# --- telling -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_receipt_refused_through_every_retry_is_told_to_the_assignee_once(
    assigned, agent, supervisor, refusing_server
):
    receipt = failed_receipt(assigned)

    (event,) = not_delivered_events(assigned)
    assert EventType.EMAIL_NOT_DELIVERED in STAFF_ONLY_EVENT_TYPES
    assert event.parameters["cause"] == "smtp"
    assert event.parameters["kind"] == "receipt"
    assert event.parameters["recipient"] == receipt.recipient
    assert event.parameters["diagnostic"] == REFUSED
    assert event.parameters["regulatory_letter"] is False
    row = Outbox.objects.get(payload__timeline_event_id=event.pk)
    # The handler only: not the whole team, never the customer.
    assert row.audience["users"] == [agent.pk]
    assert row.audience["teams"] == []
    assert row.audience["customer"] is None
    deliver_pending()
    (note,) = Notification.objects.filter(outbox=row)
    assert note.user == agent
    assert note.summary == (
        f"{assigned.reference} “{assigned.subject}”: receipt email to {receipt.recipient} "
        f"not delivered ({REFUSED})"
    )
    # A late report of the same failure tells nobody again.
    emailing.record_failure(receipt.pk, "late", final=True)
    assert len(not_delivered_events(assigned)) == 1


@pytest.mark.django_db
def test_an_unassigned_complaints_failed_receipt_goes_to_its_teams_supervisors(
    make_complaint, agent, supervisor, refusing_server
):
    complaint = make_complaint()

    failed_receipt(complaint)

    (event,) = not_delivered_events(complaint)
    row = Outbox.objects.get(payload__timeline_event_id=event.pk)
    assert row.audience["users"] == [supervisor.pk]


@pytest.mark.django_db
def test_a_regulatory_letter_our_server_refused_is_flagged_on_the_complaint(
    make_complaint, agent, refusing_server
):
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    sla.complaint_assign(complaint=complaint, assignee=agent, reason="test")
    deliver_pending()
    letter = messages.complaint_send_holding_reply(
        complaint=complaint, actor=agent, message="We need a little more time."
    )
    assert letter.kind == MessageKind.HOLDING
    deliver_pending()
    ours = tried_to_the_end(EmailDelivery.objects.get(message_id=letter.pk))

    # (The receipt, never tried before the window's end, failed with it.)
    (event,) = [e for e in not_delivered_events(complaint) if e.parameters["email_id"] == ours.pk]
    assert event.parameters["regulatory_letter"] is True
    detail = api_client(agent).get(f"/api/complaints/{complaint.reference}/").json()
    (flagged,) = [e for e in detail["undelivered_emails"] if e["id"] == ours.pk]
    assert (flagged["regulatory_letter"], flagged["failed"], flagged["resendable"]) == (
        True,
        True,
        True,
    )
    client = Client()
    client.force_login(agent)
    page = client.get(reverse("desk:complaint", args=[complaint.reference])).content.decode()
    assert "Regulatory letter not delivered" in page


@pytest.mark.django_db
def test_the_desk_shows_a_failed_receipt_with_its_reason_and_a_resend_button(
    assigned, agent, refusing_server
):
    receipt = failed_receipt(assigned)
    client = Client()
    client.force_login(agent)

    page = client.get(reverse("desk:complaint", args=[assigned.reference])).content.decode()

    assert "Emails that did not reach the customer" in page
    assert f"Not delivered: {REFUSED}" in page
    assert f'name="resend-email" value="{receipt.pk}"' in page
    assert "Resend" in page


# --- resending ---------------------------------------------------------------------------


def resend_url(complaint, email) -> str:
    return f"/api/complaints/{complaint.reference}/emails/{email.pk}/resend/"


@pytest.mark.django_db
def test_resending_queues_a_new_email_recorded_on_the_timeline(
    assigned, agent, refusing_server, enqueued, django_capture_on_commit_callbacks
):
    receipt = failed_receipt(assigned)
    enqueued.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(agent).post(resend_url(assigned, receipt))

    assert response.status_code == 202, response.content
    again = EmailDelivery.objects.get(pk=response.json()["id"])
    assert response.json()["resent_email_id"] == receipt.pk
    assert again.status == EmailStatus.QUEUED
    assert again.resent_from == receipt
    assert (again.kind, again.subject, again.body_text) == (
        receipt.kind,
        receipt.subject,
        receipt.body_text,
    )
    assert again.rfc_message_id != receipt.rfc_message_id
    assert again.recipient == assigned.customer.email
    # The failed one keeps its record; the new attempt goes to the broker after commit.
    receipt.refresh_from_db()
    assert receipt.status == EmailStatus.FAILED
    assert [call for call in enqueued if call[0] == "notifications.send_email"] == [
        ("notifications.send_email", (again.pk,))
    ]
    event = ComplaintEvent.objects.get(complaint=assigned, type=EventType.EMAIL_RESENT)
    assert EventType.EMAIL_RESENT in STAFF_ONLY_EVENT_TYPES
    assert event.actor == agent
    assert event.parameters["email_id"] == again.pk
    assert event.parameters["resent_email_id"] == receipt.pk
    assert event.parameters["previous_reason"] == REFUSED
    # The complaint no longer lists the failed receipt: its new attempt stands for it.
    detail = api_client(agent).get(f"/api/complaints/{assigned.reference}/").json()
    assert receipt.pk not in [email["id"] for email in detail["undelivered_emails"]]


@pytest.mark.django_db
def test_a_resent_email_goes_out_and_threads_like_any_other(
    assigned, agent, refusing_server, settings
):
    receipt = failed_receipt(assigned)
    again = api_client(agent).post(resend_url(assigned, receipt)).json()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    assert tasks.send_email.apply(args=[again["id"]]).get() is True

    (sent,) = mail.outbox
    assert sent.to[0].endswith(f"<{assigned.customer.email}>") or sent.to == [
        assigned.customer.email
    ]
    assert EmailDelivery.objects.get(pk=again["id"]).status == EmailStatus.SENT


@pytest.mark.django_db
def test_a_resend_of_an_email_queued_sent_or_resent_already_is_a_409(
    assigned, agent, refusing_server
):
    receipt = failed_receipt(assigned)
    client = api_client(agent)
    again = client.post(resend_url(assigned, receipt)).json()
    queued = EmailDelivery.objects.get(pk=again["id"])

    twice = client.post(resend_url(assigned, receipt))
    still_queued = client.post(resend_url(assigned, queued))
    EmailDelivery.objects.filter(pk=queued.pk).update(status=EmailStatus.SENT)
    delivered = client.post(resend_url(assigned, queued))

    assert twice.status_code == 409
    assert f"resent already, as email #{queued.pk}" in twice.json()["message"]
    assert still_queued.status_code == 409
    assert "already queued" in still_queued.json()["message"]
    assert delivered.status_code == 409
    assert "delivered" in delivered.json()["message"]
    assert EmailDelivery.objects.filter(complaint_id=assigned.pk).count() == 2
    assert (
        ComplaintEvent.objects.filter(complaint=assigned, type=EventType.EMAIL_RESENT).count() == 1
    )


@pytest.mark.django_db
def test_only_staff_who_work_the_complaint_may_resend(
    assigned, other_agent, customer_user, refusing_server, make_complaint, agent
):
    receipt = failed_receipt(assigned)
    elsewhere = make_complaint(subject="Another matter")

    outsider = api_client(other_agent).post(resend_url(assigned, receipt))
    customer = api_client(customer_user).post(resend_url(assigned, receipt))
    # Another complaint's URL cannot reach this complaint's email.
    wrong_complaint = api_client(agent).post(resend_url(elsewhere, receipt))

    assert outsider.status_code in (403, 404)
    assert customer.status_code in (403, 404)
    assert wrong_complaint.status_code == 404
    assert not EmailDelivery.objects.filter(resent_from=receipt).exists()


@pytest.mark.django_db
def test_the_desk_resend_button_queues_the_email_again(assigned, agent, refusing_server):
    receipt = failed_receipt(assigned)
    client = Client()
    client.force_login(agent)
    url = reverse("desk:resend-email", args=[assigned.reference])

    response = client.post(url, {"resend-email": receipt.pk})
    again = client.post(url, {"resend-email": receipt.pk})

    assert response.status_code == 302
    assert EmailDelivery.objects.get(resent_from=receipt).status == EmailStatus.QUEUED
    assert again.status_code == 409
    assert "resent already" in again.content.decode()
