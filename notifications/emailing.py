"""Sending one queued customer email through Django's email backend, exactly once."""

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from notifications.models import EmailDelivery, EmailStatus

logger = logging.getLogger(__name__)


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
        previous = (
            EmailDelivery.objects.filter(
                complaint_id=delivery.complaint_id, status=EmailStatus.SENT
            )
            .order_by("-sent_at")
            .values_list("rfc_message_id", flat=True)
            .first()
        )
        headers = {"Message-ID": delivery.rfc_message_id}
        if previous:
            # Thread the conversation in the customer's mail client.
            headers["In-Reply-To"] = previous
            headers["References"] = previous
        message = EmailMultiAlternatives(
            subject=delivery.subject,
            body=delivery.body_text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[delivery.recipient],
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
