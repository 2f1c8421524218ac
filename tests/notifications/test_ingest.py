"""Tests for ``notifications.ingest``: inbound email becomes complaints and replies.

Corpus: every .eml under ``shared/data/emails`` (located as in test_inbound_parsing.py, or via
``REDRESS_SHARED_DATA``). Synthetic messages are built with the standard library.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import os
import threading
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.urls import reverse

from escalation.models import Clock, ClockKind
from notifications import ingest as ingest_module
from notifications.bounce_parsing import parse_bounce
from notifications.inbound_parsing import UnparseableEmail, content_digest, parse_message
from notifications.ingest import SERVICE_ACCOUNT_USERNAME, UNKNOWN_BOUNCE, ingest, ingest_message
from notifications.models import (
    EmailDelivery,
    InboundAttachment,
    InboundEmail,
    InboundStatus,
    MessageTemplateKind,
    Outbox,
)
from recovery import roles
from recovery.models import (
    Channel,
    Complaint,
    ComplaintEvent,
    Customer,
    Message,
    MessageDirection,
    MessageKind,
    State,
)
from recovery.models.complaints import DESCRIPTION_MAX_CHARS
from recovery.services import lifecycle, sla
from tests.conftest import acknowledge, close_loop, resolve

_DATA = Path(
    os.environ.get("REDRESS_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data"
)
EMAILS = _DATA / "emails"
MANIFEST = EMAILS / "manifest.csv"
requires_corpus = pytest.mark.skipif(
    not MANIFEST.is_file(),
    reason=f"shared email corpus not found at {EMAILS}; set REDRESS_SHARED_DATA",
)


def _manifest_rows() -> list[dict[str, str]]:
    if not MANIFEST.is_file():
        return []
    with MANIFEST.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


ROWS = _manifest_rows()
FILES = [row["file"] for row in ROWS]
BOUNCES_AND_REPORTS = [row["file"] for row in ROWS if "report/bounce" in row["features"]]

# Corpus files that cannot become complaints and are kept for an agent, with why.
EXPECTED_QUARANTINE = {
    "cpython-test_email/msg_18.eml": "unparseable: no From header and no body",
    "cpython-test_email/msg_19.eml": "unparseable: no header lines found",
    # Parseable, but no usable From address: nobody to attribute the complaint to.
    "cpython-test_email/msg_11.eml": "no usable sender address",
    "cpython-test_email/msg_37.eml": "no usable sender address",
    "cpython-test_email/msg_38.eml": "no usable sender address",
    "cpython-test_email/msg_39.eml": "no usable sender address",
    "cpython-test_email/msg_40.eml": "no usable sender address",
    "flanker/attached-pdf.eml": "no usable sender address",
    "flanker/no-break-space.eml": "no usable sender address",
}

CUSTOMER_EMAIL = "customer@example.com"  # customer_user's address (tests/conftest.py)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _corpus_bytes(name: str) -> bytes:
    return (EMAILS / name).read_bytes()


TRUSTED_SERVER = "mx.redress.example"
# What a trusted receiving server writes for mail that passed DMARC: the proof that the From
# address is the sender's, which a new complaint needs to join an existing customer's record.
DMARC_PASS = {
    "Authentication-Results": (
        f"{TRUSTED_SERVER}; spf=pass smtp.mailfrom=example.com; "
        "dkim=pass header.d=example.com; dmarc=pass header.from=example.com"
    )
}


def _mail(
    *,
    sender: str = "Jana Nováková <jana@example.org>",
    subject: str | None = "My parcel never arrived",
    body: str = "I ordered a lamp on 2 March and it never came.",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "complaints@redress.invalid"
    if subject is not None:
        message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="mail.example.org")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    for filename, content_type, content in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def _our_email(complaint: Complaint, kind=MessageTemplateKind.ACKNOWLEDGEMENT) -> EmailDelivery:
    """The email we 'sent' for the complaint's latest event, as delivery would record it."""
    outbox = Outbox.objects.filter(complaint_id=complaint.pk).order_by("-id").first()
    return EmailDelivery.objects.create(
        outbox=outbox,
        complaint_id=complaint.pk,
        recipient=complaint.customer.email,
        kind=kind,
        subject=f"We have your complaint {complaint.reference}",
        body_text="We have your complaint.",
        rfc_message_id=make_msgid(idstring=complaint.reference, domain="redress.invalid"),
        status="sent",
    )


def _counts() -> dict[str, int]:
    models = (InboundEmail, InboundAttachment, Complaint, Message, Customer, ComplaintEvent, Outbox)
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture
def acknowledged(make_complaint, agent):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    complaint.refresh_from_db()
    return complaint


# --- the corpus --------------------------------------------------------------------------


@requires_corpus
@pytest.mark.django_db
@pytest.mark.parametrize("name", FILES or ["no-corpus"])
def test_corpus_file_is_stored_once_in_a_state_the_parser_explains(name):
    raw = _corpus_bytes(name)

    inbound = ingest(raw, source=f"file:{name}")

    assert InboundEmail.objects.get() == inbound
    assert bytes(inbound.raw) == raw
    assert inbound.source == f"file:{name}"
    try:
        parsed = parse_message(raw)
    except UnparseableEmail as exc:
        assert inbound.status == InboundStatus.QUARANTINED
        assert inbound.reason == f"unparseable: {exc.reason}"
        assert inbound.fingerprint == f"sha256:{hashlib.sha256(raw).hexdigest()}"
        assert inbound.complaint_id is None
        assert name in EXPECTED_QUARANTINE
        return
    assert inbound.fingerprint == parsed.fingerprint
    if parsed.is_automatic and parse_bounce(raw) is not None:
        # A bounce, of nothing we sent: no corpus file returns one of our emails.
        assert inbound.status == InboundStatus.IGNORED
        assert inbound.reason.startswith(UNKNOWN_BOUNCE)
    elif parsed.is_automatic:
        assert inbound.status == InboundStatus.IGNORED
        assert inbound.reason == f"automatic mail: {parsed.automatic_reason}"
    elif name in EXPECTED_QUARANTINE:
        assert inbound.status == InboundStatus.QUARANTINED
        assert inbound.reason.startswith(EXPECTED_QUARANTINE[name])
    else:
        assert inbound.status == InboundStatus.ACCEPTED, inbound.reason
        complaint = Complaint.objects.select_related("customer").get(pk=inbound.complaint_id)
        assert inbound.reason.startswith(f"opened {complaint.reference}")
        assert complaint.channel == Channel.EMAIL
        assert complaint.customer.email == parsed.from_address
        subject = parsed.subject or "(no subject)"
        if len(subject) <= 200:  # Complaint.subject's limit
            assert complaint.subject == subject
        else:
            assert complaint.subject == subject[:199] + "…"
        assert complaint.description.startswith(parsed.text.strip()[:1000] or "(The email had")
        original = complaint.messages.get()
        assert original.direction == MessageDirection.INBOUND
        assert inbound.message_id == original.pk
        stored = list(inbound.attachments.order_by("id"))
        assert [(a.filename, a.size) for a in stored] == [
            (a.filename, a.size) for a in parsed.attachments
        ]
        return
    assert inbound.complaint_id is None
    assert not Complaint.objects.exists()
    assert not inbound.attachments.exists()


@requires_corpus
@pytest.mark.django_db
def test_corpus_bounces_and_reports_never_open_complaints():
    assert len(BOUNCES_AND_REPORTS) >= 10  # the manifest tags 14; guard against an empty list
    for name in BOUNCES_AND_REPORTS:
        inbound = ingest(_corpus_bytes(name), source=name)
        assert inbound.status == InboundStatus.IGNORED, name
        assert inbound.reason.startswith(("automatic mail: ", UNKNOWN_BOUNCE))
    assert not Complaint.objects.exists()


@requires_corpus
@pytest.mark.django_db
def test_corpus_ingested_twice_changes_nothing_the_second_time():
    identities = set()
    first = {}
    for name in FILES:
        result = ingest_message(_corpus_bytes(name), source=name)
        first[name] = result.inbound.pk
        identities.add((result.inbound.fingerprint, result.inbound.content_digest))
    after_first = _counts()
    # One row per distinct message: some fixtures are copies of one message (one row), while
    # a Message-ID shared by different content is two rows.
    assert after_first["InboundEmail"] == len(identities)
    by_status = {
        status: InboundEmail.objects.filter(status=status).count() for status in InboundStatus
    }
    assert by_status[InboundStatus.QUARANTINED] == len(EXPECTED_QUARANTINE)
    assert by_status[InboundStatus.ACCEPTED] == after_first["Complaint"]
    assert by_status[InboundStatus.ACCEPTED] > 50

    for name in FILES:
        result = ingest_message(_corpus_bytes(name), source=f"again:{name}")
        assert result.duplicate, name
        assert result.inbound.pk == first[name]

    assert _counts() == after_first
    assert not InboundEmail.objects.filter(source__startswith="again:").exists()


# --- new complaints ----------------------------------------------------------------------


@pytest.mark.django_db
def test_new_sender_gets_a_customer_and_an_email_complaint():
    raw = _mail(sender="=?utf-8?q?Jana_Nov=C3=A1kov=C3=A1?= <Jana@Example.org>")

    result = ingest_message(raw, source="test")

    inbound = result.inbound
    assert inbound.status == InboundStatus.ACCEPTED
    complaint = Complaint.objects.select_related("customer").get(pk=inbound.complaint_id)
    assert result.reference == complaint.reference
    assert complaint.channel == Channel.EMAIL
    assert complaint.state == State.RECEIVED
    assert complaint.subject == "My parcel never arrived"
    assert complaint.description == "I ordered a lamp on 2 March and it never came."
    assert complaint.customer.name == "Jana Nováková"
    assert complaint.customer.email == "jana@example.org"
    assert inbound.sender == "jana@example.org"
    assert inbound.reason == f"opened {complaint.reference}"
    assert inbound.message_id == complaint.messages.get(kind=MessageKind.ORIGINAL).pk
    # Opened by the service account, which can never sign in.
    received = complaint.events.get(type="received")
    account = get_user_model().objects.get(username=SERVICE_ACCOUNT_USERNAME)
    assert received.actor == account
    assert not account.is_active
    assert not account.has_usable_password()
    assert roles.has_role(account, roles.AGENT)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("message_id", "kept"),
    [
        pytest.param("<a.1+x@mail.example.org>", "a.1+x@mail.example.org", id="kept"),
        pytest.param(f"<{'x' * 300}@mail.example.org>", "", id="too-long"),
        pytest.param("<zpráva@mail.example.org>", "", id="not-ascii"),
    ],
)
def test_the_senders_message_id_is_kept_when_our_answers_can_name_it(message_id, kept):
    # Written into the bytes: the standard library will not build a header it finds invalid.
    raw = _mail(message_id="<placeholder@mail.example.org>").replace(
        b"<placeholder@mail.example.org>", message_id.encode()
    )

    inbound = ingest(raw, source="test")

    assert inbound.status == InboundStatus.ACCEPTED
    assert inbound.rfc_message_id == kept


@pytest.mark.django_db
def test_known_customer_is_reused_whatever_the_case_of_the_address(customer_user, settings):
    # Proven by a trusted DMARC pass; without one the complaint waits on a provisional record
    # (tests/recovery/test_address_proof.py).
    settings.REDRESS_INBOUND_AUTHSERV_IDS = [TRUSTED_SERVER]
    ingest(_mail(sender="Someone Else <CUSTOMER@example.COM>", headers=DMARC_PASS), source="test")

    complaint = Complaint.objects.get()
    assert complaint.customer == customer_user.customer
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_missing_subject_and_empty_body_are_named_not_left_blank():
    ingest(_mail(subject=None, body=""), source="test")

    complaint = Complaint.objects.get()
    assert complaint.subject == "(no subject)"
    assert complaint.description == "(The email had no text.)"


@pytest.mark.django_db
def test_overlong_text_is_cut_to_the_api_limit_and_says_so():
    body = "word " * 30_000  # 150,000 characters

    inbound = ingest(_mail(body=body), source="test")

    complaint = Complaint.objects.get()
    assert len(complaint.description) <= DESCRIPTION_MAX_CHARS
    assert complaint.description.startswith("word word")
    assert complaint.description.endswith(
        f"the whole message is kept as inbound email #{inbound.pk}.]"
    )
    assert f"description cut to {DESCRIPTION_MAX_CHARS:,} characters" in inbound.reason


@pytest.mark.django_db
def test_attachments_are_stored_as_files_with_their_sizes():
    pdf = b"%PDF-1.4 receipt " * 100
    raw = _mail(
        attachments=(
            ("receipt.pdf", "application/pdf", pdf),
            ("../../etc/passwd", "text/plain", b"root:x:0:0"),
        )
    )

    inbound = ingest(raw, source="test")

    stored = list(inbound.attachments.order_by("id"))
    assert [(a.filename, a.content_type, a.size) for a in stored] == [
        ("receipt.pdf", "application/pdf", len(pdf)),
        ("passwd", "text/plain", 10),
    ]
    for attachment, content in zip(stored, (pdf, b"root:x:0:0"), strict=True):
        # Stored under a random name in attachments/, never under the sender's name.
        assert attachment.content.name.startswith("attachments/")
        assert "passwd" not in attachment.content.name
        with default_storage.open(attachment.content.name, "rb") as handle:
            assert handle.read() == content


@pytest.mark.django_db
def test_attachments_over_the_parser_limit_are_noted_not_stored():
    big = b"x" * (10 * 1024 * 1024 + 1)  # the parser's default per-attachment limit, plus one

    inbound = ingest(
        _mail(attachments=(("video.bin", "application/octet-stream", big),)), source="test"
    )

    assert inbound.status == InboundStatus.ACCEPTED
    assert not inbound.attachments.exists()
    assert "attachment 'video.bin' not kept: larger than" in inbound.reason


# --- replies -----------------------------------------------------------------------------

QUOTED_REPLY = """Still no refund, and it has been two weeks.

On Mon, 2 Mar 2026 at 10:00, Redress <complaints@redress.invalid> wrote:
> We have your complaint.
> We will reply within 5 days."""


@pytest.mark.django_db
def test_reply_threads_by_in_reply_to_onto_the_complaint_we_emailed(acknowledged, agent):
    ours = _our_email(acknowledged)
    sla.complaint_set_awaiting_customer(complaint=acknowledged, actor=agent, awaiting=True)
    raw = _mail(
        sender=f"Customer <{CUSTOMER_EMAIL}>",
        subject="Re: We have your complaint",  # no reference: threading is by header alone
        body=QUOTED_REPLY,
        headers={"In-Reply-To": ours.rfc_message_id, "References": ours.rfc_message_id},
    )

    result = ingest_message(raw, source="test")

    inbound = result.inbound
    assert inbound.status == InboundStatus.ACCEPTED
    assert inbound.complaint_id == acknowledged.pk
    assert result.reference == acknowledged.reference
    reply = Message.objects.get(pk=inbound.message_id)
    assert reply.complaint == acknowledged
    assert reply.direction == MessageDirection.INBOUND
    assert reply.channel == Channel.EMAIL
    assert reply.body == "Still no refund, and it has been two weeks."  # quote stripped
    assert reply.author == acknowledged.customer.user
    assert acknowledged.events.filter(type="message_added").exists()
    acknowledged.refresh_from_db()
    assert not acknowledged.awaiting_customer  # the customer answered
    assert Clock.objects.filter(
        complaint=acknowledged, kind=ClockKind.RESPOND, stopped_at__isnull=True
    ).exists()
    assert Complaint.objects.count() == 1
    assert inbound.reason.startswith(f"reply added to {acknowledged.reference} (answers our email")


@pytest.mark.django_db
def test_a_reply_cut_of_its_quote_keeps_the_full_text_for_staff(acknowledged, agent):
    ours = _our_email(acknowledged)
    raw = _mail(
        sender=CUSTOMER_EMAIL,
        subject="Re: We have your complaint",
        body=QUOTED_REPLY,
        headers={"In-Reply-To": ours.rfc_message_id},
    )

    inbound = ingest(raw, source="test")

    assert Message.objects.get(pk=inbound.message_id).body == (
        "Still no refund, and it has been two weeks."
    )
    assert inbound.full_text == QUOTED_REPLY
    assert inbound.reason.endswith(f"; {ingest_module.QUOTED_TEXT_CUT}")
    client = Client()
    client.force_login(agent)
    page = client.get(reverse("desk:complaint", args=[acknowledged.reference])).content.decode()
    assert "Show quoted text" in page
    assert "We will reply within 5 days." in page


@pytest.mark.django_db
def test_a_reply_with_answers_between_the_quotes_is_kept_whole(acknowledged, agent):
    ours = _our_email(acknowledged)
    body = (
        "You wrote:\n> We refunded 50\nNo you did not, nothing arrived.\n"
        "> and sent a voucher\nNo voucher either."
    )
    raw = _mail(
        sender=CUSTOMER_EMAIL,
        subject="Re: We have your complaint",
        body=body,
        headers={"In-Reply-To": ours.rfc_message_id},
    )

    inbound = ingest(raw, source="test")

    assert Message.objects.get(pk=inbound.message_id).body == body
    assert inbound.full_text == ""
    assert ingest_module.QUOTED_TEXT_CUT not in inbound.reason
    client = Client()
    client.force_login(agent)
    page = client.get(reverse("desk:complaint", args=[acknowledged.reference])).content.decode()
    assert "Show quoted text" not in page


@pytest.mark.django_db
def test_reply_threads_by_references_when_in_reply_to_is_someone_elses(acknowledged):
    ours = _our_email(acknowledged)
    raw = _mail(
        sender=CUSTOMER_EMAIL,
        subject="Fwd: see below",
        body="Adding my husband's note.",
        headers={
            "In-Reply-To": "<unrelated@mail.example.org>",
            "References": f"{ours.rfc_message_id} <unrelated@mail.example.org>",
        },
    )

    inbound = ingest(raw, source="test")

    assert inbound.complaint_id == acknowledged.pk
    assert Message.objects.get(pk=inbound.message_id).complaint == acknowledged


@pytest.mark.django_db
def test_reply_threads_by_the_reference_in_the_subject_from_its_customer(acknowledged):
    subject = f"RE: your complaint {acknowledged.reference.lower()}"
    raw = _mail(sender="Customer <Customer@Example.com>", subject=subject, body="Any news?")

    inbound = ingest(raw, source="test")

    assert inbound.status == InboundStatus.ACCEPTED
    assert inbound.complaint_id == acknowledged.pk
    assert Message.objects.get(pk=inbound.message_id).body == "Any news?"
    assert inbound.reason == (
        f"reply added to {acknowledged.reference} (subject names {acknowledged.reference})"
    )
    assert Complaint.objects.count() == 1


@pytest.mark.django_db
def test_a_reply_to_a_withdrawn_complaint_opens_a_new_one(acknowledged, agent, settings):
    lifecycle.complaint_withdraw(complaint=acknowledged, actor=agent, reason="customer asked")
    ours = _our_email(acknowledged)
    settings.REDRESS_INBOUND_AUTHSERV_IDS = [TRUSTED_SERVER]

    inbound = ingest(
        _mail(
            sender=CUSTOMER_EMAIL,
            headers={"In-Reply-To": ours.rfc_message_id, **DMARC_PASS},
        ),
        source="test",
    )

    assert inbound.status == InboundStatus.ACCEPTED
    assert inbound.complaint_id != acknowledged.pk
    assert f"{acknowledged.reference} was withdrawn, so this opens a new complaint" in (
        inbound.reason
    )
    assert Complaint.objects.get(pk=inbound.complaint_id).customer == acknowledged.customer


@pytest.mark.django_db
def test_a_reply_after_the_loop_closed_is_recorded_on_that_complaint(
    acknowledged, agent, root_causes
):
    resolve(acknowledged, agent)
    close_loop(acknowledged, agent)
    ours = _our_email(acknowledged, kind=MessageTemplateKind.LOOP_CLOSING)

    inbound = ingest(
        _mail(sender=CUSTOMER_EMAIL, body="Thanks!", headers={"In-Reply-To": ours.rfc_message_id}),
        source="test",
    )

    acknowledged.refresh_from_db()
    assert acknowledged.state == State.LOOP_CLOSED  # recorded, not reopened
    assert inbound.complaint_id == acknowledged.pk
    assert Message.objects.get(pk=inbound.message_id).body == "Thanks!"
    assert f"{acknowledged.reference} is loop closed; recorded, not reopened" in inbound.reason


# --- loops, automatic mail, failures -----------------------------------------------------


@pytest.mark.django_db
def test_our_own_email_coming_back_is_ignored(acknowledged):
    ours = _our_email(acknowledged)
    # A copy of what we sent, e.g. a forwarding rule that feeds our outbox back to the inbox.
    raw = _mail(sender=CUSTOMER_EMAIL, message_id=ours.rfc_message_id)

    inbound = ingest(raw, source="test")

    assert inbound.status == InboundStatus.IGNORED
    assert inbound.reason == f"mail loop: Message-ID {ours.rfc_message_id} is one we sent"
    assert inbound.complaint_id is None
    assert Complaint.objects.count() == 1


@pytest.mark.django_db
def test_mail_from_our_own_address_is_ignored(acknowledged, settings):
    settings.DEFAULT_FROM_EMAIL = "Redress <Complaints@Redress.example>"
    ours = _our_email(acknowledged)
    raw = _mail(
        sender="complaints@redress.example",
        subject=f"Re: {acknowledged.reference}",
        headers={"In-Reply-To": ours.rfc_message_id},
    )

    inbound = ingest(raw, source="test")

    assert inbound.status == InboundStatus.IGNORED
    assert inbound.reason == "mail loop: sent from our own address complaints@redress.example"
    assert acknowledged.messages.filter(direction=MessageDirection.INBOUND).count() == 1


@pytest.mark.django_db
def test_an_out_of_office_answer_to_our_email_is_ignored(acknowledged):
    ours = _our_email(acknowledged)
    raw = _mail(
        sender=CUSTOMER_EMAIL,
        subject="Automatic reply: We have your complaint",
        body="I am away until Monday.",
        headers={"Auto-Submitted": "auto-replied", "In-Reply-To": ours.rfc_message_id},
    )

    inbound = ingest(raw, source="test")

    assert inbound.status == InboundStatus.IGNORED
    assert inbound.reason == (
        "automatic mail: Auto-Submitted: auto-replied; kept as a staff note on "
        f"{acknowledged.reference} (answers our email <{ours.rfc_message_id.strip('<>')}>)"
    )
    assert acknowledged.messages.filter(direction=MessageDirection.INBOUND).count() == 1
    # Kept for staff, never answered: a note, and no email to anyone.
    note = acknowledged.messages.get(direction=MessageDirection.INTERNAL)
    assert note.pk == inbound.message_id
    assert note.body.startswith(f"Automatic reply from {CUSTOMER_EMAIL}")
    assert "I am away until Monday." in note.body
    assert not EmailDelivery.objects.exclude(pk=ours.pk).exists()
    assert not Outbox.objects.filter(
        complaint_id=acknowledged.pk, event_type="complaint.message_added"
    ).exists()


@pytest.mark.django_db
def test_new_automatic_mail_opens_nothing_and_gets_no_receipt():
    raw = _mail(
        subject="Out of office",
        body="I am away until Monday.",
        headers={"X-Autoreply": "yes"},
    )

    inbound = ingest(raw, source="test")

    assert inbound.status == InboundStatus.IGNORED
    assert inbound.reason == "automatic mail: X-Autoreply header present"
    assert inbound.complaint_id is None
    assert not Complaint.objects.exists()
    assert not Outbox.objects.exists()  # no receipt, nor anything else, to anyone


# List mail that threads onto no complaint: an announcement, a newsletter, a list digest.
LIST_MAIL = [
    pytest.param(
        {"Precedence": "list", "List-Id": "Announcements <announce.lists.example.org>"},
        "Precedence: list",
        id="precedence-list-and-list-id",
    ),
    pytest.param({"List-Id": "<announce.lists.example.org>"}, "List-Id header present", id="id"),
    pytest.param(
        {"List-Unsubscribe": "<mailto:leave@lists.example.org>"},
        "List-Unsubscribe header present",
        id="unsubscribe",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("headers", "why"), LIST_MAIL)
def test_list_mail_opens_no_complaint_and_notifies_nobody(headers, why):
    raw = _mail(
        sender="Announcements <announce@lists.example.org>",
        subject="New release",
        body="Version 2 is out.",
        headers=headers,
    )

    result = ingest_message(raw, source="test")

    inbound = result.inbound
    assert result.outcome == InboundStatus.IGNORED
    assert inbound.reason == (
        f"list mail: {why}; it threads onto no complaint, so it opens none and gets no "
        "receipt (RFC 3834)"
    )
    assert inbound.complaint_id is None and inbound.message_id is None
    assert not Complaint.objects.exists()
    assert not Customer.objects.exists()
    assert not Outbox.objects.exists()  # no receipt, no team notification


@pytest.mark.django_db
def test_a_new_complaint_through_our_own_group_inbox_is_opened(settings):
    # A Google Group as the complaints address stamps every customer's mail as list mail.
    settings.REDRESS_INBOUND_OWN_LIST_IDS = ["Complaints.Example.com"]
    raw = _mail(
        sender="Dana Customer <dana@example.org>",
        subject="Charged twice",
        body="My card was charged twice.",
        headers={"Precedence": "list", "List-Id": "Complaints <complaints.example.com>"},
    )

    inbound = ingest(raw, source="test")

    assert inbound.status == InboundStatus.ACCEPTED, inbound.reason
    assert Complaint.objects.get(pk=inbound.complaint_id).subject == "Charged twice"
    # Another list is still list mail.
    other = _mail(
        sender="Announcements <announce@lists.example.org>",
        subject="New release",
        body="Version 2 is out.",
        headers={"List-Id": "<announce.lists.example.org>"},
    )
    assert ingest(other, source="test").status == InboundStatus.IGNORED


@pytest.mark.django_db
def test_list_mail_from_the_customer_threaded_onto_their_complaint_is_added(acknowledged):
    ours = _our_email(acknowledged)
    raw = _mail(
        sender=CUSTOMER_EMAIL,
        subject="Re: We have your complaint",
        body="Still waiting.",
        headers={
            "In-Reply-To": ours.rfc_message_id,
            "Precedence": "list",
            "List-Id": "<support.example.com>",
        },
    )

    inbound = ingest(raw, source="test")

    assert inbound.status == InboundStatus.ACCEPTED
    assert inbound.complaint_id == acknowledged.pk
    assert Message.objects.get(pk=inbound.message_id).body == "Still waiting."


# Out-of-office replies as mailers really send them, none with Auto-Submitted: each opens
# nothing, gets no receipt, and says why in its reason (which the ingest command prints).
AUTO_REPLIES = [
    pytest.param(
        {"X-Autoreply": "yes"}, "Re: my parcel", "X-Autoreply header present", id="x-autoreply"
    ),
    pytest.param(
        {"X-Autorespond": "yes"}, "My parcel", "X-Autorespond header present", id="x-autorespond"
    ),
    pytest.param(
        {"Precedence": "auto_reply"}, "My parcel", "Precedence: auto_reply", id="precedence"
    ),
    pytest.param(
        {"X-Auto-Response-Suppress": "All"},
        "My parcel",
        "X-Auto-Response-Suppress header present",
        id="exchange-suppress",
    ),
    pytest.param(
        {"Return-Path": "<>"}, "My parcel", "empty Return-Path (null sender)", id="null-sender"
    ),
    pytest.param({}, "Out of Office", "auto-reply subject ('Out of Office')", id="out-of-office"),
    pytest.param(
        {}, "Automatic reply: My parcel", "auto-reply subject ('Automatic reply')", id="outlook"
    ),
    pytest.param({}, "Auto: My parcel", "auto-reply subject ('Auto')", id="notes"),
    pytest.param({}, "Autoreply: My parcel", "auto-reply subject ('Autoreply')", id="autoreply"),
    pytest.param(
        {}, "Abwesenheitsnotiz: Paket", "auto-reply subject ('Abwesenheitsnotiz')", id="german"
    ),
    pytest.param(
        {},
        "Réponse automatique : Colis",
        "auto-reply subject ('Réponse automatique')",
        id="french",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("headers", "subject", "why"), AUTO_REPLIES)
def test_an_auto_reply_without_auto_submitted_opens_no_complaint(headers, subject, why):
    raw = _mail(subject=subject, body="I am away until Monday.", headers=headers)

    result = ingest_message(raw, source="test")

    assert result.outcome == InboundStatus.IGNORED
    assert result.inbound.reason == f"automatic mail: {why}"
    assert result.inbound.complaint_id is None
    assert not Complaint.objects.exists()
    assert not Customer.objects.exists()
    assert not Outbox.objects.exists()  # no receipt, nor anything else, to anyone


@pytest.mark.django_db
@pytest.mark.parametrize(("headers", "subject", "why"), AUTO_REPLIES)
def test_an_auto_reply_without_auto_submitted_is_no_customer_message(
    acknowledged, headers, subject, why
):
    # The customer's own out-of-office, answering our acknowledgement.
    ours = _our_email(acknowledged)
    raw = _mail(
        sender=CUSTOMER_EMAIL,
        subject=subject,
        body="I am away until Monday.",
        headers={**headers, "In-Reply-To": ours.rfc_message_id},
    )
    inbound = ingest(raw, source="test")

    assert inbound.status == InboundStatus.IGNORED
    assert inbound.reason.startswith(f"automatic mail: {why}; kept as a staff note on ")
    # Only the complaint's original message is the customer's; the reply is a staff note.
    assert acknowledged.messages.filter(direction=MessageDirection.INBOUND).count() == 1
    assert acknowledged.messages.get(direction=MessageDirection.INTERNAL).pk == inbound.message_id
    assert not EmailDelivery.objects.exclude(pk=ours.pk).exists()
    assert not Outbox.objects.filter(
        complaint_id=acknowledged.pk, event_type="complaint.message_added"
    ).exists()


@pytest.mark.django_db
def test_a_message_over_the_size_limit_is_quarantined_unparsed(settings, monkeypatch):
    settings.REDRESS_INBOUND_MAX_BYTES = 2_000
    monkeypatch.setattr(ingest_module, "OVERSIZE_HEAD_BYTES", 500)
    raw = _mail(body="x" * 5_000)

    inbound = ingest(raw, source="test")

    assert inbound.status == InboundStatus.QUARANTINED
    assert inbound.reason.startswith(f"message is {len(raw):,} bytes, over the 2,000-byte limit")
    assert bytes(inbound.raw) == raw[:500]
    assert inbound.fingerprint == f"sha256:{hashlib.sha256(raw).hexdigest()}"
    assert not Complaint.objects.exists()
    assert ingest_message(raw, source="again").duplicate


@pytest.mark.django_db
def test_the_same_message_delivered_twice_opens_one_complaint():
    raw = _mail(message_id="<once@mail.example.org>")
    first = ingest(raw, source="imap")
    # The second delivery went through another relay: trace headers and line endings differ.
    redelivered = (
        b"Received: from relay2.example.net by mx.redress.invalid; Mon, 7 Dec 2026 10:02:00 +0000\r\n"
        b"Delivered-To: complaints@redress.invalid\r\n" + raw.replace(b"\n", b"\r\n")
    )
    again = ingest_message(redelivered, source="webhook")

    assert again.duplicate
    assert again.inbound == first
    assert again.reference == Complaint.objects.get().reference
    assert InboundEmail.objects.count() == 1


@pytest.mark.django_db
def test_a_different_message_reusing_a_message_id_is_ingested():
    first = ingest(_mail(message_id="<reused@mail.example.org>"), source="imap")
    second = ingest_message(
        _mail(
            message_id="<reused@mail.example.org>",
            subject="And the invoice is wrong too",
            body="A broken client gives every message the same Message-ID.",
        ),
        source="imap",
    )

    assert not second.duplicate
    assert second.inbound.pk != first.pk
    assert second.inbound.status == InboundStatus.ACCEPTED
    assert f"used before by inbound email #{first.pk} with different content" in (
        second.inbound.reason
    )
    assert Complaint.objects.count() == 2
    # ...and a re-delivery of either is still a duplicate.
    assert ingest_message(bytes(second.inbound.raw), source="again").inbound == second.inbound
    assert InboundEmail.objects.count() == 2


@pytest.mark.django_db
def test_a_failure_while_routing_quarantines_the_message_instead_of_raising(monkeypatch):
    def broken_submit(**kwargs):
        raise RuntimeError("intake is broken")

    monkeypatch.setattr(ingest_module, "complaint_submit", broken_submit)
    raw = _mail(attachments=(("a.txt", "text/plain", b"hello"),))

    inbound = ingest(raw, source="test")

    assert inbound.status == InboundStatus.QUARANTINED
    assert inbound.reason == "ingestion failed (RuntimeError: intake is broken); kept for review"
    assert inbound.complaint_id is None
    assert not InboundAttachment.objects.exists()
    assert InboundEmail.objects.get().pk == inbound.pk


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_ingests_of_one_message_open_one_complaint(monkeypatch):
    raw = _mail(message_id="<race@mail.example.org>")
    barrier = threading.Barrier(2, timeout=10)
    real_parse = ingest_module.parse_message

    def parse_then_wait(raw):
        # Both threads leave parsing together, so both find no stored row and race to insert.
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

    assert len(results) == 2
    assert sorted(result.duplicate for result in results) == [False, True]
    assert results[0].inbound.pk == results[1].inbound.pk
    assert Complaint.objects.count() == 1
    assert InboundEmail.objects.count() == 1


@pytest.mark.django_db
def test_the_migration_gives_stored_mail_its_content_digest():
    from django.apps import apps

    fill_digests = importlib.import_module(
        "notifications.migrations.0016_inbound_duplicates_and_bounces"
    ).fill_digests
    raws = [_mail(message_id=f"<old-{n}@mail.example.org>", body=f"Text {n}") for n in range(3)]
    for raw in raws:
        InboundEmail.objects.create(
            fingerprint=parse_message(raw).fingerprint, raw=raw, status=InboundStatus.ACCEPTED
        )

    fill_digests(apps, None)

    stored = list(InboundEmail.objects.order_by("pk").values_list("content_digest", flat=True))
    assert stored == [content_digest(raw) for raw in raws]
    # ...so a re-delivery of mail stored before the migration is still a duplicate.
    assert ingest_message(raws[0], source="again").duplicate
