"""Celery tasks of the notifications app: thin; they take ids and call a service."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from notifications import delivery, emailing
from notifications.models import EmailDelivery, EmailStatus, Outbox

# Events not delivered this long after commit are picked up by the sweep; the fast path
# normally delivers within milliseconds, so 30 s means the broker or worker was down.
REDELIVERY_GRACE = timedelta(seconds=30)
# Rows per redelivery sweep; the next tick takes the rest.
REDELIVERY_BATCH = 1000
EMAIL_MAX_RETRIES = 5


@shared_task(name="notifications.deliver_outbox", acks_late=True, ignore_result=True)
def deliver_outbox(outbox_ids: list[int]) -> int:
    return sum(delivery.deliver(outbox_id) for outbox_id in outbox_ids)


@shared_task(
    name="notifications.send_email",
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=EMAIL_MAX_RETRIES,
)
def send_email(self, delivery_id: int) -> bool:
    try:
        return emailing.send(delivery_id)
    except Exception as exc:
        final = self.request.retries >= self.max_retries
        emailing.record_failure(delivery_id, f"{type(exc).__name__}: {exc}", final=final)
        if final:
            return False
        # Exponential backoff: 10 s, 20 s, 40 s, 80 s, 160 s.
        raise self.retry(exc=exc, countdown=10 * 2**self.request.retries) from exc


@shared_task(name="notifications.redeliver", ignore_result=True)
def redeliver() -> dict:
    """Deliver what the fast path missed (broker or worker down at commit time)."""
    cutoff = timezone.now() - REDELIVERY_GRACE
    stale = list(
        Outbox.objects.filter(delivered_at__isnull=True, created_at__lt=cutoff)
        .order_by("id")
        .values_list("pk", flat=True)[:REDELIVERY_BATCH]
    )
    delivered = sum(delivery.deliver(outbox_id) for outbox_id in stale)
    queued = list(
        EmailDelivery.objects.filter(status=EmailStatus.QUEUED, created_at__lt=cutoff)
        .order_by("id")
        .values_list("pk", flat=True)[:REDELIVERY_BATCH]
    )
    sent = 0
    for delivery_id in queued:
        try:
            sent += emailing.send(delivery_id)
        except Exception as exc:
            # The same budget as the send task's (one try and its retries): an email whose
            # task never reached the broker is otherwise retried every sweep for ever.
            attempts = (
                EmailDelivery.objects.filter(pk=delivery_id)
                .values_list("attempts", flat=True)
                .first()
            )
            final = (attempts or 0) + 1 > EMAIL_MAX_RETRIES
            emailing.record_failure(delivery_id, f"{type(exc).__name__}: {exc}", final=final)
    return {"delivered": delivered, "emails_sent": sent}
