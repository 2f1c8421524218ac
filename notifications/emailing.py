"""Sending one queued customer email through Django's email backend, exactly once."""

import logging
from email.headerregistry import Address

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from notifications.models import (
    EmailDelivery,
    EmailStatus,
    InboundEmail,
    InboundStatus,
    MessageTemplateKind,
)
from recovery import selectors as recovery_selectors

logger = logging.getLogger(__name__)

# Emails no person wrote or sent by hand carry ``Auto-Submitted: auto-generated`` (RFC 3834),
# so that out-of-office and other automatic answers stay away: the receipt (sent on arrival),
# the survey invitation (sent when the loop closes) and the acknowledgement (the standard
# notice that the complaint was taken in, its wording filled in for the agent).
AUTOMATIC_KINDS = frozenset(
    {
        MessageTemplateKind.RECEIPT,
        MessageTemplateKind.ACKNOWLEDGEMENT,
        MessageTemplateKind.SURVEY_INVITATION,
    }
)
# How many Message-IDs ``References`` names at most: the thread's first message and the
# latest ones. RFC 5322 sets no limit, but some servers cut or refuse very long headers, and
# mail clients thread on the first and the last few.
REFERENCES_MAX = 10


def send(delivery_id: int) -> bool:
    """Send a queued email; returns False if it was sent (or is being sent) already.

    The row stays locked while the backend sends, so two workers never send it twice; if
    sending raises, the transaction rolls back and the row stays queued for a retry.
    """
    with transaction.atomic():
        delivery = (
            EmailDelivery.objects.select_for_update(skip_locked=True)
            .filter(pk=delivery_id, status=EmailStatus.QUEUED)
            .first()
        )
        if delivery is None:
            return False
        headers = {"Message-ID": delivery.rfc_message_id, **thread_headers(delivery)}
        if delivery.kind in AUTOMATIC_KINDS:
            headers["Auto-Submitted"] = "auto-generated"
        message = EmailMultiAlternatives(
            subject=delivery.subject,
            body=delivery.body_text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[addressee(delivery)],
            headers=headers,
        )
        if delivery.body_html:
            message.attach_alternative(delivery.body_html, "text/html")
        message.send(fail_silently=False)
        delivery.status = EmailStatus.SENT
        delivery.sent_at = timezone.now()
        delivery.attempts += 1
        delivery.save(update_fields=["status", "sent_at", "attempts"])
    return True


def addressee(delivery: EmailDelivery) -> str:
    """``To`` with the customer's name, as mail programs show it: "Zoë O'Brien" <zoe@…>.

    The name is quoted and, when not ASCII, encoded by the ``email`` package; one it cannot
    put in a header (a control character) leaves the bare address, which still arrives.
    """
    complaint = recovery_selectors.complaint_for_email(delivery.complaint_id)
    customer = complaint.customer if complaint is not None else None
    if customer is None or customer.email.lower() != delivery.recipient.lower():
        return delivery.recipient
    name = " ".join(customer.name.split())  # a header value is one line
    if not name:
        return delivery.recipient
    try:
        return str(Address(display_name=name, addr_spec=delivery.recipient))
    except (ValueError, IndexError):
        return delivery.recipient


def thread_headers(delivery: EmailDelivery) -> dict[str, str]:
    """``In-Reply-To`` and ``References`` that put the email in the customer's conversation.

    1. The conversation is the customer's emails accepted onto the complaint (when it came in
       by email, the first is the one that opened it) and our emails sent for it, in the
       order they were written. Mail held for review is nobody's conversation yet.
    2. ``In-Reply-To`` names the latest of them: the customer's own email, for a receipt.
    3. ``References`` names the first (the thread's root) and the latest, oldest first.
    """
    theirs = (
        InboundEmail.objects.filter(
            complaint_id=delivery.complaint_id, status=InboundStatus.ACCEPTED
        )
        .exclude(rfc_message_id="")
        .values_list("received_at", "rfc_message_id")
    )
    ours = (
        EmailDelivery.objects.filter(complaint_id=delivery.complaint_id, status=EmailStatus.SENT)
        .exclude(pk=delivery.pk)
        .values_list("sent_at", "rfc_message_id")
    )
    conversation = [
        _bracketed(message_id) for _, message_id in sorted([*theirs, *ours], key=lambda m: m[0])
    ]
    conversation = list(dict.fromkeys(conversation))
    if not conversation:
        return {}
    if len(conversation) > REFERENCES_MAX:
        conversation = [conversation[0], *conversation[-(REFERENCES_MAX - 1) :]]
    return {"In-Reply-To": conversation[-1], "References": " ".join(conversation)}


def _bracketed(message_id: str) -> str:
    # Ours are stored as make_msgid gives them, in angle brackets; the parser strips them.
    return message_id if message_id.startswith("<") else f"<{message_id}>"


def record_failure(delivery_id: int, reason: str, *, final: bool, model=EmailDelivery) -> None:
    """Count a failed attempt; after the last retry the email is marked failed with why.

    ``model`` is ``EmailDelivery`` (customers) or ``StaffEmail`` (staff): both keep the same
    status, attempts and reason.
    """
    fields = {"failure_reason": reason[:2000]}
    if final:
        fields["status"] = EmailStatus.FAILED
    with transaction.atomic():
        delivery = model.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.status != EmailStatus.QUEUED:
            return
        for name, value in fields.items():
            setattr(delivery, name, value)
        delivery.attempts += 1
        delivery.save(update_fields=[*fields, "attempts"])
    logger.warning(
        "%s %s failed (%s): %s",
        model.__name__,
        delivery_id,
        "final" if final else "will retry",
        reason,
    )
