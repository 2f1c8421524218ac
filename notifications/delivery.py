"""Delivering outbox events: inbox rows, socket pushes and customer emails.

``deliver`` is idempotent and safe to run twice or concurrently for one event:
1. lock the outbox row ``FOR UPDATE SKIP LOCKED``; if another delivery holds it, or it is
   already delivered, stop;
2. insert one ``Notification`` per recipient (unique per event and user) and, for events
   the customer is told about by email, one queued ``EmailDelivery`` (unique per event and
   recipient), and mark the row delivered — all in one transaction;
3. after commit, ring the sockets (the channel layer is a doorbell: a missed push is
   replayed from the inbox on reconnect) and enqueue the emails.
"""

import logging
from email.utils import make_msgid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.template import TemplateSyntaxError
from django.utils import timezone

from notifications import audience, groups
from notifications.models import EmailDelivery, MessageTemplateKind, Notification, Outbox
from notifications.rendering import TemplateMissing, find_template, render
from recovery import selectors as recovery_selectors
from recovery.models import Outcome

logger = logging.getLogger(__name__)

# Which events send the customer an email, and with which template.
CUSTOMER_EMAIL_KIND = {
    "complaint.acknowledged": MessageTemplateKind.ACKNOWLEDGEMENT,
    "complaint.resolved": MessageTemplateKind.RESOLUTION,
    "complaint.loop_closed": MessageTemplateKind.LOOP_CLOSING,
}


def summary_of(row: Outbox) -> str:
    reference = row.payload.get("reference", "")
    parameters = row.payload.get("parameters") or {}
    what = row.event_type.removeprefix("complaint.").replace("_", " ")
    if row.event_type in ("complaint.escalated", "complaint.de_escalated"):
        return f"{reference} {what} to level {parameters.get('level')}"
    if row.event_type in ("complaint.clock_warning", "complaint.clock_breached"):
        return f"{reference}: {parameters.get('clock', '')} deadline {what.split()[-1]}"
    return f"{reference} {what}"


def _email_kind(row: Outbox) -> str | None:
    if row.audience.get("customer") is None:
        return None
    if row.event_type == "complaint.message_added":
        parameters = row.payload.get("parameters") or {}
        if parameters.get("direction") != "outbound":
            return None
        if parameters.get("kind") == MessageTemplateKind.HOLDING:
            return MessageTemplateKind.HOLDING
        return MessageTemplateKind.REPLY
    return CUSTOMER_EMAIL_KIND.get(row.event_type)


def _queue_customer_email(row: Outbox, kind: str) -> EmailDelivery | None:
    complaint = recovery_selectors.complaint_for_email(row.complaint_id)
    if complaint is None or not complaint.customer.email:
        return None
    parameters = row.payload.get("parameters") or {}
    try:
        template = find_template(
            kind, complaint.customer.preferred_language, complaint.regulatory_profile
        )
    except TemplateMissing:
        logger.warning("No %s template; %s gets no email for event %s", kind, complaint, row.pk)
        return None
    # The decision as it was when the event happened: after an outage an event is delivered
    # late, and the complaint may have been reopened and resolved differently since.
    outcome = parameters.get("outcome", complaint.outcome)
    context = {
        "complaint": complaint,
        "customer": complaint.customer,
        "reference": complaint.reference,
        "message": recovery_selectors.message_body(parameters.get("message_id")),
        "outcome": Outcome(outcome).label if outcome in Outcome.values else outcome,
        "resolution_summary": parameters.get("summary", complaint.resolution_summary),
    }
    try:
        subject, text, html = render(template, context)
    except TemplateSyntaxError as exc:
        # A template edited into a syntax error must not roll back the staff's inbox rows
        # (the sweep would then retry this event for ever); the customer's email waits for
        # the template to be fixed, and the error says which one.
        logger.error(
            "The %s template (%s) does not compile: %s; %s gets no email for event %s",
            kind,
            template,
            exc,
            complaint,
            row.pk,
        )
        return None
    delivery, _ = EmailDelivery.objects.get_or_create(
        outbox=row,
        recipient=complaint.customer.email,
        defaults={
            "complaint_id": complaint.pk,
            "message_id": parameters.get("message_id"),
            "kind": kind,
            "subject": subject,
            "body_text": text,
            "body_html": html,
            "rfc_message_id": make_msgid(
                idstring=complaint.reference, domain=settings.REDRESS_EMAIL_DOMAIN
            ),
        },
    )
    return delivery


def deliver(outbox_id: int) -> bool:
    """Deliver one event; returns whether this call delivered it (steps in the docstring)."""
    with transaction.atomic():
        row = (
            Outbox.objects.select_for_update(skip_locked=True)
            .filter(pk=outbox_id, delivered_at__isnull=True)
            .first()
        )
        if row is None:
            return False
        recipients = audience.staff_recipients(row.audience, row.event_type)
        Notification.objects.bulk_create(
            [
                Notification(
                    user_id=user_id,
                    outbox=row,
                    event_type=row.event_type,
                    complaint_id=row.complaint_id,
                    reference=row.payload.get("reference", ""),
                    summary=summary_of(row)[:300],
                    created_at=row.created_at,
                )
                for user_id in recipients
            ],
            ignore_conflicts=True,
        )
        kind = _email_kind(row)
        email = _queue_customer_email(row, kind) if kind else None
        row.delivered_at = timezone.now()
        row.attempts += 1
        row.save(update_fields=["delivered_at", "attempts"])
        muted = audience.socket_muted(recipients)
        pushes = groups.pushes_for(row, [r for r in recipients if r not in muted])
        transaction.on_commit(lambda: ring(pushes))
        if email is not None:
            transaction.on_commit(lambda: enqueue_email(email.pk))
    return True


def ring(pushes: list[tuple[str, dict]]) -> None:
    """Send socket pushes; failures only delay the client until it replays on reconnect.

    All pushes go out from one event loop: ``async_to_sync`` per push would start a loop and
    a Redis connection each time, ten times slower.
    """
    layer = get_channel_layer()
    if layer is None or not pushes:
        return

    async def send_all() -> None:
        for group, message in pushes:
            try:
                await layer.group_send(group, message)
            except Exception:
                logger.warning("Channel layer push to %s failed; clients replay it.", group)

    async_to_sync(send_all)()


def enqueue_email(delivery_id: int) -> None:
    from notifications.tasks import send_email

    enqueue(send_email, delivery_id)


def enqueue(task, *args) -> None:
    """The fast path after commit: never let a broker outage fail the request."""
    try:
        task.apply_async(args=args, retry=False)
    except Exception:
        logger.warning("Broker unavailable; %s%s waits for the redelivery sweep.", task.name, args)
