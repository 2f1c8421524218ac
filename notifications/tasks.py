"""Celery tasks of the notifications app: thin; they take ids and call a service."""

from datetime import datetime, timedelta

from celery import shared_task
from django.utils import timezone

from notifications import delivery, emailing, send_failures, staff_email
from notifications.models import EmailDelivery, EmailStatus, Outbox, StaffEmail

# Events not delivered this long after commit are picked up by the sweep; the fast path
# normally delivers within milliseconds, so 30 s means the broker or worker was down.
REDELIVERY_GRACE = timedelta(seconds=30)
# Rows per redelivery sweep; the next tick takes the rest.
REDELIVERY_BATCH = 1000
# Staff emails: tries before one is marked failed.
EMAIL_MAX_RETRIES = 5
# A customer email's retries up to this wait are the send task's own (Celery countdowns, held
# by the worker); longer ones are left to the sweep, which finds them by next_attempt_at.
FAST_RETRY_MAX = timedelta(minutes=5)
# Composing transactions per staff email run (each claims up to COMPOSE_BATCH notifications):
# bounds one run; what is left is due at the next tick, a minute later.
STAFF_EMAIL_ROUNDS = 10


@shared_task(name=delivery.DELIVER_OUTBOX, acks_late=True, ignore_result=True)
def deliver_outbox(outbox_ids: list[int], committed_at: str | None = None) -> int:
    committed = _instant(committed_at)
    return delivery.deliver_batch(outbox_ids, committed_at=committed)


def _instant(value: str | None):
    """The commit time the fast path sent; a task from an older release sends none, and
    a malformed one is ignored rather than failing the delivery."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return parsed if timezone.is_aware(parsed) else None


@shared_task(
    name=delivery.SEND_EMAIL,
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=None,  # bounded by the retry window (emailing.record_send_failure)
)
def send_email(self, delivery_id: int) -> bool:
    try:
        return emailing.send(delivery_id)
    except Exception as exc:
        next_attempt_at = emailing.record_send_failure(delivery_id, send_failures.classify(exc))
        if next_attempt_at is None:
            return False  # failed for good, and told
        countdown = max((next_attempt_at - timezone.now()).total_seconds(), 0)
        if countdown > FAST_RETRY_MAX.total_seconds():
            # A long wait is the sweep's: the row says when, and a worker restart in between
            # loses nothing.
            return False
        # The first tries (10 s, 20 s, 40 s, …) from the task itself, so a relay restarting
        # for a few seconds delays the email by seconds, not by a sweep's minute.
        raise self.retry(exc=exc, countdown=round(countdown)) from exc


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
    # Emails never tried (their task never reached the broker), and emails waiting to be
    # tried again whose time has come (the mail server could not take them).
    queued = list(
        EmailDelivery.objects.filter(
            status=EmailStatus.QUEUED, next_attempt_at__isnull=True, created_at__lt=cutoff
        )
        .order_by("id")
        .values_list("pk", flat=True)[:REDELIVERY_BATCH]
    )
    now = timezone.now()
    retries = emailing.due_retries(now, limit=REDELIVERY_BATCH)
    # Claims left by a worker that died mid-send: sent again, same Message-ID.
    abandoned = emailing.stale_claims(now, limit=REDELIVERY_BATCH)
    stale_before = emailing.claim_cutoff(now)
    sent = 0
    for delivery_id in [*queued, *retries, *abandoned]:
        try:
            sent += emailing.send(delivery_id, stale_before=stale_before)
        except Exception as exc:
            # Tried again later, or failed for good: the same rules as the send task's.
            emailing.record_send_failure(delivery_id, send_failures.classify(exc))
    return {"delivered": delivered, "emails_sent": sent}


@shared_task(name=delivery.STAFF_EMAILS, acks_late=True, ignore_result=True)
def staff_emails(user_ids: list[int] | None = None) -> dict:
    """Email staff what is due: one email each, or a digest (notifications.staff_email).

    After a delivery, for the people whose email is due at once (``user_ids``); from the
    beat every minute for everyone, which sends digests and what quiet hours held back and
    retries the emails that failed.
    """
    composed = []
    for _ in range(STAFF_EMAIL_ROUNDS):
        batch = staff_email.compose_due(user_ids=user_ids)
        if not batch:
            break
        composed += batch
    # The beat also retries what is still queued from earlier; a delivery's call sends only
    # what it composed, so a failing mail server is retried once a minute, not per event.
    to_send = composed if user_ids is not None else staff_email.queued(limit=REDELIVERY_BATCH)
    sent = 0
    for email_id in to_send:
        try:
            sent += staff_email.send(email_id)
        except Exception as exc:
            attempts = (
                StaffEmail.objects.filter(pk=email_id).values_list("attempts", flat=True).first()
            )
            final = (attempts or 0) + 1 > EMAIL_MAX_RETRIES
            emailing.record_failure(
                email_id, f"{type(exc).__name__}: {exc}", final=final, model=StaffEmail
            )
    return {"composed": len(composed), "sent": sent}
