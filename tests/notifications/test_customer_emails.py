"""Every customer email, as a mail program receives it: literal text, escaped HTML, headers.

One complaint that arrived by email from ``Zoë O'Brien & Sons <"quotes">``, whose words and
the agent's carry apostrophes, ampersands, quotes and ``<b>``, is taken through its whole life
on PostgreSQL; every email it gets is sent through Django's locmem backend and parsed back
from its bytes, as the customer's mail program would.

Personas (tests/conftest.py): ``agent`` works the complaint (a routing rule sends emailed
complaints to the agent's team); the customer has no login.
"""

from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from html import escape

import pytest

from notifications import delivery, emailing
from notifications.ingest import ingest
from notifications.models import EmailDelivery, InboundStatus, MessageTemplateKind, Outbox
from recovery.models import Complaint, RoutingRule
from recovery.services import lifecycle, messages
from tests.notifications.shipped_templates import ensure_default_templates

NAME = "Zoë O'Brien & Sons <\"quotes\">"  # fmt: skip
ADDRESS = "zoe.obrien@example.org"
SUBJECT = "The \"late\" fee & O'Brien's <b>bold</b> charge"  # fmt: skip
BODY = 'You charged a "late" fee & I\'d paid on time. <b>Refund it</b>, please.'
SAID = "We've looked at the \"late\" fee & it's <b>wrong</b>; O'Brien & Sons are right."
FIRST_MESSAGE_ID = "first.zoe-1@mail.example.org"
KINDS = [
    MessageTemplateKind.RECEIPT,
    MessageTemplateKind.ACKNOWLEDGEMENT,
    MessageTemplateKind.REPLY,
    MessageTemplateKind.HOLDING,
    MessageTemplateKind.RESOLUTION,
    MessageTemplateKind.LOOP_CLOSING,
    MessageTemplateKind.SURVEY_INVITATION,
]
AUTOMATIC = {
    MessageTemplateKind.RECEIPT,
    MessageTemplateKind.ACKNOWLEDGEMENT,
    MessageTemplateKind.SURVEY_INVITATION,
}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def emails_to_the_agents_team(team):
    RoutingRule.objects.create(name="Emails", team=team, channels=["email"])


@pytest.fixture
def templates(db):
    """The shipped templates: every subject is the complaint's one subject, the reference and
    the customer's own words (``[RDR-…] <subject>``)."""
    ensure_default_templates()


def _first_email() -> bytes:
    message = EmailMessage()
    message["From"] = Address(display_name=NAME, addr_spec=ADDRESS)
    message["To"] = "complaints@redress.invalid"
    message["Subject"] = SUBJECT
    message["Message-ID"] = f"<{FIRST_MESSAGE_ID}>"
    message.set_content(BODY)
    return message.as_bytes()


def _deliver_and_send(mailoutbox) -> list[tuple[EmailDelivery, EmailMessage]]:
    """Deliver what is pending and send each email it queued; (row, parsed message) each."""
    sent = []
    for outbox_id in (
        Outbox.objects.filter(delivered_at__isnull=True).order_by("id").values_list("pk", flat=True)
    ):
        delivery.deliver(outbox_id)
        for row in EmailDelivery.objects.filter(outbox_id=outbox_id, status="queued"):
            assert emailing.send(row.pk)
            parsed = message_from_bytes(mailoutbox[-1].message().as_bytes(), policy=policy.default)
            sent.append((row, parsed))
    return sent


@pytest.fixture
def whole_life(templates, agent, root_causes, settings, mailoutbox):
    """Every customer email of one complaint, by kind: (EmailDelivery, parsed message)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    inbound = ingest(_first_email(), source="test")
    complaint = Complaint.objects.select_related("customer").get(pk=inbound.complaint_id)
    emails = _deliver_and_send(mailoutbox)
    lifecycle.complaint_acknowledge(
        complaint=complaint,
        actor=agent,
        message=f"{SAID} Your reference is {complaint.reference}.",
        next_steps="We'll reply by Friday & call you.",
    )
    emails += _deliver_and_send(mailoutbox)
    messages.message_add(complaint=complaint, actor=agent, body=SAID)
    emails += _deliver_and_send(mailoutbox)
    messages.complaint_send_holding_reply(complaint=complaint, actor=agent, message=SAID)
    emails += _deliver_and_send(mailoutbox)
    lifecycle.complaint_resolve(
        complaint=complaint,
        actor=agent,
        outcome="upheld",
        summary=SAID,
        root_causes=["billing.duplicate-charge"],
    )
    emails += _deliver_and_send(mailoutbox)
    lifecycle.complaint_close_loop(
        complaint=complaint,
        actor=agent,
        what_we_found=SAID,
        what_we_did='Refunded the "late" fee & apologised.',
        what_will_change="Fees won't be charged twice.",
    )
    emails += _deliver_and_send(mailoutbox)
    by_kind = {row.kind: (row, parsed) for row, parsed in emails}
    assert sorted(by_kind) == sorted(KINDS)
    assert len(emails) == len(KINDS)
    return complaint, by_kind, [row for row, _ in emails]


def _reference_of(row: EmailDelivery) -> str:
    return Complaint.objects.values_list("reference", flat=True).get(pk=row.complaint_id)


def _parts(parsed: EmailMessage) -> tuple[str, str]:
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    return text.get_content(), html.get_content()


@pytest.mark.django_db
def test_every_customer_email_says_the_customers_words_literally(whole_life):
    complaint, by_kind, _ = whole_life
    assert complaint.customer.name == NAME

    for kind, (row, parsed) in by_kind.items():
        text, html = _parts(parsed)
        assert parsed["Subject"] == row.subject, kind
        # One subject per complaint, whatever the kind: Gmail threads by subject too.
        assert parsed["Subject"] == f"[{_reference_of(row)}] {SUBJECT}", kind
        [to] = parsed["To"].addresses
        assert (to.display_name, to.addr_spec) == (NAME, ADDRESS), kind
        assert text.startswith(f"Dear {NAME},\n"), kind
        assert f"Dear {escape(NAME)},</p>" in html, kind
        if kind not in (MessageTemplateKind.RECEIPT, MessageTemplateKind.SURVEY_INVITATION):
            assert SAID in text, kind
            assert escape(SAID) in html, kind
        assert f"<title>{escape(parsed['Subject'])}</title>" in html, kind
        for escaped in ("&amp;", "&#x27;", "&quot;", "&lt;", "&gt;"):
            assert escaped not in text, kind
            assert escaped not in parsed["Subject"], kind
        assert "<b>" not in html, kind
        assert "<img" not in html, kind
        assert "src=" not in html, kind


@pytest.mark.django_db
def test_every_email_of_a_complaint_has_one_subject_so_that_gmail_keeps_one_conversation(
    whole_life,
):
    complaint, _, in_order = whole_life

    assert {row.subject for row in in_order} == {f"[{complaint.reference}] {SUBJECT}"}


@pytest.mark.django_db
def test_automatic_emails_say_so_and_written_ones_do_not(whole_life):
    _, by_kind, _ = whole_life

    marked = {kind for kind, (_, parsed) in by_kind.items() if parsed["Auto-Submitted"]}

    assert marked == AUTOMATIC
    for kind in AUTOMATIC:
        assert by_kind[kind][1]["Auto-Submitted"] == "auto-generated"


@pytest.mark.django_db
def test_the_receipt_answers_the_customers_first_email_and_the_rest_follow_on(whole_life):
    _, by_kind, in_order = whole_life
    receipt = by_kind[MessageTemplateKind.RECEIPT][1]
    first = f"<{FIRST_MESSAGE_ID}>"

    assert receipt["In-Reply-To"].strip() == first
    assert receipt["References"].split() == [first]
    sent_ids = [row.rfc_message_id for row in in_order]
    for position, row in enumerate(in_order[1:], start=1):
        parsed = by_kind[row.kind][1]
        assert parsed["Message-ID"].strip() == row.rfc_message_id
        # Each answers the email before it, and names the thread from the customer's first.
        assert parsed["In-Reply-To"].strip() == sent_ids[position - 1]
        references = parsed["References"].split()
        assert references[0] == first
        assert references[-1] == sent_ids[position - 1]
        assert len(references) <= emailing.REFERENCES_MAX


@pytest.mark.django_db
def test_our_answer_to_the_customers_emailed_reply_answers_that_reply(
    templates, agent, settings, mailoutbox
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    inbound = ingest(_first_email(), source="test")
    complaint = Complaint.objects.select_related("customer").get(pk=inbound.complaint_id)
    [(receipt, _)] = _deliver_and_send(mailoutbox)
    reply = EmailMessage()
    reply["From"] = ADDRESS.upper()  # the same address, whatever its case
    reply["Subject"] = f"Re: {receipt.subject}"
    reply["Message-ID"] = "<reply.zoe-2@mail.example.org>"
    reply["In-Reply-To"] = receipt.rfc_message_id
    reply["References"] = f"<{FIRST_MESSAGE_ID}> {receipt.rfc_message_id}"
    reply.set_content('Any news on the "late" fee?')

    answered = ingest(reply.as_bytes(), source="test")
    assert answered.status == "accepted"
    assert answered.complaint_id == complaint.pk
    messages.message_add(complaint=complaint, actor=agent, body=SAID)
    [(_, ours)] = _deliver_and_send(mailoutbox)

    # The customer's "Re:" changes nothing: our answer has the subject the receipt had.
    assert ours["Subject"] == receipt.subject == f"[{complaint.reference}] {SUBJECT}"
    assert ours["In-Reply-To"].strip() == "<reply.zoe-2@mail.example.org>"
    assert ours["References"].split() == [
        f"<{FIRST_MESSAGE_ID}>",
        receipt.rfc_message_id,
        "<reply.zoe-2@mail.example.org>",
    ]


@pytest.mark.django_db
def test_list_mail_opens_no_complaint_and_gets_no_receipt(templates, settings, mailoutbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    raw = _first_email().replace(
        b"Subject:", b"Precedence: list\nList-Id: <support.example.com>\nSubject:", 1
    )
    assert b"List-Id" in raw

    inbound = ingest(raw, source="test")

    assert inbound.status == InboundStatus.IGNORED
    assert inbound.reason.startswith("list mail: Precedence: list;")
    assert not Complaint.objects.exists()
    assert _deliver_and_send(mailoutbox) == []
    assert not EmailDelivery.objects.exists()
    assert not mailoutbox
    # Another email without the list's headers does get one.
    ingest(
        _first_email().replace(FIRST_MESSAGE_ID.encode(), b"direct@mail.example.org"), source="test"
    )
    [(receipt, _)] = _deliver_and_send(mailoutbox)
    assert receipt.kind == MessageTemplateKind.RECEIPT
