"""Bounces of our customer emails (notifications.bounce_parsing, notifications.bounces).

Each test takes a real bounce from the shared corpus and makes it return one of our emails
by putting that email's Message-ID where the bounce names the returned message.
"""

from __future__ import annotations

import logging
import os
import threading
from email.utils import make_msgid
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from notifications import delivery
from notifications.bounce_parsing import parse_bounce
from notifications.ingest import UNKNOWN_BOUNCE, ingest, ingest_message
from notifications.models import (
    EmailDelivery,
    EmailStatus,
    InboundStatus,
    MessageTemplateKind,
    Notification,
    Outbox,
)
from recovery.models import (
    STAFF_ONLY_EVENT_TYPES,
    Complaint,
    ComplaintEvent,
    EventType,
    Message,
    MessageDirection,
    MessageKind,
)
from tests.conftest import acknowledge, api_client

_DATA = Path(
    os.environ.get("REDRESS_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data"
)
EMAILS = _DATA / "emails"
pytestmark = pytest.mark.skipif(
    not (EMAILS / "manifest.csv").is_file(),
    reason=f"shared email corpus not found at {EMAILS}; set REDRESS_SHARED_DATA",
)

# Corpus bounce → the Message-ID it names for the returned email.
ZED = ("flanker/bounce_zed.eml", "20090708054735.GC7578@example.com")  # message/rfc822
AOL_FULL = ("flanker/bounce_mailbox-full.eml", "4E326A95.3010907@example.com")  # headers only
NO_MX = ("flanker/bounce_no-mx.eml", "19E44CA63F984902B7D654F8FF40F89D@bo")  # delayed, 4.4.4
GMAIL = (  # no DSN part: X-Failed-Recipients, the original quoted as text
    "flanker/bounce_gmail-invalid-address.eml",
    "CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com",
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _bounce_of(sample: tuple[str, str], ours: EmailDelivery) -> bytes:
    name, returned_id = sample
    raw = (EMAILS / name).read_bytes()
    assert returned_id.encode() in raw
    return raw.replace(returned_id.encode(), ours.rfc_message_id.strip("<>").encode())


def _sent(complaint: Complaint, kind=MessageTemplateKind.ACKNOWLEDGEMENT, message=None):
    """The email we sent the customer for the complaint's latest event."""
    outbox = Outbox.objects.filter(complaint_id=complaint.pk).order_by("-id").first()
    return EmailDelivery.objects.create(
        outbox=outbox,
        complaint_id=complaint.pk,
        message_id=message.pk if message else None,
        recipient=complaint.customer.email,
        kind=kind,
        subject=f"About your complaint {complaint.reference}",
        body_text="...",
        rfc_message_id=make_msgid(idstring=complaint.reference, domain="redress.invalid"),
        status=EmailStatus.SENT,
    )


@pytest.fixture
def acknowledged(make_complaint, agent):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    Complaint.objects.filter(pk=complaint.pk).update(assignee=agent)
    complaint.refresh_from_db()
    return complaint


def _acknowledgement(complaint):
    return complaint.messages.get(kind=MessageKind.ACKNOWLEDGEMENT)


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "status", "permanent", "diagnostic"),
    [
        (ZED, "5.1.1", True, "550-5.1.1 The email account that you tried to reach does not"),
        (AOL_FULL, "5.2.2", True, "552 5.2.2 E4.12 user MAILBOX FULL"),
        (NO_MX, "4.4.4", False, "454 4.4.4 [internal] no MX or A for domain"),
        (GMAIL, "5.1.0", True, "550 5.1.0 Recipient rejected"),
    ],
)
def test_corpus_bounces_name_the_returned_email_and_why(sample, status, permanent, diagnostic):
    bounce = parse_bounce((EMAILS / sample[0]).read_bytes())

    assert bounce is not None
    assert bounce.original_message_ids == (sample[1],)
    assert bounce.status == status
    assert bounce.permanent is permanent
    assert bounce.diagnostic.startswith(diagnostic)


@pytest.mark.parametrize(
    "name",
    [
        "flanker/disposition-notification.eml",  # a read receipt
        "flanker/complaints_aol.eml",  # a spam report (ARF)
        "flanker/long-links.eml",  # a person writing from a postmaster address
        "cpython-test_email/msg_01.eml",
    ],
)
def test_reports_that_are_not_bounces_and_ordinary_mail_are_not_bounces(name):
    assert parse_bounce((EMAILS / name).read_bytes()) is None


def test_garbage_is_no_bounce_and_raises_nothing():
    assert parse_bounce(b"\x00\xff" * 100) is None
    assert (
        parse_bounce(b"Content-Type: multipart/report; report-type=delivery-status\n\n") is not None
    )


# --- recording -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_permanent_bounce_marks_our_email_failed_and_tells_the_assignee(acknowledged, agent):
    ours = _sent(acknowledged, message=_acknowledgement(acknowledged))
    complaints, customer_emails = Complaint.objects.count(), EmailDelivery.objects.count()

    result = ingest_message(_bounce_of(ZED, ours), source="test")

    assert result.inbound.status == InboundStatus.BOUNCE
    assert result.reference == acknowledged.reference
    assert result.outcome == "bounce"
    assert f"our acknowledgement email {ours.rfc_message_id}" in result.inbound.reason
    ours.refresh_from_db()
    assert ours.status == EmailStatus.FAILED
    assert ours.bounce_status == "5.1.1"
    assert ours.bounce_permanent is True
    assert ours.bounced_at is not None
    assert ours.bounce_email_id == result.inbound.pk
    assert ours.failure_reason.startswith("550-5.1.1 The email account")
    # Never a complaint, never a receipt: nothing new for the customer.
    assert Complaint.objects.count() == complaints
    assert EmailDelivery.objects.count() == customer_emails
    event = ComplaintEvent.objects.get(complaint=acknowledged, type=EventType.EMAIL_NOT_DELIVERED)
    assert EventType.EMAIL_NOT_DELIVERED in STAFF_ONLY_EVENT_TYPES
    assert event.parameters["status"] == "5.1.1"
    assert event.parameters["permanent"] is True
    assert event.parameters["regulatory_letter"] is False
    assert event.parameters["message_id"] == _acknowledgement(acknowledged).pk
    row = Outbox.objects.get(payload__timeline_event_id=event.pk)
    assert row.event_type == "complaint.email_not_delivered"
    assert row.audience["customer"] is None
    assert agent.pk in row.audience["users"]
    # Delivered through the staff notification path: the assignee's inbox says what and why.
    delivery.deliver(row.pk)
    summary = Notification.objects.get(user=agent, outbox=row).summary
    # Which email, to whom, and why, with the complaint's reference and subject.
    assert summary.startswith(
        f"{acknowledged.reference} “{acknowledged.subject}”: acknowledgement email to "
        f"{ours.recipient} not delivered (550-5.1.1 The email"
    )


@pytest.mark.django_db
def test_an_unassigned_complaints_bounce_goes_to_its_teams_supervisors(
    make_complaint, agent, supervisor
):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    ours = _sent(complaint)

    ingest(_bounce_of(AOL_FULL, ours), source="test")

    event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.EMAIL_NOT_DELIVERED)
    row = Outbox.objects.get(payload__timeline_event_id=event.pk)
    assert row.audience["users"] == [supervisor.pk]
    ours.refresh_from_db()
    assert (ours.status, ours.bounce_status) == (EmailStatus.FAILED, "5.2.2")


@pytest.mark.django_db
def test_a_delay_notice_is_transient_and_leaves_the_email_sent(acknowledged):
    ours = _sent(acknowledged)

    inbound = ingest(_bounce_of(NO_MX, ours), source="test")

    assert inbound.status == InboundStatus.BOUNCE
    ours.refresh_from_db()
    assert ours.status == EmailStatus.SENT  # the server is still trying
    assert (ours.bounce_status, ours.bounce_permanent) == ("4.4.4", False)
    # The email may still arrive: nobody is told, and the timeline does not call it
    # undelivered.
    assert not ComplaintEvent.objects.filter(
        complaint=acknowledged, type=EventType.EMAIL_NOT_DELIVERED
    ).exists()


@pytest.mark.django_db
def test_a_non_standard_bounce_is_matched_by_the_quoted_message_id(acknowledged):
    ours = _sent(acknowledged)

    inbound = ingest(_bounce_of(GMAIL, ours), source="test")

    assert inbound.status == InboundStatus.BOUNCE
    ours.refresh_from_db()
    assert (ours.status, ours.bounce_status) == (EmailStatus.FAILED, "5.1.0")


@pytest.mark.django_db
def test_a_bounce_of_mail_we_never_sent_is_ignored_and_logged(acknowledged, caplog):
    caplog.set_level(logging.INFO, logger="notifications.ingest")
    raw = (EMAILS / ZED[0]).read_bytes()
    events = ComplaintEvent.objects.count()

    result = ingest_message(raw, source="test")

    assert result.inbound.status == InboundStatus.IGNORED
    assert result.inbound.reason == f"{UNKNOWN_BOUNCE}: it returns <{ZED[1]}>"
    assert result.outcome == "unknown bounce"
    assert "bounce of no email of ours" in caplog.text
    assert ComplaintEvent.objects.count() == events


@pytest.mark.django_db
def test_the_same_bounce_twice_is_recorded_once(acknowledged):
    ours = _sent(acknowledged)
    raw = _bounce_of(ZED, ours)

    ingest(raw, source="imap")
    again = ingest_message(raw, source="webhook")

    assert again.duplicate
    assert (
        ComplaintEvent.objects.filter(
            complaint=acknowledged, type=EventType.EMAIL_NOT_DELIVERED
        ).count()
        == 1
    )


@pytest.mark.django_db
def test_a_second_bounce_of_an_email_already_failed_is_recorded_and_told_to_nobody(acknowledged):
    ours = _sent(acknowledged)

    ingest(_bounce_of(ZED, ours), source="test")
    ingest(_bounce_of(AOL_FULL, ours), source="test")

    ours.refresh_from_db()
    assert (ours.status, ours.bounce_status) == (EmailStatus.FAILED, "5.2.2")  # the latest
    (event,) = ComplaintEvent.objects.filter(
        complaint=acknowledged, type=EventType.EMAIL_NOT_DELIVERED
    )
    assert event.parameters["cause"] == "bounce"
    assert event.parameters["status"] == "5.1.1"


# --- regulatory letters, the desk and the API ------------------------------------------------


@pytest.fixture
def written_response(make_complaint, agent):
    """A complaint under the FCA's rules whose written response bounced."""
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    acknowledge(complaint, agent)
    Complaint.objects.filter(pk=complaint.pk).update(assignee=agent)
    complaint.refresh_from_db()
    letter = Message.objects.create(
        complaint=complaint,
        direction=MessageDirection.OUTBOUND,
        kind=MessageKind.WRITTEN_RESPONSE,
        channel=complaint.channel,
        author=agent,
        body="We need more time; we expect to answer by 20 December.",
    )
    ours = _sent(complaint, MessageTemplateKind.WRITTEN_RESPONSE, letter)
    ingest(_bounce_of(ZED, ours), source="test")
    return complaint, letter


@pytest.mark.django_db
def test_a_bounced_regulatory_letter_is_flagged_in_the_api(written_response, agent, customer_user):
    complaint, letter = written_response

    detail = api_client(agent).get(f"/api/complaints/{complaint.reference}/")

    assert detail.status_code == 200
    [undelivered] = detail.json()["undelivered_emails"]
    assert undelivered["message_id"] == letter.pk
    assert undelivered["kind"] == "written_response"
    assert undelivered["regulatory_letter"] is True
    assert undelivered["failed"] is True
    assert undelivered["permanent"] is True
    assert undelivered["status_code"] == "5.1.1"
    event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.EMAIL_NOT_DELIVERED)
    assert event.parameters["regulatory_letter"] is True
    # The customer sees neither the bounce nor its event.
    theirs = api_client(customer_user).get(f"/api/complaints/{complaint.reference}/").json()
    assert theirs["undelivered_emails"] == []
    assert "email_not_delivered" not in [row["type"] for row in theirs["timeline"]]


@pytest.mark.django_db
def test_the_desk_shows_the_bounce_beside_the_message_and_the_letter_prominently(
    written_response, agent
):
    complaint, _ = written_response
    client = Client()
    client.force_login(agent)

    page = client.get(reverse("desk:complaint", args=[complaint.reference])).content.decode()

    assert "Regulatory letter not delivered" in page
    assert "Not delivered: 550-5.1.1 The email account" in page
    assert 'class="undelivered"' in page


# --- the webhook -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_bounce_through_the_webhook_is_recorded(acknowledged, settings):
    settings.REDRESS_INBOUND_SECRET = "secret"
    ours = _sent(acknowledged)

    response = api_client().post(
        "/api/inbound-email/",
        data=_bounce_of(AOL_FULL, ours),
        content_type="message/rfc822",
        HTTP_X_REDRESS_INBOUND_SECRET="secret",
    )

    assert response.status_code == 202
    assert response.json()["status"] == "bounce"
    assert response.json()["reference"] == acknowledged.reference
    ours.refresh_from_db()
    assert ours.status == EmailStatus.FAILED


@pytest.mark.django_db
@pytest.mark.parametrize(
    "source",
    [
        "cpython-test_email/msg_25.eml",  # no boundary in the report
        "flanker/bounce_delayed-broken.eml",
        b"From: MAILER-DAEMON@example.net\r\nContent-Type: multipart/report; "
        b"report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: "
        b"message/delivery-status\r\n\r\nAction: failed\r\nStatus: 5.9.9.9.9\r\n--x",
    ],
    ids=["no-boundary", "delayed-broken", "bad-status"],
)
def test_a_malformed_bounce_through_the_webhook_is_stored_never_a_500(source, settings):
    # Read when the test runs, not when it is collected: without the corpus the module is
    # skipped rather than failing to import.
    raw = source if isinstance(source, bytes) else (EMAILS / source).read_bytes()
    settings.REDRESS_INBOUND_SECRET = "secret"

    response = api_client().post(
        "/api/inbound-email/",
        data=raw,
        content_type="message/rfc822",
        HTTP_X_REDRESS_INBOUND_SECRET="secret",
    )

    assert response.status_code == 202
    assert response.json()["status"] in (InboundStatus.IGNORED, InboundStatus.QUARANTINED)
    assert not Complaint.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_ingests_of_one_bounce_record_it_once(acknowledged, monkeypatch):
    from notifications import ingest as ingest_module

    ours = _sent(acknowledged)
    raw = _bounce_of(ZED, ours)
    barrier = threading.Barrier(2, timeout=10)
    real_parse = ingest_module.parse_message

    def parse_then_wait(raw):
        # Both threads leave parsing together: both find nothing stored and race to insert.
        parsed = real_parse(raw)
        barrier.wait()
        return parsed

    monkeypatch.setattr(ingest_module, "parse_message", parse_then_wait)
    results = []

    def run():
        try:
            results.append(ingest_message(raw, source=threading.current_thread().name))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, name=f"worker-{n}") for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(result.duplicate for result in results) == [False, True]
    assert (
        ComplaintEvent.objects.filter(
            complaint=acknowledged, type=EventType.EMAIL_NOT_DELIVERED
        ).count()
        == 1
    )


@pytest.mark.django_db
def test_a_delayed_regulatory_letter_is_shown_as_delayed_not_as_undelivered(make_complaint, agent):
    """A delay notice says the receiving side still tries: the letter may arrive, so no
    alert, no Resend, no timeline event and no notification."""
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    acknowledge(complaint, agent)
    Complaint.objects.filter(pk=complaint.pk).update(assignee=agent)
    complaint.refresh_from_db()
    letter = Message.objects.create(
        complaint=complaint,
        direction=MessageDirection.OUTBOUND,
        kind=MessageKind.WRITTEN_RESPONSE,
        channel=complaint.channel,
        author=agent,
        body="We need more time; we expect to answer by 20 December.",
    )
    ours = _sent(complaint, MessageTemplateKind.WRITTEN_RESPONSE, letter)
    told = Outbox.objects.count()

    ingest(_bounce_of(NO_MX, ours), source="test")

    client = Client()
    client.force_login(agent)
    page = client.get(reverse("desk:complaint", args=[complaint.reference])).content.decode()
    assert "Delivery delayed" in page
    assert "Regulatory letter not delivered" not in page
    assert "Not delivered" not in page
    assert f'name="resend-email" value="{ours.pk}"' not in page
    assert not ComplaintEvent.objects.filter(
        complaint=complaint, type=EventType.EMAIL_NOT_DELIVERED
    ).exists()
    assert Outbox.objects.count() == told
