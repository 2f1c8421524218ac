"""Customer emails that did not arrive: recorded once, told to the handler, sent again.

An email to the customer fails in one of two ways, and both end here:
- our mail server refused it or could not be reached, through every retry
  (``notifications.emailing.record_failure``, after the last one);
- it was sent, and a bounce (delivery status notification) came back for it
  (``notifications.bounces``).

``email_not_delivered`` is the one code path for both. It runs inside the transaction that
marks the email, with the email's row locked:
1. the email is marked as its cause says (failed, or for a delay only the bounce noted);
2. the first time an email is marked failed (never for a delay), the complaint's timeline gets the staff-only
   ``email_not_delivered`` event (``recovery.services.messages``), which tells its handler
   (the assignee, else the team's supervisors) which email to whom failed and why, and flags
   a regulatory letter. A second bounce of an email already failed is recorded on the email
   and told to nobody: the handler was told once.

``email_resend`` is what staff do about it: a new attempt, recorded on the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import make_msgid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.errors import Conflict, NotFound, PermissionDenied
from notifications.models import EmailDelivery, EmailStatus
from recovery import rules
from recovery import selectors as recovery_selectors
from recovery.services.messages import customer_email_not_delivered, customer_email_resent


@dataclass(frozen=True)
class Failure:
    """Why an email did not arrive: the mail server's refusal, or a bounce."""

    reason: str
    # "failed" (it will not arrive) or "delayed" (a bounce saying the server still tries).
    action: str = "failed"
    # "smtp": our server refused it or was unreachable through every retry; "bounce".
    cause: str = "smtp"
    status: str = ""  # the bounce's status code, "5.1.1"
    permanent: bool | None = None  # None: no bounce says
    bounced_at: str | None = None
    inbound_email_id: int | None = None


def email_not_delivered(delivery: EmailDelivery, failure: Failure):
    """Steps 1-2 of the module docstring for a locked ``delivery``; returns its complaint,
    or None when nobody was told (no complaint, or told already)."""
    told_before = delivery.status == EmailStatus.FAILED
    delivery.failure_reason = failure.reason[:2000]
    fields = ["failure_reason"]
    if failure.action == "failed":
        delivery.status = EmailStatus.FAILED
        fields.append("status")
    delivery.save(update_fields=fields)
    if told_before or failure.action != "failed":
        # A delay (``Action: delayed``) says the receiving side is still trying: the email
        # may yet arrive, so nobody is told and the timeline does not call it undelivered.
        # The complaint page shows it as delayed, from the email's row.
        return None
    return customer_email_not_delivered(
        complaint_id=delivery.complaint_id,
        details={
            "email_id": delivery.pk,
            "message_id": delivery.message_id,
            "kind": delivery.kind,
            "recipient": delivery.recipient,
            "cause": failure.cause,
            "action": failure.action,
            "status": failure.status,
            "diagnostic": failure.reason[:500],
            "permanent": failure.permanent,
            "bounced_at": failure.bounced_at,
            "inbound_email_id": failure.inbound_email_id,
            "attempts": delivery.attempts,
        },
    )


def email_resend(*, email_id: int, actor, complaint_id: int | None = None) -> EmailDelivery:
    """Send a failed customer email again, as a new email; returns the new one.

    1. Lock the failed email (two clicks, or two people, resend it once); ``complaint_id``,
       when given, must be its complaint (a URL cannot reach another complaint's mail).
    2. Refuse anyone who does not work the complaint (403), then an email that is not failed
       (sent, delivered as far as we know, or still queued or sending) or was resent already
       (409, saying which).
    3. Write the new email: the same words, to the customer's address as it is now (staff may
       have corrected the one that bounced), with a Message-ID of its own; record the resend
       on the timeline (staff only); after commit, enqueue it like any other email.
    """
    with transaction.atomic():
        failed = EmailDelivery.objects.select_for_update().filter(pk=email_id).first()
        if failed is None or (complaint_id is not None and failed.complaint_id != complaint_id):
            raise NotFound(f"No customer email #{email_id} on this complaint.")
        complaint = recovery_selectors.complaint_for_email(failed.complaint_id)
        if complaint is None or not rules.works_on(complaint, actor):
            raise PermissionDenied("Only staff who work the complaint may resend its emails.")
        if failed.status != EmailStatus.FAILED:
            what = {
                EmailStatus.SENT: "was delivered to the mail server",
                EmailStatus.QUEUED: "is already queued to be sent",
                EmailStatus.SENDING: "is being sent",
            }.get(failed.status, failed.status)
            raise Conflict(
                f"Email #{failed.pk} {what}; only a failed email can be resent.",
                details={"status": failed.status},
            )
        resend = EmailDelivery.objects.filter(resent_from=failed).first()
        if resend is not None:
            raise Conflict(
                f"Email #{failed.pk} was resent already, as email #{resend.pk} "
                f"({resend.get_status_display().lower()}).",
                details={"status": failed.status, "resent_as": resend.pk},
            )
        recipient = complaint.customer.email or failed.recipient
        again = EmailDelivery.objects.create(
            outbox_id=failed.outbox_id,
            complaint_id=failed.complaint_id,
            message_id=failed.message_id,
            recipient=recipient,
            kind=failed.kind,
            subject=failed.subject,
            body_text=failed.body_text,
            body_html=failed.body_html,
            rfc_message_id=make_msgid(
                idstring=complaint.reference, domain=settings.REDRESS_EMAIL_DOMAIN
            ),
            resent_from=failed,
            created_at=timezone.now(),
        )
        customer_email_resent(
            complaint=complaint,
            actor=actor,
            details={
                "email_id": again.pk,
                "resent_email_id": failed.pk,
                "kind": failed.kind,
                "recipient": recipient,
                "previous_recipient": failed.recipient,
                "previous_reason": failed.failure_reason[:500],
            },
        )
        transaction.on_commit(lambda: _enqueue(again.pk))
    return again


def _enqueue(email_id: int) -> None:
    # Imported late: delivery imports the recovery services this module's callers use.
    from notifications.delivery import enqueue_email

    enqueue_email(email_id)
