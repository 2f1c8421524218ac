"""Customer email against real mail servers: what Redress sends, and what comes back.

Outbound: every kind of customer email (``MessageTemplateKind``, all of them) goes out through
the production path, ``deliver`` then the ``send_email`` task, to an aiosmtpd server that
takes mail only after STARTTLS and a login (tests/mailservers.py), and is parsed back from
the bytes that server received, as the customer's mail program would.

One test runs the whole fast path in production form: the change commits, the outbox row goes
to Redis, a real Celery worker configured by environment variables alone delivers it and sends
the receipt. The others run the ``send_email`` task in this process: the SMTP conversation is
the same, and they need no worker start.

Inbound: the customer's first email, their reply, a stranger's copy of it and a delivery
status notification go into a real Dovecot mailbox and are read by ``manage.py ingest_email``
over IMAPS, verified against the test CA.

The customer is ``Zoë O'Brien & Sons <"quotes">``, and their words and the agent's carry
``&``, ``'``, ``"`` and ``<``: no layer may escape the text part or leave the HTML raw.
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import timedelta
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from html import escape
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from notifications import delivery, emailing
from notifications.models import (
    EmailDelivery,
    EmailStatus,
    InboundEmail,
    InboundStatus,
    MessageTemplateKind,
    Outbox,
)
from notifications.replay import tracking_token
from notifications.tasks import send_email
from recovery import roles
from recovery.models import (
    Complaint,
    ComplaintEvent,
    EventType,
    MessageDirection,
    RecoveryAction,
    RecoveryStatus,
)
from recovery.services import intake, lifecycle, merge, messages, remedies, tracking_links
from tests.mailservers import Smtpd
from tests.notifications.shipped_templates import ensure_default_templates
from tests.processes import HOST, Child, subprocess_environment, wait_until_worker_idle

# Starts real servers: with the other real-service tests, in one xdist process.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]

NAME = "Zoë O'Brien & Sons <\"quotes\">"  # fmt: skip
ADDRESS = "zoe.obrien@example.org"
STRANGER = "someone.else@example.net"
SUBJECT = "The \"late\" fee & O'Brien's <b>bold</b> charge"  # fmt: skip
BODY = 'You charged a "late" fee & I\'d paid on time. <b>Refund it</b>, please.'
SAID = "We've looked at the \"late\" fee & it's <b>wrong</b>; O'Brien & Sons are right."
FIRST_MESSAGE_ID = "first.zoe-1@mail.example.org"
PASSWORD_VARIABLE = "TEST_IMAP_PASSWORD"
# Which kinds are sent without a person writing them (emailing.AUTOMATIC_KINDS, RFC 3834).
AUTOMATIC = {
    MessageTemplateKind.RECEIPT,
    MessageTemplateKind.ACKNOWLEDGEMENT,
    MessageTemplateKind.SURVEY_INVITATION,
}
# Kinds whose text carries no words of the agent's (the receipt and survey say their own).
# A re-issued tracking link carries the staff's reason on the timeline, not in the email;
# a recovery decision keeps the approver's reason with staff.
WITHOUT_AGENTS_WORDS = {
    MessageTemplateKind.RECEIPT,
    MessageTemplateKind.SURVEY_INVITATION,
    MessageTemplateKind.TRACKING_LINK,
    MessageTemplateKind.RECOVERY_DECISION,
    # The reason for a merge is the staff's, kept on the timeline; the email says what merged.
    MessageTemplateKind.COMPLAINTS_MERGED,
}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def smtpd(tmp_path):
    server = Smtpd(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def smtp_settings(settings, smtpd):
    """Redress's own SMTP backend pointed at the test server, STARTTLS with its CA."""
    settings.EMAIL_BACKEND = "notifications.smtp.EmailBackend"
    settings.EMAIL_HOST = smtpd.host
    settings.EMAIL_PORT = smtpd.port
    settings.EMAIL_HOST_USER = smtpd.user
    settings.EMAIL_HOST_PASSWORD = smtpd.password
    settings.EMAIL_USE_TLS = True
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    settings.EMAIL_SSL_CERTFILE = None
    settings.EMAIL_SSL_KEYFILE = None
    settings.REDRESS_EMAIL_CA_FILE = str(smtpd.ca_file)
    return settings


@pytest.fixture
def templates(db):
    """The shipped templates: every subject is the complaint's one subject, the reference and
    the customer's own words (``[RDR-…] <subject>``)."""
    ensure_default_templates()


@pytest.fixture
def mailbox(dovecot, monkeypatch):
    monkeypatch.setenv(PASSWORD_VARIABLE, dovecot.password)
    return dovecot


def _ingest_over_imaps(dovecot, *, trusted: bool = True) -> str:
    args = ["--imap", dovecot.host, "--ssl", "--port", str(dovecot.imaps_port)]
    args += ["--user", dovecot.user, "--password-env", PASSWORD_VARIABLE]
    if trusted:
        args += ["--ca-file", str(dovecot.ca_file)]
    out = StringIO()
    call_command("ingest_email", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _first_email() -> bytes:
    message = EmailMessage()
    message["From"] = Address(display_name=NAME, addr_spec=ADDRESS)
    message["To"] = "complaints@redress.invalid"
    message["Subject"] = SUBJECT
    message["Message-ID"] = f"<{FIRST_MESSAGE_ID}>"
    message["Date"] = "Mon, 07 Dec 2026 09:00:00 +0000"
    message.set_content(BODY)
    return message.as_bytes()


def _raw_headers(smtpd: Smtpd, row: EmailDelivery) -> list[str]:
    """The header lines of ``row``'s email as they travelled, unfolded."""
    [raw] = [
        m.content
        for m in smtpd.messages
        if _id(message_from_bytes(m.content, policy=policy.default)["Message-ID"])
        == row.rfc_message_id
    ]
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # 8-bit in a header would fail here
    return head.replace("\r\n ", " ").replace("\r\n\t", " ").split("\r\n")


def _deliver_and_send(smtpd: Smtpd) -> list[tuple[EmailDelivery, EmailMessage]]:
    """Deliver pending events, send each email they queued through the ``send_email`` task,
    and parse what the SMTP server received: (row, parsed message) each, in order."""
    sent = []
    pending = Outbox.objects.filter(delivered_at__isnull=True).order_by("id")
    for outbox_id in pending.values_list("pk", flat=True):
        delivery.deliver(outbox_id)
        for row in EmailDelivery.objects.filter(outbox_id=outbox_id, status=EmailStatus.QUEUED):
            received = len(smtpd.messages)
            assert send_email.apply(args=[row.pk]).get() is True
            row.refresh_from_db()
            assert row.status == EmailStatus.SENT, row.failure_reason
            [envelope] = smtpd.messages[received:]
            assert envelope.rcpt_tos == [ADDRESS]
            sent.append((row, message_from_bytes(envelope.content, policy=policy.default)))
    return sent


@pytest.fixture
def emailed_complaint(templates, smtp_settings, smtpd, mailbox):
    """The customer's first email read from the mailbox; its receipt received by the server."""
    mailbox.deliver(_first_email())
    assert "1 accepted" in _ingest_over_imaps(mailbox)
    complaint = Complaint.objects.select_related("customer").get(
        pk=InboundEmail.objects.get().complaint_id
    )
    [(receipt_row, receipt)] = _deliver_and_send(smtpd)
    assert receipt_row.kind == MessageTemplateKind.RECEIPT
    return complaint, receipt_row, receipt


def _works_its_team(agent, complaint: Complaint) -> None:
    """The agent joins the team the complaint was routed to: only its team works it
    (recovery.access)."""
    complaint.team.members.add(agent)


def _letter_complaint(agent, profile: str) -> Complaint:
    """Another complaint of the same customer, under a regulatory profile that has letters."""
    complaint, _ = intake.complaint_submit(
        actor=agent,
        intake=intake.ComplaintIntake(
            subject=SUBJECT,
            description=BODY,
            customer=intake.CustomerDetails(name=NAME, email=ADDRESS),
            regulatory_profile=profile,
        ),
    )
    _works_its_team(agent, complaint)
    return lifecycle.complaint_acknowledge(
        complaint=complaint,
        actor=agent,
        message=f"{SAID} Your reference is {complaint.reference}.",
        next_steps="We'll write by Friday.",
    )


@pytest.fixture
def every_kind(emailed_complaint, agent, supervisor, root_causes, smtpd):
    """Every customer email kind, as received by the SMTP server: the emailed complaint's
    whole life, and the two regulatory letters on complaints of profiles that have them."""
    complaint, receipt_row, receipt = emailed_complaint
    _works_its_team(agent, complaint)
    lifecycle.complaint_acknowledge(
        complaint=complaint,
        actor=agent,
        message=f"{SAID} Your reference is {complaint.reference}.",
        next_steps="We'll reply by Friday & call you.",
    )
    emails = _deliver_and_send(smtpd)
    messages.message_add(complaint=complaint, actor=agent, body=SAID)
    emails += _deliver_and_send(smtpd)
    messages.complaint_send_holding_reply(complaint=complaint, actor=agent, message=SAID)
    emails += _deliver_and_send(smtpd)
    lifecycle.complaint_resolve(
        complaint=complaint,
        actor=agent,
        outcome="upheld",
        summary=SAID,
        root_causes=["billing.duplicate-charge"],
    )
    emails += _deliver_and_send(smtpd)
    lifecycle.complaint_close_loop(
        complaint=complaint,
        actor=agent,
        what_we_found=SAID,
        what_we_did='Refunded the "late" fee & apologised.',
        what_will_change="Fees won't be charged twice.",
    )
    emails += _deliver_and_send(smtpd)
    tracking_links.tracking_link_reissue(complaint=complaint, actor=agent, reason=SAID)
    emails += _deliver_and_send(smtpd)
    # A recovery that still awaited approval when the loop closed (as complaints closed
    # before closing waited for decisions were left), decided now.
    waiting = RecoveryAction.objects.create(
        complaint=complaint,
        type="refund",
        amount="80.00",
        currency="GBP",
        status=RecoveryStatus.AWAITING_APPROVAL,
        approver_role=roles.SUPERVISOR,
        proposed_by=agent,
    )
    _works_its_team(supervisor, complaint)
    remedies.recovery_decide(action_id=waiting.pk, actor=supervisor, approve=True, reason=SAID)
    emails += _deliver_and_send(smtpd)
    life = [(receipt_row, receipt), *emails]

    written = _letter_complaint(agent, "uk_fca_disp")
    messages.complaint_send_written_response(
        complaint=written,
        actor=agent,
        reason=SAID,
        expected_by=timezone.localdate() + timedelta(days=30),
    )
    delayed = _letter_complaint(agent, "au_asic_rg271_credit")
    messages.complaint_send_delay_notification(complaint=delayed, actor=agent, reason=SAID)
    letters = _deliver_and_send(smtpd)
    # The same customer's two complaints, one a duplicate of the other: merged, told once.
    # (Filed by staff, each was put under a provisional customer of that address.)
    Complaint.objects.filter(pk=delayed.pk).update(customer_id=written.customer_id)
    delayed.refresh_from_db()
    _works_its_team(supervisor, written)
    merge.complaint_merge(survivor=written, duplicate=delayed, actor=supervisor, reason=SAID)
    letters += _deliver_and_send(smtpd)

    by_kind: dict[str, tuple[EmailDelivery, EmailMessage]] = {}
    for row, parsed in [*life, *letters]:
        by_kind.setdefault(row.kind, (row, parsed))
    return complaint, by_kind, life


def _reference_of(row: EmailDelivery) -> str:
    return Complaint.objects.values_list("reference", flat=True).get(pk=row.complaint_id)


def _parts(parsed: EmailMessage) -> tuple[str, str]:
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    # SMTP carries lines ending in CRLF; a mail program shows them as line breaks.
    return _lines(text.get_content()), _lines(html.get_content())


def _lines(content: str) -> str:
    return content.replace("\r\n", "\n")


def _id(header) -> str:
    # A long Message-ID is folded onto a line of its own: unfolded, it keeps the space.
    return str(header).strip()


# --- outbound ----------------------------------------------------------------------------------


def test_every_kind_of_customer_email_arrives_literal_in_text_and_escaped_in_html(every_kind):
    _, by_kind, _ = every_kind
    # Every kind the code has: a new kind fails here until this test sends it too.
    assert set(by_kind) == set(MessageTemplateKind.values)

    for kind, (row, parsed) in by_kind.items():
        text, html = _parts(parsed)
        assert parsed["Subject"] == row.subject, kind
        # One subject per complaint, whatever the kind: Gmail threads by subject too.
        assert parsed["Subject"] == f"[{_reference_of(row)}] {SUBJECT}", kind
        assert text.startswith(f"Dear {NAME},\n"), kind
        assert f"Dear {escape(NAME)},</p>" in html, kind
        assert "&amp;" in html and "&lt;" in html, kind
        if kind not in WITHOUT_AGENTS_WORDS:
            assert SAID in text, kind
            assert escape(SAID) in html, kind
        for escaped in ("&amp;", "&#x27;", "&quot;", "&lt;", "&gt;"):
            assert escaped not in text, kind
            assert escaped not in parsed["Subject"], kind
        assert '<"quotes">' not in html, kind
        assert "<b>" not in html, kind


def test_every_kind_is_addressed_identified_and_marked_as_it_should_be(every_kind, smtpd):
    _, by_kind, _ = every_kind

    for kind, (row, parsed) in by_kind.items():
        [to] = parsed["To"].addresses
        assert to.addr_spec == ADDRESS, kind
        assert to.display_name == NAME, kind
        # On the wire the name is one RFC 2047 encoded word: it holds "ë", "<" and quotes.
        raw_to = next(line for line in _raw_headers(smtpd, row) if line.startswith("To:"))
        assert raw_to.startswith("To: =?utf-8?"), raw_to
        assert raw_to.endswith(f"?= <{ADDRESS}>"), raw_to
        assert _id(parsed["Message-ID"]) == row.rfc_message_id, kind
        assert parsed["Date"] is not None, kind
        automatic = parsed["Auto-Submitted"]
        assert (automatic == "auto-generated") is (kind in AUTOMATIC), (kind, automatic)


def test_the_emails_thread_from_the_customers_first_email(every_kind):
    _, _, life = every_kind
    first = f"<{FIRST_MESSAGE_ID}>"
    receipt = life[0][1]

    assert _id(receipt["In-Reply-To"]) == first
    assert receipt["References"].split() == [first]
    for (before, _), (row, parsed) in pairwise(life):
        # Each answers the email before it, and names the thread from the customer's first.
        assert _id(parsed["In-Reply-To"]) == before.rfc_message_id, row.kind
        references = parsed["References"].split()
        assert references[0] == first, row.kind
        assert references[-1] == before.rfc_message_id, row.kind
        assert len(references) <= emailing.REFERENCES_MAX
    assert len({row.rfc_message_id for row, _ in life}) == len(life)


# --- inbound -----------------------------------------------------------------------------------


def _reply_to(ours: EmailMessage, *, sender: str, body: str) -> bytes:
    """The customer's mail program answering ``ours``: quoted, threaded by its headers."""
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = ours["From"]
    reply["Subject"] = f"Re: {ours['Subject']}"
    reply["Message-ID"] = make_msgid(domain="mail.example.org")
    reply["In-Reply-To"] = _id(ours["Message-ID"])
    reply["References"] = f"{_id(ours['References'])} {_id(ours['Message-ID'])}"
    quoted = "\n".join(f"> {line}" for line in _parts(ours)[0].splitlines())
    reply.set_content(f"{body}\n\nOn Monday, you wrote:\n{quoted}\n")
    return reply.as_bytes()


def _track(complaint: Complaint) -> str:
    page = Client().get(f"/track/{tracking_token(complaint.pk)}/")
    assert page.status_code == 200
    return page.content.decode()


def test_the_customers_reply_threads_onto_the_complaint(emailed_complaint, mailbox):
    complaint, _, receipt = emailed_complaint
    said = 'Any news on the "late" fee & my refund?'
    mailbox.deliver(_reply_to(receipt, sender=str(Address(NAME, addr_spec=ADDRESS)), body=said))

    output = _ingest_over_imaps(mailbox)

    assert "1 accepted" in output, output
    assert f"reply added to {complaint.reference} (answers our email" in output
    reply = complaint.messages.order_by("id").last()
    assert reply.direction == MessageDirection.INBOUND
    assert reply.body == said  # the quoted receipt is not part of it
    assert escape(said) in _track(complaint)
    assert mailbox.unseen() == []


def test_our_answer_to_the_customers_reply_keeps_the_one_subject(
    emailed_complaint, mailbox, smtpd, agent
):
    """The customer's mail program answers with "Re: <our subject>"; our next email has the
    subject the receipt had, so Gmail keeps both in one conversation."""
    complaint, _, receipt = emailed_complaint
    _works_its_team(agent, complaint)
    mailbox.deliver(_reply_to(receipt, sender=ADDRESS, body="Any news?"))
    assert "1 accepted" in _ingest_over_imaps(mailbox)

    messages.message_add(complaint=complaint, actor=agent, body=SAID)
    [(_, ours)] = _deliver_and_send(smtpd)

    assert ours["Subject"] == receipt["Subject"] == f"[{complaint.reference}] {SUBJECT}"
    assert not ours["Subject"].lower().startswith("re:")


def test_the_tracking_page_shows_what_the_customer_was_emailed(every_kind):
    complaint, _, _ = every_kind

    page = _track(complaint)

    # The acknowledgement, the reply, the holding response, the resolution's summary and the
    # loop-closing message each say the agent's words, escaped.
    assert page.count(escape(SAID)) == 5
    assert "Our decision: Upheld." in page
    assert SAID not in page


def test_the_same_reply_from_another_address_is_held(emailed_complaint, mailbox):
    complaint, _, receipt = emailed_complaint
    said = "Please send the refund to my account & not hers."
    mailbox.deliver(_reply_to(receipt, sender=STRANGER, body=said))
    messages_before = complaint.messages.count()

    output = _ingest_over_imaps(mailbox)

    assert "1 held" in output, output
    held = InboundEmail.objects.get(sender=STRANGER)
    assert held.status == InboundStatus.HELD
    assert held.held_complaint_id == complaint.pk
    assert held.complaint_id is None
    assert complaint.messages.count() == messages_before
    assert ComplaintEvent.objects.filter(complaint=complaint, type=EventType.EMAIL_HELD).exists()
    page = _track(complaint)
    assert escape(said) not in page and said not in page


def _dsn_for(ours: EmailMessage, *, status: str, diagnostic: str) -> bytes:
    """A delivery status notification (RFC 3464) as Postfix writes one for ``ours``: a
    human-readable part, the machine-readable status, and the returned message's headers."""
    recipient = ours["To"].addresses[0].addr_spec
    returned = "".join(
        f"{name}: {value}\r\n" for name, value in ours.items() if name not in ("To", "Subject")
    )
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        f"To: {ours['From']}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {make_msgid(domain='mx.example.org')}\r\n"
        "Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"\r\n'
        "\r\n"
        "--dsn\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered to "
        f"{recipient}.\r\n"
        "\r\n"
        "--dsn\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n"
        "\r\n"
        "--dsn\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        f"{returned}"
        f"To: {recipient}\r\n"
        "Subject: (returned)\r\n"
        "\r\n"
        "--dsn--\r\n"
    ).encode()


def test_a_dsn_marks_the_delivery_failed_with_the_reason(emailed_complaint, mailbox):
    complaint, _, receipt = emailed_complaint
    diagnostic = "550 5.1.1 <zoe.obrien@example.org>: Recipient address rejected"
    mailbox.deliver(_dsn_for(receipt, status="5.1.1", diagnostic=diagnostic))

    output = _ingest_over_imaps(mailbox)

    assert "1 bounce" in output, output
    sent = EmailDelivery.objects.get(rfc_message_id=_id(receipt["Message-ID"]))
    assert sent.status == EmailStatus.FAILED
    assert sent.bounce_status == "5.1.1"
    assert sent.bounce_permanent is True
    assert "Recipient address rejected" in sent.failure_reason
    event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.EMAIL_NOT_DELIVERED)
    assert event.parameters["email_id"] == sent.pk
    assert "Recipient address rejected" in event.parameters["diagnostic"]
    # A bounce opens nothing and answers nothing.
    assert Complaint.objects.count() == 1
    assert not EmailDelivery.objects.filter(status=EmailStatus.QUEUED).exists()


def test_imaps_with_an_untrusted_certificate_is_refused(emailed_complaint, mailbox):
    _, _, receipt = emailed_complaint
    mailbox.deliver(_reply_to(receipt, sender=ADDRESS, body="Hello?"))
    stored = InboundEmail.objects.count()

    with pytest.raises(CommandError, match="is not trusted"):
        _ingest_over_imaps(mailbox, trusted=False)

    assert InboundEmail.objects.count() == stored
    assert len(mailbox.unseen()) == 1


def test_smtp_with_an_untrusted_certificate_is_not_marked_sent(
    templates, smtp_settings, smtpd, tmp_path, make_complaint
):
    # Another server, with a CA of its own that this process was not told to trust.
    folder = tmp_path / "untrusted"
    folder.mkdir()
    untrusted = Smtpd(folder).start()
    try:
        smtp_settings.EMAIL_PORT = untrusted.port
        complaint = make_complaint()
        delivery.deliver(
            Outbox.objects.get(complaint_id=complaint.pk, event_type="complaint.received").pk
        )
        queued = EmailDelivery.objects.get(complaint_id=complaint.pk)

        send_email.apply(args=[queued.pk])
    finally:
        untrusted.stop()

    queued.refresh_from_db()
    # Kept and tried again later: an operator may yet give the server's CA.
    assert queued.status == EmailStatus.QUEUED
    assert queued.next_attempt_at is not None
    assert queued.sent_at is None
    assert queued.failure_reason.startswith("Mail server TLS failed: ")
    assert f"localhost:{untrusted.port} is not trusted" in queued.failure_reason
    assert untrusted.messages == [] and untrusted.auth_attempts == 0


# A cold worker imports Django and Celery; 60 s covers a loaded 2-core machine.
WORKER_START_TIMEOUT_S = 60
# The fast path sends in well under a second; seconds mean it is stalled.
SEND_TIMEOUT_S = 15


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_configured_by_the_environment_sends_the_receipt_over_starttls(
    agent, smtpd, celery_on_redis, tmp_path
):
    ensure_default_templates()  # transaction=True tests start from flushed tables
    env = {
        **subprocess_environment(),
        "EMAIL_BACKEND": "notifications.smtp.EmailBackend",
        "EMAIL_HOST": smtpd.host,
        "EMAIL_PORT": str(smtpd.port),
        "EMAIL_HOST_USER": smtpd.user,
        "EMAIL_HOST_PASSWORD": smtpd.password,
        "EMAIL_USE_TLS": "1",
        "REDRESS_EMAIL_CA_FILE": str(smtpd.ca_file),
    }
    node_name = f"mail-{uuid.uuid4().hex[:8]}@{HOST}"
    worker = Child(
        "celery",
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
         "--hostname", node_name, "--without-gossip", "--without-mingle",
         "--loglevel", "warning"],
        env,
        tmp_path,
    )  # fmt: skip
    try:
        wait_until_worker_idle(worker, node_name, WORKER_START_TIMEOUT_S)
        complaint, _ = intake.complaint_submit(
            actor=agent,
            intake=intake.ComplaintIntake(
                subject=SUBJECT,
                description=BODY,
                customer=intake.CustomerDetails(name=NAME, email=ADDRESS),
            ),
        )
        deadline = time.monotonic() + SEND_TIMEOUT_S
        while not smtpd.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        assert smtpd.messages, worker.log()
        wait_until_worker_idle(worker, node_name, WORKER_START_TIMEOUT_S)
    finally:
        worker.stop()

    [envelope] = smtpd.messages
    assert envelope.rcpt_tos == [ADDRESS]
    assert smtpd.auth_attempts == 1  # logged in, which the server allows only after STARTTLS
    received = message_from_bytes(envelope.content, policy=policy.default)
    sent = EmailDelivery.objects.get(complaint_id=complaint.pk)
    assert sent.kind == MessageTemplateKind.RECEIPT
    assert sent.status == EmailStatus.SENT
    assert _id(received["Message-ID"]) == sent.rfc_message_id
    assert received["To"].addresses[0].display_name == NAME
    text, html = _parts(received)
    assert text.startswith(f"Dear {NAME},\n")
    assert f"Dear {escape(NAME)},</p>" in html
