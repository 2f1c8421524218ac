"""Inbound email: store every message that comes in, and turn customers' mail into complaints.

``ingest(raw, *, source)`` is shared by ``manage.py ingest_email`` (IMAP, Maildir, mbox, .eml
files) and the inbound webhook (``notifications.inbound_api``). It raises nothing for bad mail:

1. Over ``REDRESS_INBOUND_MAX_BYTES``: quarantined unparsed (only the head of the raw bytes is
   kept; the original stays in the mailbox or with the sending provider).
2. Parsed by ``notifications.inbound_parsing``; ``UnparseableEmail`` is quarantined with its
   reason.
3. The fingerprint (Message-ID, else a hash of the bytes) is already stored with the same
   content digest (``inbound_parsing.content_digest``): a re-delivery, so the stored row is
   returned unchanged. A different message reusing a stored Message-ID goes on, its reason
   noting the reuse. Two concurrent ingests of one message meet on the unique (fingerprint,
   digest) pair: the second waits for the first to commit and then answers as a duplicate.
4. A bounce (``notifications.bounce_parsing``) of one of our customer emails is recorded on
   that email and on its complaint's timeline (``notifications.bounces``): status ``bounce``.
   A bounce of nothing we sent is ignored as such (``UNKNOWN_BOUNCE``). Other automatic mail
   (auto-replies, reports, RFC 3834) and our own mail coming back (From our
   ``DEFAULT_FROM_EMAIL``, or a Message-ID we minted) is ignored with the reason. None of it
   opens a complaint, so none of it is ever answered with a receipt. List mail
   (``ParsedEmail.is_list_mail``) that threads onto no complaint (step 6) is ignored too.
5. No usable sender address: quarantined (nobody to attribute a complaint to or answer).
6. A reply threads onto a complaint by ``In-Reply-To``/``References`` naming an email we sent
   (``EmailDelivery.rfc_message_id``) or an email of the customer's already on it, else by an
   ``RDR-YYYY-NNNNNN`` reference in the subject. Only mail from the complaint's customer (its
   address, or a contact staff authorised, any case, the addr-spec alone) goes onto it: from
   anyone else, or with a ``dmarc=fail`` from a receiving server we trust
   (``REDRESS_INBOUND_AUTHSERV_IDS``), it is HELD: stored with its attachments, kept off the
   complaint and its customer's view, and told to the complaint's team for review
   (``notifications.inbound_review``). The reply text, quoted history stripped, becomes an
   inbound customer message; when something was stripped, the email's whole text is kept
   (``full_text``, the desk's "Show quoted text") and the reason says so. Resolved and
   loop-closed complaints take the message and are marked as replied after closing for
   their last handler, who decides whether to reopen; a withdrawn complaint does not, so
   the mail opens a new complaint.
7. Anything else opens a complaint on channel ``email`` for the sender's customer (created if
   new), its description the email's text cut to the API's limit. Mail from an existing
   customer's address joins their record only with a trusted ``dmarc=pass``; otherwise the
   complaint waits on a provisional record until the address is confirmed
   (``recovery.services.address_proof``).
8. Attachments of accepted and held mail are stored as ``InboundAttachment`` files; those
   of accepted mail also become the complaint's files, through the upload's checks
   (``recovery.services.attachments``), a refused part recorded on its timeline.

The SPF, DKIM and DMARC results of a trusted server are recorded on every parsed message.
Steps 3 to 8 run in one transaction. If routing fails unexpectedly (a bug, a constraint), its
savepoint is rolled back and the message is quarantined with the error, so one message can
never stop a mailbox run; the error is logged.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from common.errors import ValidationFailed
from notifications.bounce_parsing import parse_bounce
from notifications.bounces import bounce_record
from notifications.inbound_parsing import (
    ParsedEmail,
    UnparseableEmail,
    content_digest,
    extract_reference,
    parse_message,
)
from notifications.models import EmailDelivery, InboundAttachment, InboundEmail, InboundStatus
from recovery import events as recovery_events
from recovery import roles
from recovery import selectors as recovery_selectors
from recovery.models import (
    AttachmentSource,
    Channel,
    Complaint,
    EventType,
    Message,
    MessageKind,
    State,
)
from recovery.models.complaints import DESCRIPTION_MAX_CHARS
from recovery.services import attachments
from recovery.services.intake import ComplaintIntake, CustomerDetails, complaint_submit
from recovery.services.messages import automatic_reply_note_add, customer_message_add

logger = logging.getLogger(__name__)

# Intake needs a staff actor to open a complaint for a customer who has no login. This account
# is inactive with an unusable password: it can never sign in; its agents group membership only
# makes intake treat it as staff. Timeline events of emailed complaints name it as the actor.
SERVICE_ACCOUNT_USERNAME = "inbound-email"
# Of a message over the size limit we keep the head, which holds the headers an operator needs
# to find the original; 256 KiB fits any sane header block.
OVERSIZE_HEAD_BYTES = 256 * 1024
NO_SUBJECT = "(no subject)"
SUBJECT_MAX_CHARS = Complaint._meta.get_field("subject").max_length
CUSTOMER_NAME_MAX_CHARS = 200  # recovery.Customer.name
EMAIL_MAX_CHARS = 254  # RFC 5321 path limit, and recovery.Customer.email's column
_FINGERPRINT_MAX_CHARS = InboundEmail._meta.get_field("fingerprint").max_length
# Printable ASCII without angle brackets, up to the column: an id cut short or re-encoded
# in a header would thread nothing.
_ID_MAX_CHARS = InboundEmail._meta.get_field("rfc_message_id").max_length
_HEADER_SAFE_ID = re.compile(rf"[!-;=?-~]{{1,{_ID_MAX_CHARS}}}")


# How the reason of an ignored bounce begins: the ingest command counts these on their own.
UNKNOWN_BOUNCE = "bounce of no email of ours"


# Named in the reason of a message stored cut short (step 1 of the docstring).
_CUT_SHORT_MARK = "REDRESS_INBOUND_MAX_BYTES"


def is_cut_short(inbound: InboundEmail) -> bool:
    """Whether only the head of the message is stored (it came in over the size limit)."""
    return (
        inbound.status == InboundStatus.QUARANTINED
        and _CUT_SHORT_MARK in inbound.reason.split(";")[0]
    )


@dataclass(frozen=True)
class IngestResult:
    inbound: InboundEmail
    duplicate: bool  # the message was stored before; nothing was done this time
    reference: str  # the complaint it opened or was threaded onto, or ""

    @property
    def outcome(self) -> str:
        """What became of the message, as the ingest command counts it."""
        if self.duplicate:
            return "duplicate"
        if self.inbound.status == InboundStatus.IGNORED and self.inbound.reason.startswith(
            UNKNOWN_BOUNCE
        ):
            return "unknown bounce"
        return self.inbound.status


def ingest(raw: bytes, *, source: str) -> InboundEmail:
    """Store one raw message and act on it (steps in the module docstring)."""
    return ingest_message(raw, source=source).inbound


def ingest_message(raw: bytes, *, source: str) -> IngestResult:
    """``ingest`` that also says whether the message was a duplicate, and its complaint."""
    raw = bytes(raw)
    limit = settings.REDRESS_INBOUND_MAX_BYTES
    parsed: ParsedEmail | None = None
    stored_raw = raw
    if len(raw) > limit:
        fingerprint = _raw_fingerprint(raw)
        stored_raw = raw[:OVERSIZE_HEAD_BYTES]
        quarantine_reason = (
            f"message is {len(raw):,} bytes, over the {limit:,}-byte limit "
            f"({_CUT_SHORT_MARK}); not parsed, only the first "
            f"{len(stored_raw):,} bytes are kept"
        )
    else:
        try:
            parsed = parse_message(raw)
        except UnparseableEmail as exc:
            fingerprint = _raw_fingerprint(raw)
            quarantine_reason = f"unparseable: {exc.reason}"
        else:
            fingerprint = _fingerprint(parsed)
            quarantine_reason = ""

    digest = content_digest(raw)
    same_message = InboundEmail.objects.filter(fingerprint=fingerprint, content_digest=digest)
    existing = same_message.first()
    if existing is not None:
        return _duplicate(existing)
    reused = InboundEmail.objects.filter(fingerprint=fingerprint).order_by("pk").first()
    try:
        with transaction.atomic():
            inbound = InboundEmail.objects.create(
                fingerprint=fingerprint,
                content_digest=digest,
                raw=stored_raw,
                status=InboundStatus.QUARANTINED,
                reason=quarantine_reason,
                sender=_cut(parsed.from_address or parsed.from_name, 254) if parsed else "",
                subject=_cut(parsed.subject, 300) if parsed else "",
                rfc_message_id=_repeatable_id(parsed.message_id) if parsed else "",
                source=_cut_left(source, 200),
            )
            reference = _route_safely(inbound, parsed) if parsed is not None else ""
            if reused is not None:
                inbound.reason = "; ".join(
                    filter(None, [inbound.reason, _reuse_note(reused, parsed)])
                )
            inbound.save(
                update_fields=[
                    "status",
                    "reason",
                    "complaint_id",
                    "message_id",
                    "held_complaint_id",
                    "authentication",
                    "full_text",
                ]
            )
    except IntegrityError:
        # Another ingest of the same message committed first (step 3 of the docstring).
        existing = same_message.first()
        if existing is None:
            raise
        return _duplicate(existing)
    return IngestResult(inbound=inbound, duplicate=False, reference=reference)


def _duplicate(existing: InboundEmail) -> IngestResult:
    complaint = (
        recovery_selectors.complaint_for_email(existing.complaint_id)
        if existing.complaint_id
        else None
    )
    return IngestResult(
        existing, duplicate=True, reference=complaint.reference if complaint else ""
    )


def _reuse_note(earlier: InboundEmail, parsed: ParsedEmail | None) -> str:
    message_id = parsed.message_id if parsed and parsed.message_id else earlier.fingerprint
    return (
        f"Message-ID <{message_id}> was used before by inbound email #{earlier.pk} with "
        "different content: kept as a message of its own"
    )


def _raw_fingerprint(raw: bytes) -> str:
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def _fingerprint(parsed: ParsedEmail) -> str:
    fingerprint = parsed.fingerprint
    if len(fingerprint) > _FINGERPRINT_MAX_CHARS:
        # A Message-ID longer than the column (RFC 5322 sets no limit): hash it, stably.
        return f"message-id-sha256:{hashlib.sha256(fingerprint.encode()).hexdigest()}"
    return fingerprint


def _repeatable_id(message_id: str | None) -> str:
    """The Message-ID if our answers can name it in a header as it is, else ""."""
    if message_id and _HEADER_SAFE_ID.fullmatch(message_id):
        return message_id
    return ""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut_left(text: str, limit: int) -> str:
    # Sources are paths and mailbox keys: the end says which message.
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


# --- routing -----------------------------------------------------------------------------


def _route_safely(inbound: InboundEmail, parsed: ParsedEmail) -> str:
    """Route in a savepoint; on an unexpected error, quarantine instead (see docstring)."""
    stored_files: list[str] = []
    try:
        with transaction.atomic():
            return _route(inbound, parsed, stored_files)
    except Exception as exc:
        logger.exception("Inbound email %s could not be ingested; quarantined", inbound.pk)
        for name in stored_files:
            default_storage.delete(name)
        inbound.status = InboundStatus.QUARANTINED
        inbound.reason = f"ingestion failed ({type(exc).__name__}: {exc}); kept for review"
        inbound.complaint_id = inbound.message_id = inbound.held_complaint_id = None
        inbound.full_text = ""
        return ""


def _route(inbound: InboundEmail, parsed: ParsedEmail, stored_files: list[str]) -> str:
    """Decide what the message is and act on it; returns the complaint reference or ""."""
    inbound.authentication = _authentication(parsed)
    if parsed.is_automatic:
        bounce = parse_bounce(bytes(inbound.raw))
        if bounce is not None:
            return _bounce(inbound, bounce)
        return _automatic(inbound, parsed)
    loop = _loop_reason(parsed)
    if loop:
        return _ignore(inbound, loop)
    sender = parsed.from_address
    if sender is None or len(sender) > EMAIL_MAX_CHARS:
        inbound.status = InboundStatus.QUARANTINED
        inbound.reason = (
            "no usable sender address: nobody to open a complaint for or to answer; "
            "kept for an agent to read"
        )
        return ""

    complaint, how, notes = _followed_to_survivor(*_thread_target(parsed))
    if complaint is not None and complaint.state == State.WITHDRAWN:
        notes.append(f"{complaint.reference} was withdrawn, so this opens a new complaint")
        complaint = None
    if complaint is None and parsed.is_list_mail:
        # An announcement or a newsletter is nobody's complaint, and answering a list is
        # what RFC 3834 forbids; a customer's reply through a shared inbox threads above.
        logger.info("Inbound email %s is list mail (%s)", inbound.pk, parsed.list_reason)
        return _ignore(
            inbound,
            "; ".join(
                [
                    f"list mail: {parsed.list_reason}; it threads onto no complaint, so it "
                    "opens none and gets no receipt (RFC 3834)",
                    *notes,
                ]
            ),
        )
    if complaint is not None:
        why = _why_held(parsed, complaint, inbound.authentication)
        if why:
            return _hold(inbound, parsed, complaint, how, why, notes, stored_files)
        message = customer_message_add(
            complaint=complaint, body=reply_body(parsed), channel=Channel.EMAIL
        )
        inbound.message_id = message.pk
        notes.extend(filter(None, [keep_full_text(inbound, parsed)]))
        summary = f"reply added to {complaint.reference} ({how})"
        if not complaint.is_open:
            notes.append(
                f"{complaint.reference} is {complaint.get_state_display().lower()}; recorded, not reopened"
            )
    else:
        complaint = open_complaint(inbound, parsed, notes)
        original = complaint.messages.filter(kind=MessageKind.ORIGINAL).order_by("id").first()
        inbound.message_id = original.pk if original else None
        summary = f"opened {complaint.reference}"
    inbound.complaint_id = complaint.pk
    store_attachments(inbound, parsed, stored_files)
    notes.extend(
        f"attachment {skipped.filename!r} not kept: {skipped.reason}"
        for skipped in parsed.skipped_attachments
    )
    notes.extend(attach_to_complaint(complaint, parsed, inbound.message_id))
    inbound.status = InboundStatus.ACCEPTED
    inbound.reason = "; ".join([summary, *notes])
    return complaint.reference


def _bounce(inbound: InboundEmail, bounce) -> str:
    recorded = bounce_record(inbound=inbound, bounce=bounce)
    if recorded is None:
        named = ", ".join(f"<{mid}>" for mid in bounce.original_message_ids[:3])
        logger.info("Inbound email %s is a bounce of no email of ours (%s)", inbound.pk, named)
        return _ignore(
            inbound,
            f"{UNKNOWN_BOUNCE}: it returns {named}"
            if named
            else f"{UNKNOWN_BOUNCE}: it names no Message-ID of the returned email",
        )
    inbound.status = InboundStatus.BOUNCE
    inbound.reason, reference = recorded
    return reference


def _automatic(inbound: InboundEmail, parsed: ParsedEmail) -> str:
    """Automatic mail is never answered; one from the customer's address that threads onto
    their complaint (an out-of-office to our email) is kept there as a staff-only note."""
    reason = f"automatic mail: {parsed.automatic_reason}"
    logger.info("Inbound email %s is automatic mail (%s)", inbound.pk, parsed.automatic_reason)
    complaint, how, _notes = _thread_target(parsed) if not _loop_reason(parsed) else (None, "", [])
    if (
        complaint is None
        or complaint.state == State.WITHDRAWN
        or _why_held(parsed, complaint, inbound.authentication)
    ):
        return _ignore(inbound, reason)
    note = automatic_reply_note_add(
        complaint=complaint,
        body=f"Automatic reply from {parsed.from_address} ({parsed.automatic_reason}):\n\n"
        f"{reply_body(parsed)}",
    )
    inbound.complaint_id, inbound.message_id = complaint.pk, note.pk
    kept = f"{reason}; kept as a staff note on {complaint.reference} ({how})"
    return _ignore(inbound, "; ".join(filter(None, [kept, keep_full_text(inbound, parsed)])))


def _ignore(inbound: InboundEmail, reason: str) -> str:
    inbound.status = InboundStatus.IGNORED
    inbound.reason = reason
    return ""


def _loop_reason(parsed: ParsedEmail) -> str | None:
    """Why this is our own mail coming back to us, or None."""
    our_address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].lower()
    if our_address and parsed.from_address == our_address:
        return f"mail loop: sent from our own address {our_address}"
    message_id = parsed.message_id
    if message_id:
        ours_by_domain = message_id.lower().endswith(f"@{settings.REDRESS_EMAIL_DOMAIN.lower()}")
        if (
            ours_by_domain
            or EmailDelivery.objects.filter(rfc_message_id__in=_id_forms([message_id])).exists()
        ):
            return f"mail loop: Message-ID <{message_id}> is one we sent"
    return None


def _id_forms(ids) -> list[str]:
    # We store our Message-IDs as make_msgid gives them, in angle brackets; the parser strips
    # brackets. Match both so a row written either way is found.
    return [form for mid in ids for form in (f"<{mid}>", mid)]


# A survivor may have been merged into another since: followed this many merges at most.
MERGE_HOPS = 5


def _followed_to_survivor(
    complaint: Complaint | None, how: str, notes: list[str]
) -> tuple[Complaint | None, str, list[str]]:
    """An email on a duplicate merged into another complaint joins the survivor's
    conversation (``recovery.services.merge``, which merges one customer's complaints only,
    so whether its sender may write there is decided as it would have been)."""
    for _ in range(MERGE_HOPS):
        if complaint is None or complaint.duplicate_of_id is None:
            break
        survivor = recovery_selectors.complaint_for_email(complaint.duplicate_of_id)
        if survivor is None:
            break
        how = f"{how}; {complaint.reference} was merged into {survivor.reference}"
        complaint = survivor
    return complaint, how, notes


def _thread_target(parsed: ParsedEmail) -> tuple[Complaint | None, str, list[str]]:
    """(complaint the message says it belongs to, how it says so, notes for the reason).

    Whether its sender may write on that complaint is decided after (``_why_held``).
    """
    notes: list[str] = []
    referenced = parsed.references_all()
    if referenced:
        ours = dict(
            EmailDelivery.objects.filter(rfc_message_id__in=_id_forms(referenced)).values_list(
                "rfc_message_id", "complaint_id"
            )
        )
        # The customer's own emails on a complaint: a follow-up to the email that opened it.
        # Found by fingerprint, which is the Message-ID and has a unique index.
        theirs = dict(
            InboundEmail.objects.filter(
                fingerprint__in=referenced,
                status=InboundStatus.ACCEPTED,
                complaint_id__isnull=False,
            ).values_list("fingerprint", "complaint_id")
        )
        # In-Reply-To first, then References from the oldest: the first known one wins.
        for mid in referenced:
            if complaint_id := ours.get(f"<{mid}>") or ours.get(mid):
                how = f"answers our email <{mid}>"
            elif complaint_id := theirs.get(mid):
                how = f"follows the email <{mid}>"
            else:
                continue
            complaint = recovery_selectors.complaint_for_email(complaint_id)
            if complaint is not None:
                return complaint, how, notes
    reference = extract_reference(parsed.subject)
    if reference:
        complaint = Complaint.objects.select_related("customer").filter(reference=reference).first()
        if complaint is not None:
            return complaint, f"subject names {reference}", notes
        notes.append(f"subject names {reference}, which does not exist")
    return None, "", notes


def _authentication(parsed: ParsedEmail) -> dict:
    """What a receiving server we trust found of SPF, DKIM and DMARC, or {}.

    Only the topmost Authentication-Results header of a trusted authserv-id
    (``REDRESS_INBOUND_AUTHSERV_IDS``) counts: a server adds its header above those already
    there, and anyone can write one lower down.
    """
    trusted = {authserv_id.lower() for authserv_id in settings.REDRESS_INBOUND_AUTHSERV_IDS}
    for header in parsed.authentication_results:
        if header.authserv_id and header.authserv_id in trusted:
            found = {m: r for m in ("spf", "dkim", "dmarc") if (r := header.result(m))}
            return {"authserv_id": header.authserv_id, **found}
    return {}


def _why_held(parsed: ParsedEmail, complaint: Complaint, authentication: dict) -> str:
    """Why the message may not go onto ``complaint`` as its customer's, or ""."""
    sender = parsed.from_address
    if not recovery_selectors.writes_for_customer(complaint.customer, sender):
        # A Message-ID or a reference is no proof of who writes: anyone copied on, or shown,
        # an email of the thread has them.
        return f"{sender} is not {complaint.reference}'s customer nor a contact of theirs"
    if authentication.get("dmarc") == "fail":
        return (
            f"DMARC failed for {sender} ({authentication['authserv_id']}): the customer's "
            "address may be forged"
        )
    return ""


def _hold(
    inbound: InboundEmail,
    parsed: ParsedEmail,
    complaint: Complaint,
    how: str,
    why: str,
    notes: list[str],
    stored_files: list[str],
) -> str:
    """Keep the message out of ``complaint`` until staff review it; tell its team."""
    inbound.status = InboundStatus.HELD
    inbound.held_complaint_id = complaint.pk
    # Kept with the held message, for the reviewer; they join no complaint until accepted.
    store_attachments(inbound, parsed, stored_files)
    notes.extend(
        f"attachment {skipped.filename!r} not kept: {skipped.reason}"
        for skipped in parsed.skipped_attachments
    )
    inbound.reason = "; ".join(
        [f"held for review: {why}; it claims to be about {complaint.reference} ({how})", *notes]
    )
    recovery_events.record(
        complaint,
        EventType.EMAIL_HELD,
        None,
        {"inbound_email_id": inbound.pk, "sender": parsed.from_address, "reason": why},
    )
    return ""


def reply_body(parsed: ParsedEmail) -> str:
    body = parsed.reply_text.strip()
    if body:
        return body
    if parsed.attachments:
        return f"(The email had no text; {len(parsed.attachments)} attachment(s).)"
    return "(The email had no text.)"


# Recorded in the reason of an email whose reply went onto a complaint without its quoted
# history; the whole text is then in ``InboundEmail.full_text``.
QUOTED_TEXT_CUT = "quoted text cut from the reply; the full text is kept with the email"


def keep_full_text(inbound: InboundEmail, parsed: ParsedEmail) -> str:
    """Keep the whole text on ``inbound`` if ``reply_body`` left quoted text out; the note
    to record then, else ""."""
    if not parsed.reply_was_cut:
        return ""
    inbound.full_text = parsed.text.strip()
    return QUOTED_TEXT_CUT


def open_complaint(
    inbound: InboundEmail, parsed: ParsedEmail, notes: list[str], actor=None
) -> Complaint:
    """A new complaint of the sender's, opened by ``actor`` (the service account by default)."""
    description = parsed.text.strip()
    if not description:
        count = len(parsed.attachments)
        description = (
            f"(The email had no text; {count} attachment(s).)"
            if count
            else "(The email had no text.)"
        )
    if len(description) > DESCRIPTION_MAX_CHARS:
        marker = (
            f"\n\n[Cut: the email's text is {len(description):,} characters; the whole message "
            f"is kept as inbound email #{inbound.pk}.]"
        )
        description = description[: DESCRIPTION_MAX_CHARS - len(marker)].rstrip() + marker
        notes.append(f"description cut to {DESCRIPTION_MAX_CHARS:,} characters")
    local_part = parsed.from_address.partition("@")[0]
    if parsed.is_list_mail:
        notes.append(f"list mail ({parsed.list_reason}): no receipt is sent (RFC 3834)")
    complaint, _ = complaint_submit(
        actor=actor or service_account(),
        intake=ComplaintIntake(
            subject=_cut(parsed.subject or NO_SUBJECT, SUBJECT_MAX_CHARS),
            description=description,
            channel=Channel.EMAIL,
            customer=CustomerDetails(
                name=_cut(parsed.from_name.strip() or local_part, CUSTOMER_NAME_MAX_CHARS),
                email=parsed.from_address,
            ),
            receipt=not parsed.is_list_mail,
            # Only a trusted receiving server's DMARC pass shows the From address is the
            # sender's; without it the complaint waits on a provisional record for the
            # address's owner to confirm it (recovery.services.address_proof).
            address_proven=(inbound.authentication or {}).get("dmarc") == "pass",
        ),
    )
    return complaint


def service_account():
    """The inactive staff account that opens emailed complaints (see its constant)."""
    user, created = get_user_model().objects.get_or_create(
        username=SERVICE_ACCOUNT_USERNAME,
        defaults={"is_active": False, "first_name": "Inbound", "last_name": "email"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if not roles.has_role(user, roles.AGENT):
        agents = Group.objects.filter(name=roles.AGENT).first()
        user.groups.add(agents or roles.ensure_role_groups()[roles.AGENT])
        user._redress_groups = None  # roles.has_role caches group names on the instance
    return user


_SAFE_EXTENSION = re.compile(r"[A-Za-z0-9]{1,10}")


def attach_to_complaint(complaint: Complaint, parsed: ParsedEmail, message_id) -> list[str]:
    """The email's files, through the same checks as an upload (type from the bytes, size,
    virus scan, the complaint's limits), as the complaint's attachments. A part refused, by
    these checks or by the parser, is recorded on the timeline with why; returns notes for
    the inbound email's reason."""
    notes, checked = [], []
    for skipped in parsed.skipped_attachments:
        attachments.attachment_refused(
            complaint=complaint, filename=skipped.filename, reason=skipped.reason
        )
    for part in parsed.attachments:
        try:
            checked.append(attachments.upload_check(name=part.filename, content=part.content))
        except ValidationFailed as refused:
            attachments.attachment_refused(
                complaint=complaint, filename=part.filename, reason=refused.message
            )
            notes.append(f"attachment {part.filename!r} refused: {refused.message}")
    message = Message.objects.filter(pk=message_id).first() if message_id else None
    try:
        attachments.attachments_add(
            complaint=complaint, files=checked, source=AttachmentSource.EMAIL, message=message
        )
    except ValidationFailed as refused:
        for file in checked:
            attachments.attachment_refused(
                complaint=complaint, filename=file.filename, reason=refused.message
            )
        notes.append(f"{len(checked)} attachment(s) refused: {refused.message}")
    return notes


def store_attachments(inbound: InboundEmail, parsed: ParsedEmail, stored: list[str]) -> None:
    for attachment in parsed.attachments:
        # The display name is the parser's sanitised one; the file on disk gets a random name
        # so no sender-chosen name ever reaches the filesystem or collides with another.
        extension = attachment.filename.rpartition(".")[2] if "." in attachment.filename else ""
        suffix = f".{extension.lower()}" if _SAFE_EXTENSION.fullmatch(extension) else ".bin"
        row = InboundAttachment(
            email=inbound,
            filename=_cut(attachment.filename, 255),
            content_type=_cut(attachment.content_type, 255),
            size=attachment.size,
        )
        row.content.save(f"{uuid.uuid4().hex}{suffix}", ContentFile(attachment.content))
        stored.append(row.content.name)
