"""Sending one queued customer email through Django's email backend, once per claim."""

import logging
from datetime import datetime, timedelta
from email.headerregistry import Address

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from notifications import undelivered
from notifications.models import (
    EmailDelivery,
    EmailStatus,
    InboundEmail,
    InboundStatus,
    MessageTemplateKind,
)
from notifications.send_failures import SendFailure
from recovery import attachment_selectors
from recovery import selectors as recovery_selectors
from recovery.services import attachments

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
# Retrying an email the mail server could not take: 10 s after the first failure, doubling,
# at most every 30 minutes (a relay restart is over in seconds, an outage in hours; 30 min
# is what common MTAs use between queue runs), until REDRESS_EMAIL_RETRY_HOURS after it was
# queued.
RETRY_FIRST = timedelta(seconds=10)
RETRY_MAX = timedelta(minutes=30)


def send(delivery_id: int, *, stale_before=None) -> bool:
    """Send a queued email; returns False if it was sent, or is being sent, already.

    1. Claim the row: ``queued`` → ``sending`` with the claim's time, in a compare-and-set
       ``UPDATE`` committed before anything leaves (with ``stale_before``, a ``sending`` claim
       older than that is taken over too: the worker that made it died mid-send). A second
       worker, or this task redelivered after a crash, finds no queued row and stops.
    2. Hand the message to the backend, outside any transaction, under the Message-ID the
       row was given when it was queued: every attempt is the same message.
    3. Record it sent (attempts + 1). If the backend raised, the claim is released (back to
       ``queued``) and the error goes up, for the task to retry.

    A worker killed between 2 and 3 leaves the row ``sending``: the email may have gone.
    ``tasks.redeliver`` sends it again once the claim is older than
    ``REDRESS_EMAIL_CLAIM_TIMEOUT``, with the same Message-ID, so mail clients show one
    message (docs/operations.md, "Email delivery").
    """
    claimed_at = _claim(delivery_id, stale_before=stale_before)
    if claimed_at is None:
        return False
    delivery = EmailDelivery.objects.get(pk=delivery_id)
    try:
        _message(delivery).send(fail_silently=False)
    except Exception:
        EmailDelivery.objects.filter(
            pk=delivery_id, status=EmailStatus.SENDING, claimed_at=claimed_at
        ).update(status=EmailStatus.QUEUED, claimed_at=None)
        raise
    EmailDelivery.objects.filter(pk=delivery_id, status=EmailStatus.SENDING).update(
        status=EmailStatus.SENT,
        sent_at=timezone.now(),
        attempts=F("attempts") + 1,
        next_attempt_at=None,
    )
    return True


def _claim(delivery_id: int, *, stale_before) -> datetime | None:
    """Step 1: the claim's time if this process may send the email now, else None."""
    claimable = Q(status=EmailStatus.QUEUED)
    if stale_before is not None:
        claimable |= Q(status=EmailStatus.SENDING, claimed_at__lt=stale_before)
    claimed_at = timezone.now()
    with transaction.atomic(durable=True):
        claimed = EmailDelivery.objects.filter(claimable, pk=delivery_id).update(
            status=EmailStatus.SENDING, claimed_at=claimed_at
        )
    return claimed_at if claimed else None


def _message(delivery: EmailDelivery) -> EmailMultiAlternatives:
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
    # The files staff attached to their reply go with its email (the customer's own files
    # are never sent back to them: a receipt does not carry what they uploaded).
    for attachment in attachment_selectors.reply_attachments(delivery.message_id):
        with attachments.attachment_content(attachment) as content:
            message.attach(attachment.filename, content.read(), attachment.content_type)
    return message


def stale_claims(now, *, limit: int) -> list[int]:
    """Emails whose ``sending`` claim is older than ``REDRESS_EMAIL_CLAIM_TIMEOUT``."""
    abandoned = list(
        EmailDelivery.objects.filter(status=EmailStatus.SENDING, claimed_at__lt=claim_cutoff(now))
        .order_by("claimed_at")
        .values_list("pk", flat=True)[:limit]
    )
    if abandoned:
        # Each may reach its customer twice (under one Message-ID): worth an operator's look.
        logger.warning("Sending again emails a worker left mid-send: %s", abandoned)
    return abandoned


def claim_cutoff(now):
    return now - timedelta(seconds=settings.REDRESS_EMAIL_CLAIM_TIMEOUT)


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
    status, attempts and reason. A customer email's last failure goes the way a bounce does
    (``notifications.undelivered``): in this transaction, its complaint's handler is told.
    """
    reason = reason[:2000]
    with transaction.atomic():
        delivery = model.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.status != EmailStatus.QUEUED:
            return
        delivery.attempts += 1
        delivery.failure_reason = reason
        delivery.save(update_fields=["failure_reason", "attempts"])
        if final and model is EmailDelivery:
            undelivered.email_not_delivered(delivery, undelivered.Failure(reason=reason))
        elif final:
            delivery.status = EmailStatus.FAILED
            delivery.save(update_fields=["status"])
    logger.warning(
        "%s %s failed (%s): %s",
        model.__name__,
        delivery_id,
        "final" if final else "will retry",
        reason,
    )


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed try: 10 s, 20 s, 40 s, … 30 min."""
    return min(RETRY_FIRST * 2 ** min(max(attempts - 1, 0), 20), RETRY_MAX)


def record_send_failure(delivery_id: int, failure: SendFailure) -> datetime | None:
    """Count a failed try of a customer email; when to try again, or None if it failed.

    1. Lock the email; one no longer queued (sent meanwhile, failed already) is left alone.
    2. A permanent refusal, or a failure once the retry window (``REDRESS_EMAIL_RETRY_HOURS``
       after it was queued) is over, marks it failed the way a bounce does
       (``notifications.undelivered``): in this transaction its handler is told, once.
    3. Otherwise it stays queued with ``next_attempt_at``, after the backoff, never past the
       window's end: the last try is at the end, and only its failure is final.
    """
    now = timezone.now()
    with transaction.atomic():
        delivery = EmailDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.status != EmailStatus.QUEUED:
            return None
        delivery.attempts += 1
        delivery.failure_reason = failure.reason[:2000]
        window_ends = delivery.created_at + timedelta(hours=settings.REDRESS_EMAIL_RETRY_HOURS)
        if failure.permanent or now >= window_ends:
            delivery.next_attempt_at = None
            delivery.save(update_fields=["failure_reason", "attempts", "next_attempt_at"])
            undelivered.email_not_delivered(
                delivery,
                undelivered.Failure(reason=failure.reason, permanent=failure.permanent),
            )
            next_attempt_at = None
        else:
            next_attempt_at = min(now + retry_delay(delivery.attempts), window_ends)
            delivery.next_attempt_at = next_attempt_at
            delivery.save(update_fields=["failure_reason", "attempts", "next_attempt_at"])
    logger.warning(
        "EmailDelivery %s failed (%s): %s",
        delivery_id,
        f"next try at {next_attempt_at.isoformat()}" if next_attempt_at else "final",
        failure.reason,
    )
    return next_attempt_at


def due_retries(now, *, limit: int) -> list[int]:
    """Queued emails whose next try is due (``record_send_failure``), oldest due first."""
    return list(
        EmailDelivery.objects.filter(status=EmailStatus.QUEUED, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
