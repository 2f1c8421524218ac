"""Reviewing held inbound email: the three things staff can do with it.

An email threaded onto a complaint by someone who is not its customer (or that failed DMARC)
is held (``notifications.ingest``). Whoever works that complaint decides, one service each:

- ``held_email_accept``: it is the customer's after all (their partner, their solicitor, their
  other address): the text goes onto the complaint as the customer's message, and its sender
  is authorised to write for the customer from now on (``recovery.services.contacts``);
- ``held_email_open_as_complaint``: it is someone else's matter: a new complaint of the
  sender's is opened from it;
- ``held_email_discard``: it is nobody's business (spam, a mistake, an attempt to post into
  someone else's complaint).

Quarantined email (unreadable, no usable sender, or routing failed) claims no complaint;
supervisors and up review it (``recovery.rules.may_review_unattributed_mail``): open it as
a new complaint when it can be read and answered, or discard it with a reason.

Each runs in one transaction:
1. lock the held row ``SELECT … FOR UPDATE``, so two reviewers deciding at once act once;
2. refuse an actor who does not work the complaint the email was held on (customers, outsiders
   and other teams' agents), then an email already reviewed (``Conflict``, saying what became
   of it);
3. act through the recovery services, and record the decision on the complaint's timeline,
   for staff only (``recovery.models.STAFF_ONLY_EVENT_TYPES``);
4. mark the row: what became of it, who decided, when.
"""

from django.db import transaction
from django.utils import timezone

from common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from notifications import ingest
from notifications.inbound_parsing import ParsedEmail, UnparseableEmail, parse_message
from notifications.models import InboundEmail, InboundStatus
from recovery import events as recovery_events
from recovery import rules
from recovery import selectors as recovery_selectors
from recovery.models import Channel, Complaint, EventType, MessageKind
from recovery.services import contacts
from recovery.services.messages import customer_message_add


def held_email_accept(*, inbound_id: int, actor, reason: str = "") -> InboundEmail:
    """Add the held email to its complaint as the customer's, and authorise its sender.

    The message is dated when the email came in and shown as its sender's (name and
    address) when that is not the customer's own address; the reviewer's ``reason`` is kept
    on the timeline with what the acceptance did.
    """
    with transaction.atomic():
        inbound, complaint, parsed = _claim(inbound_id, actor)
        reason = _reason(reason)
        sender = parsed.from_address or inbound.sender
        # A DMARC failure from the customer's own address needs no new contact.
        authorise = not recovery_selectors.writes_for_customer(complaint.customer, sender)
        if authorise:
            contacts.customer_contact_authorise(complaint=complaint, email=sender, actor=actor)
        own_address = sender.lower() == (complaint.customer.email or "").lower()
        message = customer_message_add(
            complaint=complaint,
            body=ingest.reply_body(parsed),
            channel=Channel.EMAIL,
            written_by="" if own_address else _written_by(parsed.from_name, sender),
            written_at=inbound.received_at,
        )
        # Checked now, as an accepted email's files are on arrival (ingest).
        files_noted = ingest.attach_to_complaint(complaint, parsed, message.pk)
        what = (
            f"{sender} may write for the customer from now on"
            if authorise
            else f"from {sender}, the customer's own address"
        )
        recovery_events.record(
            complaint,
            EventType.HELD_EMAIL_ACCEPTED,
            actor,
            {
                "inbound_email_id": inbound.pk,
                "sender": sender,
                "message_id": message.pk,
                "contact_authorised": authorise,
                "reason": f"{reason} ({what})" if reason else what,
                "reviewer_reason": reason,
            },
        )
        accepted = "accepted as the customer's message" + (f" ({reason})" if reason else "")
        return _reviewed(
            inbound,
            actor,
            complaint_id=complaint.pk,
            message_id=message.pk,
            what="; ".join(
                filter(None, [accepted, ingest.keep_full_text(inbound, parsed), *files_noted])
            ),
        )


def held_email_open_as_complaint(*, inbound_id: int, actor, reason: str = "") -> InboundEmail:
    """Open a new complaint of the sender's from the held email."""
    with transaction.atomic():
        inbound, complaint, parsed = _claim(inbound_id, actor)
        reason = _reason(reason)
        notes: list[str] = []
        opened = ingest.open_complaint(inbound, parsed, notes, actor=actor)
        original = opened.messages.filter(kind=MessageKind.ORIGINAL).order_by("id").first()
        notes.extend(ingest.attach_to_complaint(opened, parsed, original.pk if original else None))
        recovery_events.record(
            complaint,
            EventType.HELD_EMAIL_OPENED,
            actor,
            {
                "inbound_email_id": inbound.pk,
                "sender": parsed.from_address or inbound.sender,
                "new_reference": opened.reference,
                "reason": (
                    f"{reason} (opened as {opened.reference})"
                    if reason
                    else f"opened as {opened.reference}"
                ),
                "reviewer_reason": reason,
            },
        )
        return _reviewed(
            inbound,
            actor,
            complaint_id=opened.pk,
            message_id=original.pk if original else None,
            what="; ".join(
                [f"opened {opened.reference}" + (f" ({reason})" if reason else ""), *notes]
            ),
        )


def held_email_discard(*, inbound_id: int, actor, reason: str = "") -> InboundEmail:
    """Keep the held email out of every complaint for good (the row stays, as all mail does)."""
    with transaction.atomic():
        inbound, complaint, parsed = _claim(inbound_id, actor)
        reason = _reason(reason)
        recovery_events.record(
            complaint,
            EventType.HELD_EMAIL_DISCARDED,
            actor,
            {
                "inbound_email_id": inbound.pk,
                "sender": parsed.from_address or inbound.sender,
                "reason": reason or "discarded",
            },
        )
        return _reviewed(
            inbound,
            actor,
            complaint_id=None,
            message_id=None,
            what="discarded" + (f" ({reason})" if reason else ""),
            status=InboundStatus.DISCARDED,
        )


def quarantined_email_open_as_complaint(
    *, inbound_id: int, actor, reason: str = ""
) -> InboundEmail:
    """Open a new complaint of the sender's from a quarantined email that a person can read
    (quarantined because routing failed, say) and that has a sender to answer."""
    with transaction.atomic():
        inbound = _claim_quarantined(inbound_id, actor)
        reason = _reason(reason)
        try:
            parsed = None if ingest.is_cut_short(inbound) else parse_message(bytes(inbound.raw))
        except UnparseableEmail:
            parsed = None
        if parsed is None or not parsed.from_address:
            raise ValidationFailed(
                f"Email #{inbound.pk} cannot be opened as a complaint: "
                + ("it has no sender to answer." if parsed else "it could not be read whole.")
                + " Discard it, saying why; it stays stored.",
                details={"decision": ["Only discarding is possible for this email."]},
            )
        notes: list[str] = []
        opened = ingest.open_complaint(inbound, parsed, notes, actor=actor)
        original = opened.messages.filter(kind=MessageKind.ORIGINAL).order_by("id").first()
        stored: list[str] = []
        ingest.store_attachments(inbound, parsed, stored)
        ingest.attach_to_complaint(opened, parsed, original.pk if original else None)
        recovery_events.record(
            opened,
            EventType.HELD_EMAIL_OPENED,
            actor,
            {
                "inbound_email_id": inbound.pk,
                "sender": parsed.from_address,
                "new_reference": opened.reference,
                "quarantined": True,
                "reason": f"{reason} (opened from quarantined email #{inbound.pk})"
                if reason
                else f"opened from quarantined email #{inbound.pk}",
                "reviewer_reason": reason,
            },
        )
        return _reviewed(
            inbound,
            actor,
            complaint_id=opened.pk,
            message_id=original.pk if original else None,
            what="; ".join(
                [f"opened {opened.reference}" + (f" ({reason})" if reason else ""), *notes]
            ),
        )


def quarantined_email_discard(*, inbound_id: int, actor, reason: str) -> InboundEmail:
    """Close the review of a quarantined email: it claims no complaint, so the reason (which
    is required) and the reviewer are recorded on the stored email itself."""
    with transaction.atomic():
        inbound = _claim_quarantined(inbound_id, actor)
        reason = _reason(reason)
        if not reason:
            raise ValidationFailed(
                "Say why the email is discarded.", details={"reason": ["Required to discard."]}
            )
        return _reviewed(
            inbound,
            actor,
            complaint_id=None,
            message_id=None,
            what=f"discarded ({reason})",
            status=InboundStatus.DISCARDED,
        )


ACCEPT, OPEN, DISCARD = "accept", "open", "discard"


def inbound_email_review(*, inbound_id: int, actor, decision: str, reason: str = ""):
    """One review decision on a held or quarantined email (the desk's Held mail queue)."""
    held_on = InboundEmail.objects.filter(pk=inbound_id).values_list("held_complaint_id", flat=True)
    if held_on.first() is not None:
        review = {ACCEPT: held_email_accept, OPEN: held_email_open_as_complaint}.get(
            decision, held_email_discard
        )
        return review(inbound_id=inbound_id, actor=actor, reason=reason)
    if decision == ACCEPT:
        raise ValidationFailed(
            f"Email #{inbound_id} claims no complaint: there is no customer to accept it for. "
            "Open it as a new complaint, or discard it.",
            details={"decision": ["Accepting needs a complaint the email claims."]},
        )
    if decision == OPEN:
        return quarantined_email_open_as_complaint(
            inbound_id=inbound_id, actor=actor, reason=reason
        )
    return quarantined_email_discard(inbound_id=inbound_id, actor=actor, reason=reason)


def _claim_quarantined(inbound_id: int, actor) -> InboundEmail:
    """Steps 1 and 2 for quarantined mail, reviewed by supervisors and up (recovery.access)."""
    inbound = InboundEmail.objects.select_for_update().filter(pk=inbound_id).first()
    if (
        inbound is None
        or inbound.held_complaint_id is not None
        or (inbound.status != InboundStatus.QUARANTINED and inbound.reviewed_by_id is None)
    ):
        raise NotFound(f"No quarantined email #{inbound_id}.")
    if not rules.may_review_unattributed_mail(actor):
        raise PermissionDenied("Only supervisors and complaints managers review quarantined email.")
    if inbound.status != InboundStatus.QUARANTINED:
        raise Conflict(
            f"Email #{inbound.pk} was reviewed already: {inbound.get_status_display().lower()}.",
            details={"status": inbound.status},
        )
    return inbound


# The reviewer's reason is one line on the timeline; 500 characters is the form's limit.
REASON_MAX_CHARS = 500


def _reason(reason: str) -> str:
    return " ".join(reason.split())[:REASON_MAX_CHARS]


def _written_by(name: str, address: str) -> str:
    name = " ".join(name.split())
    return (f"{name} <{address}>" if name else address)[:300]  # recovery.Message.written_by


def _claim(inbound_id: int, actor) -> tuple[InboundEmail, Complaint, ParsedEmail]:
    """Steps 1 and 2 of the module docstring: the locked row, its complaint, the message."""
    inbound = InboundEmail.objects.select_for_update().filter(pk=inbound_id).first()
    if inbound is None or inbound.held_complaint_id is None:
        raise NotFound(f"No held email #{inbound_id}.")
    complaint = (
        Complaint.objects.select_related("customer").filter(pk=inbound.held_complaint_id).first()
    )
    if complaint is None or not rules.works_on(complaint, actor):
        raise PermissionDenied(
            "Only staff who work the complaint an email was held on may review it."
        )
    if inbound.status != InboundStatus.HELD:
        raise Conflict(
            f"Email #{inbound.pk} was reviewed already: {inbound.get_status_display().lower()}.",
            details={"status": inbound.status},
        )
    # Parsed again from the stored bytes: the held row keeps the message whole, not its text.
    return inbound, complaint, parse_message(bytes(inbound.raw))


def _reviewed(
    inbound: InboundEmail,
    actor,
    *,
    complaint_id: int | None,
    message_id: int | None,
    what: str,
    status: str = InboundStatus.ACCEPTED,
) -> InboundEmail:
    inbound.status = status
    inbound.complaint_id = complaint_id
    inbound.message_id = message_id
    inbound.reviewed_by = actor
    inbound.reviewed_at = timezone.now()
    inbound.reason = f"{inbound.reason}; reviewed by {actor.get_username()}: {what}"
    inbound.save(
        update_fields=[
            "status",
            "complaint_id",
            "message_id",
            "reviewed_by",
            "reviewed_at",
            "reason",
            "full_text",
        ]
    )
    return inbound
