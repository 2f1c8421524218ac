"""A mail server outage loses no customer email; a refused address fails at once, told once.

Against a real SMTP server (aiosmtpd, plain SMTP on localhost) through Redress's own SMTP
backend. Time is travelled, never slept on.

Personas (tests/conftest.py): ``agent`` works Billing (``team``) and is the complaint's
assignee, told when its email fails; ``customer_user`` complains and is emailed.
"""

from datetime import timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from notifications import delivery, tasks
from notifications.models import EmailDelivery, EmailStatus, Outbox
from recovery.models import ComplaintEvent, EventType
from recovery.services import sla
from tests.notifications.shipped_templates import ensure_default_templates
from tests.processes import HOST, free_port

REFUSED_ADDRESS = "refuse.me@example.org"


class Relay:
    """A mail relay that takes every email except those to ``REFUSED_ADDRESS``, which it
    refuses as unknown (550 5.1.1), as a real server does at RCPT."""

    def __init__(self, port: int) -> None:
        self.messages = []
        self.controller = Controller(self, hostname=HOST, port=port)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() == REFUSED_ADDRESS:
            return "550 5.1.1 User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture(autouse=True)
def default_templates(db):
    ensure_default_templates()


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    """Tasks handed to the broker after commit, recorded instead of sent."""
    monkeypatch.setattr(delivery, "enqueue", lambda task, *args: None)


@pytest.fixture
def relay_port(settings):
    """Redress's SMTP backend pointed at a port; nothing listens there until a test starts
    a ``Relay`` on it."""
    port = free_port()
    settings.EMAIL_BACKEND = "notifications.smtp.EmailBackend"
    settings.EMAIL_HOST = HOST
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    settings.REDRESS_EMAIL_RETRY_HOURS = 24
    return port


@pytest.fixture
def relay(relay_port):
    server = Relay(relay_port)
    server.controller.start()
    yield server
    server.controller.stop()


@pytest.fixture
def assigned(make_complaint, agent):
    complaint = make_complaint()
    sla.complaint_assign(complaint=complaint, assignee=agent, reason="test")
    return complaint


def receipt_of(complaint) -> EmailDelivery:
    for outbox_id in Outbox.objects.filter(delivered_at__isnull=True).values_list("pk", flat=True):
        delivery.deliver(outbox_id)
    return EmailDelivery.objects.get(complaint_id=complaint.pk, kind="receipt")


def not_delivered_events(complaint):
    return list(
        ComplaintEvent.objects.filter(complaint=complaint, type=EventType.EMAIL_NOT_DELIVERED)
    )


def desk_page(complaint, user) -> str:
    client = Client()
    client.force_login(user)
    return client.get(reverse("desk:complaint", args=[complaint.reference])).content.decode()


@pytest.mark.django_db
def test_an_email_sent_during_an_outage_goes_out_when_the_server_is_back(
    assigned, agent, relay_port
):
    receipt = receipt_of(assigned)

    # The relay is down: the task's quick tries are refused, then the sweep's turn.
    assert tasks.send_email.apply(args=[receipt.pk]).get() is False
    receipt.refresh_from_db()
    assert receipt.status == EmailStatus.QUEUED
    assert receipt.failure_reason == "Mail server unreachable: connection refused"
    assert receipt.next_attempt_at is not None
    page = desk_page(assigned, agent)
    assert "Not sent yet, retrying: Mail server unreachable: connection refused" in page
    assert "next try at" in page
    assert not_delivered_events(assigned) == []

    # An hour later (well past the old two minutes) the relay is back; the sweep sends it.
    with time_machine.travel(receipt.next_attempt_at + timedelta(hours=1), tick=False):
        assert tasks.redeliver()["emails_sent"] == 0  # still down: tried, kept
        receipt.refresh_from_db()
        assert receipt.status == EmailStatus.QUEUED
        server = Relay(relay_port)
        server.controller.start()
        try:
            with time_machine.travel(receipt.next_attempt_at, tick=False):
                assert tasks.redeliver()["emails_sent"] == 1
        finally:
            server.controller.stop()

    receipt.refresh_from_db()
    assert receipt.status == EmailStatus.SENT
    assert receipt.next_attempt_at is None
    assert len(server.messages) == 1
    assert server.messages[0].rcpt_tos == [receipt.recipient]
    assert not_delivered_events(assigned) == []  # nobody was told: nothing was lost
    assert "Not sent yet" not in desk_page(assigned, agent)


@pytest.mark.django_db
def test_an_email_the_server_cannot_take_all_day_fails_at_the_end_and_is_told_once(
    assigned, agent, relay_port
):
    receipt = receipt_of(assigned)
    assert tasks.send_email.apply(args=[receipt.pk]).get() is False
    window_ends = receipt.created_at + timedelta(hours=24)

    # Just before the window's end it is still being tried; nobody is told.
    with time_machine.travel(window_ends - timedelta(minutes=1), tick=False):
        tasks.redeliver()
        receipt.refresh_from_db()
        assert receipt.status == EmailStatus.QUEUED
        assert receipt.next_attempt_at <= window_ends
    assert not_delivered_events(assigned) == []

    with time_machine.travel(window_ends, tick=False):
        tasks.redeliver()
    with time_machine.travel(window_ends + timedelta(hours=1), tick=False):
        tasks.redeliver()  # a failed email is not tried again

    receipt.refresh_from_db()
    assert receipt.status == EmailStatus.FAILED
    (event,) = not_delivered_events(assigned)
    assert event.parameters["diagnostic"] == "Mail server unreachable: connection refused"
    assert event.parameters["permanent"] is False
    assert "Not delivered: Mail server unreachable: connection refused" in desk_page(
        assigned, agent
    )


@pytest.mark.django_db
def test_a_refused_address_fails_at_once_with_a_reason_staff_can_read(
    make_complaint, customer_user, agent, relay
):
    # A name that must be encoded in the header: the reason names the address only.
    customer = customer_user.customer
    customer.name = "Zoë Refusé"
    customer.email = REFUSED_ADDRESS
    customer.save(update_fields=["name", "email"])
    complaint = make_complaint()
    sla.complaint_assign(complaint=complaint, assignee=agent, reason="test")
    receipt = receipt_of(complaint)

    assert tasks.send_email.apply(args=[receipt.pk]).get() is False

    receipt.refresh_from_db()
    reason = f"550 5.1.1 <{REFUSED_ADDRESS}>: User unknown"
    assert receipt.status == EmailStatus.FAILED
    assert receipt.attempts == 1  # no retries: the answer would be the same
    assert receipt.next_attempt_at is None
    assert receipt.failure_reason == reason
    (event,) = not_delivered_events(complaint)
    assert event.parameters["diagnostic"] == reason
    assert event.parameters["permanent"] is True
    page = desk_page(complaint, agent)
    assert escape(f"Not delivered: {reason}") in page
    assert "SMTPRecipientsRefused" not in page
    assert "=?utf-8?" not in page
    assert relay.messages == []
