"""Bounces of our customer emails: recorded on the email, told to the complaint's handler.

Called by ``notifications.ingest`` inside the transaction that stores the bounce, so the
email's new status, the complaint's timeline event and the outbox row that tells staff are
written together or not at all:

1. find our emails the bounce returns by their Message-ID (``EmailDelivery.rfc_message_id``),
   locked, so two copies of one bounce arriving at once record it once;
2. on each: when, the status code, permanent or transient; then, as for an email our mail
   server refused (``notifications.undelivered``, the one path of both): the diagnostic, a
   failure (``Action: failed``) marks it failed, a delay only notes the bounce, as the
   server is still trying; the complaint's timeline gets a staff-only event, which
   notifies its handler (once per failed email) and flags a regulatory letter that did not
   arrive.
"""

from __future__ import annotations

from django.utils import timezone

from notifications.bounce_parsing import Bounce
from notifications.models import EmailDelivery, InboundEmail
from notifications.undelivered import Failure, email_not_delivered
from recovery import selectors as recovery_selectors


def bounce_record(*, inbound: InboundEmail, bounce: Bounce) -> tuple[str, str] | None:
    """Record ``bounce`` on the emails it returns; (reason, complaint reference), or None
    when it returns none of ours (steps in the module docstring)."""
    forms = [form for mid in bounce.original_message_ids for form in (f"<{mid}>", mid)]
    deliveries = list(
        EmailDelivery.objects.select_for_update().filter(rfc_message_id__in=forms).order_by("pk")
    )
    if not deliveries:
        return None
    now = timezone.now()
    reasons, reference = [], ""
    for delivery in deliveries:
        delivery.bounced_at = now
        delivery.bounce_status = bounce.status
        delivery.bounce_permanent = bounce.permanent
        delivery.bounce_email_id = inbound.pk
        delivery.save(
            update_fields=["bounced_at", "bounce_status", "bounce_permanent", "bounce_email_id"]
        )
        # The one path of every failed customer email, whichever way it failed.
        email_not_delivered(
            delivery,
            Failure(
                reason=bounce.summary,
                action=bounce.action,
                cause="bounce",
                status=bounce.status,
                permanent=bounce.permanent,
                bounced_at=now.isoformat(),
                inbound_email_id=inbound.pk,
            ),
        )
        complaint = recovery_selectors.complaint_for_email(delivery.complaint_id)
        reference = reference or (complaint.reference if complaint else "")
        where = f" on {complaint.reference}" if complaint else ""
        what = "not delivered" if bounce.action == "failed" else f"{bounce.action}"
        reasons.append(
            f"bounce: our {delivery.kind} email {delivery.rfc_message_id} to "
            f"{delivery.recipient}{where} {what} ({bounce.summary or 'no reason given'})"
        )
    return "; ".join(reasons), reference
