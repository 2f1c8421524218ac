"""Delivering outbox events: inbox rows, socket pushes and customer emails.

``deliver`` is idempotent and safe to run twice or concurrently for one event:
1. lock the outbox row ``FOR UPDATE SKIP LOCKED``; if another delivery holds it, or it is
   already delivered, stop;
2. insert one ``Notification`` per recipient, never the event's actor (unique per event and
   user), stamped with when it may be emailed to those who want email
   (``notifications.staff_email``), and commit;
3. ring the sockets, once per group (the channel layer is a doorbell: a missed push is
   replayed from the inbox on reconnect), and enqueue the staff emails due now;
4. lock the row again (stop as in 1); for events the customer is told about by email, queue
   one ``EmailDelivery`` (unique per event and recipient); mark the row delivered; commit,
   and enqueue that email.

The sockets are rung once the inbox holds the event (a page that counts its unread
notifications on a push must find it there), but before the customer's email is rendered,
which takes about as long as writing the inbox rows. A delivery stopped between 2 and 4
leaves the row undelivered: the sweep delivers it again, the unique keys keep everything
single, and the sockets are rung twice (clients de-duplicate by event id).
"""

import asyncio
import logging
import os
import threading
from email.utils import make_msgid

from celery import signature
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.urls import reverse
from django.utils import timezone

from notifications import audience, groups, staff_email
from notifications.models import EmailDelivery, MessageTemplateKind, Notification, Outbox
from notifications.rendering import TemplateMissing, email_context, find_template, render
from notifications.replay import tracking_token
from notifications.summaries import mention_summary_of, mentioned_ids, summary_of
from recovery import selectors as recovery_selectors
from recovery.services import address_proof, surveys

logger = logging.getLogger(__name__)

# A push that has not reached the layer by then is abandoned: the layer is a doorbell, and a
# stuck Redis must not hold up the delivery of the next events (channels-redis reads time out
# after 10 s, config/settings.py).
RING_TIMEOUT_S = 10
_push_loop_lock = threading.Lock()
# (process id, loop): a forked child (Celery's prefork pool) must start a loop of its own.
_push_loop_of: tuple[int, asyncio.AbstractEventLoop] | None = None
# The layer the push loop last used, so the pools of one replaced since (tests change the
# layer's settings) are closed rather than left open.
_push_layer = None

# Which events send the customer an email, and with which template.
CUSTOMER_EMAIL_KIND = {
    "complaint.received": MessageTemplateKind.RECEIPT,
    "complaint.survey_sent": MessageTemplateKind.SURVEY_INVITATION,
    "complaint.acknowledged": MessageTemplateKind.ACKNOWLEDGEMENT,
    "complaint.resolved": MessageTemplateKind.RESOLUTION,
    "complaint.loop_closed": MessageTemplateKind.LOOP_CLOSING,
    "complaint.tracking_link_reissued": MessageTemplateKind.TRACKING_LINK,
    "complaint.recovery_decided_after_closing": MessageTemplateKind.RECOVERY_DECISION,
    # Only the survivor's event: the duplicate's (``withdrawn``) sends nothing, so a merge
    # is told once (recovery.services.merge).
    "complaint.duplicate_merged": MessageTemplateKind.COMPLAINTS_MERGED,
}

# Outbound messages whose kind has a template of its own (the same name); others are replies.
LETTER_TEMPLATES = frozenset(
    {
        MessageTemplateKind.HOLDING,
        MessageTemplateKind.WRITTEN_RESPONSE,
        MessageTemplateKind.DELAY_NOTIFICATION,
    }
)


def _email_kind(row: Outbox) -> str | None:
    if row.audience.get("customer") is None:
        return None
    parameters = row.payload.get("parameters") or {}
    if row.event_type == "complaint.received" and parameters.get("receipt") is False:
        return None  # mail that must get no automatic answer (list mail, RFC 3834)
    if row.event_type == "complaint.message_added":
        if parameters.get("direction") != "outbound":
            return None
        kind = parameters.get("kind")
        return MessageTemplateKind(kind) if kind in LETTER_TEMPLATES else MessageTemplateKind.REPLY
    return CUSTOMER_EMAIL_KIND.get(row.event_type)


def _public_url(name: str, token: str) -> str:
    return settings.REDRESS_PUBLIC_URL + reverse(name, args=[token])


def _survey_url(survey_id) -> str:
    token = surveys.survey_token_of(survey_id) if survey_id else None
    return _public_url("portal:survey", token) if token else ""


def _confirm_url(complaint) -> str:
    token = address_proof.confirmation_token(complaint)
    return _public_url("portal:confirm", token) if token else ""


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
    context = email_context(
        complaint=complaint,
        subject_as_received=recovery_selectors.subject_as_received(complaint),
        message=recovery_selectors.message_body(parameters.get("message_id")),
        outcome=outcome,
        resolution_summary=parameters.get("summary", complaint.resolution_summary),
        tracking_url=_public_url("portal:track", tracking_token(complaint.pk)),
        survey_url=_survey_url(parameters.get("survey_id")),
        confirm_url=_confirm_url(complaint),
        recovery=parameters.get("label", ""),
        recovery_approved=parameters.get("status") == "approved",
        duplicate_reference=parameters.get("duplicate", ""),
    )
    try:
        subject, text, html = render(template, context)
    except (TemplateSyntaxError, TemplateDoesNotExist) as exc:
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
        resent_from__isnull=True,
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


def _insert_inbox_rows(row: Outbox, user_ids: list[int], email_due: dict) -> None:
    """One inbox row per recipient; rows that exist already (a redelivery) are left alone.

    On PostgreSQL one INSERT … SELECT over two arrays: a team event has hundreds of
    recipients, and building a model instance and a parameter list per row (``bulk_create``)
    was most of the time a delivery took, and so of the time before sockets are rung.
    """
    if not user_ids:
        return
    # A colleague named in a note is told that they were, and what it says; the others
    # (its assignee) get the line everyone gets.
    named = mentioned_ids(row, user_ids)
    others = [user_id for user_id in user_ids if user_id not in named]
    if others:
        _insert_rows(row, others, email_due, summary_of(row)[:300])
    if named:
        mentioned = [user_id for user_id in user_ids if user_id in named]
        _insert_rows(row, mentioned, email_due, mention_summary_of(row)[:300])


def _insert_rows(row: Outbox, user_ids: list[int], email_due: dict, summary: str) -> None:
    reference = row.payload.get("reference", "")
    if connection.vendor != "postgresql":
        Notification.objects.bulk_create(
            [
                Notification(
                    user_id=user_id,
                    outbox=row,
                    event_type=row.event_type,
                    complaint_id=row.complaint_id,
                    reference=reference,
                    summary=summary,
                    created_at=row.created_at,
                    email_due_at=email_due.get(user_id),
                )
                for user_id in user_ids
            ],
            ignore_conflicts=True,
        )
        return
    meta = Notification._meta
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    user_type = meta.get_field("user").target_field.cast_db_type(connection)
    statement = (
        f"INSERT INTO {quote(meta.db_table)} ({column('user')}, {column('email_due_at')}, "  # noqa: S608
        f"{column('outbox')}, {column('event_type')}, {column('complaint_id')}, "
        f"{column('reference')}, {column('summary')}, {column('created_at')}) "
        "SELECT r.user_id, r.email_due_at, %s, %s, %s, %s, %s, %s "
        f"FROM unnest(%s::{user_type}[], %s::timestamptz[]) AS r(user_id, email_due_at) "
        "ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            statement,
            [
                row.pk,
                row.event_type,
                row.complaint_id,
                reference,
                summary,
                row.created_at,
                list(user_ids),
                [email_due.get(user_id) for user_id in user_ids],
            ],
        )


def deliver(outbox_id: int, *, committed_at=None) -> bool:
    """Deliver one event; returns whether this call delivered it (steps in the docstring).

    ``committed_at``: when the change that wrote the event committed, noted by the fast
    path's on-commit hook; kept on the row to time delivery from the commit."""
    return deliver_batch([outbox_id], committed_at=committed_at) == 1


def deliver_batch(outbox_ids: list[int], *, committed_at=None) -> int:
    """Deliver the events one change wrote; returns how many this call delivered.

    Every event's inbox rows are written and its sockets rung (steps 1-3) before any
    customer email is rendered (step 4): closing the loop writes two events, and the second
    one's push waited for the first one's email before.
    """
    rung = [
        (outbox_id, written_at)
        for outbox_id in outbox_ids
        if (written_at := _write_inbox_and_ring(outbox_id)) is not None
    ]
    return sum(
        _queue_email_and_finish(outbox_id, written_at, committed_at)
        for outbox_id, written_at in rung
    )


def _write_inbox_and_ring(outbox_id: int):
    """Steps 1-3: the inbox rows, committed, then the sockets rung; when the rows were
    written, or None if the event is delivered or another delivery holds it."""
    with transaction.atomic():
        row = _claim(outbox_id)
        if row is None:
            return None
        now = timezone.now()
        if _still_true(row):
            recipients = audience.recipients_of(
                row.audience, row.event_type, actor_id=row.payload.get("actor_id")
            )
        else:
            recipients = audience.Recipients()
        email_due = {
            user_id: staff_email.schedule(preference, now, digest=recipients.digest[user_id])
            for user_id, preference in recipients.email.items()
        }
        _insert_inbox_rows(row, recipients.user_ids, email_due)
        by_team, direct = recipients.pushes()
        pushes = groups.pushes_for(row, by_team=by_team, direct=direct)
        transaction.on_commit(lambda: ring(pushes))
        # Staff who want each email as it happens (no digest, not in quiet hours).
        emailed_now = sorted(user_id for user_id, due in email_due.items() if due <= now)
        if emailed_now:
            transaction.on_commit(lambda: enqueue_staff_emails(emailed_now))
        return timezone.now()


def _still_true(row: Outbox) -> bool:
    """An alert about a state that may have passed is checked as it is delivered: an
    unpicked complaint an agent took or answered since (the sweep may deliver it minutes
    late) tells nobody. The timeline keeps the alert."""
    if row.event_type == "complaint.unpicked" and row.complaint_id is not None:
        return recovery_selectors.still_not_picked_up(row.complaint_id)
    return True


def _queue_email_and_finish(outbox_id: int, inbox_written_at, committed_at) -> bool:
    """Step 4: the customer's email queued, the row marked delivered."""
    with transaction.atomic():
        row = _claim(outbox_id)
        if row is None:
            # Another delivery finished it meanwhile (the sweep, after this one stalled).
            return False
        kind = _email_kind(row)
        email = _queue_customer_email(row, kind) if kind else None
        row.delivered_at = inbox_written_at
        row.attempts += 1
        fields = ["delivered_at", "attempts"]
        if committed_at is not None and row.committed_at is None:
            row.committed_at = committed_at
            fields.append("committed_at")
        row.save(update_fields=fields)
        if email is not None:
            transaction.on_commit(lambda: enqueue_email(email.pk))
    return True


def _claim(outbox_id: int) -> Outbox | None:
    """Lock the row for this transaction; None if delivered or another delivery holds it."""
    row = (
        Outbox.objects.select_for_update(skip_locked=True)
        .filter(pk=outbox_id, delivered_at__isnull=True)
        .first()
    )
    if row is not None and connection.vendor == "postgresql":
        # Don't wait for this commit to reach the disk before ringing the sockets: the event
        # is already durable (the outbox row, committed by the change itself), and what this
        # transaction writes is derived from it. If the server crashes before the commit is
        # flushed, the row reads undelivered again and the sweep delivers it once more; a
        # client may be rung twice and de-duplicates by event id. An email sent meanwhile
        # commits synchronously, which flushes this commit first.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
    return row


def ring(pushes: list[tuple[str, dict]]) -> None:
    """Send socket pushes; failures only delay the client until it replays on reconnect.

    They go out from the process's push loop (``_push_loop``), which keeps its connection
    to the channel layer: ``async_to_sync`` started a loop, and channels-redis a Redis
    connection, for every delivery (3-8 ms each time, against 1 ms on a kept loop).
    """
    layer = get_channel_layer()
    if layer is None or not pushes:
        return

    async def send_all() -> None:
        await _use_layer(layer)
        for group, message in pushes:
            try:
                await layer.group_send(group, message)
            except Exception:
                logger.warning("Channel layer push to %s failed; clients replay it.", group)

    future = asyncio.run_coroutine_threadsafe(send_all(), _push_loop())
    try:
        future.result(timeout=RING_TIMEOUT_S)
    except TimeoutError:
        future.cancel()
        logger.warning("Channel layer pushes timed out; clients replay them.")


def _push_loop() -> asyncio.AbstractEventLoop:
    global _push_loop_of
    with _push_loop_lock:
        if _push_loop_of is None or _push_loop_of[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="socket-pushes", daemon=True).start()
            _push_loop_of = (os.getpid(), loop)
        return _push_loop_of[1]


async def _use_layer(layer) -> None:
    global _push_layer
    old, _push_layer = _push_layer, layer
    if old is not None and old is not layer and hasattr(old, "close_pools"):
        try:
            await old.close_pools()
        except Exception:
            logger.debug("Closing the previous channel layer's connections failed.")


# Tasks are named here, not imported: their module imports this one. A signature by name
# runs the registered task, or is sent to the broker by name where it is not imported.
DELIVER_OUTBOX = "notifications.deliver_outbox"
SEND_EMAIL = "notifications.send_email"
STAFF_EMAILS = "notifications.staff_emails"


def enqueue_outbox(ids: list[int], committed_at: str) -> None:
    enqueue(signature(DELIVER_OUTBOX), ids, committed_at)


def enqueue_email(delivery_id: int) -> None:
    enqueue(signature(SEND_EMAIL), delivery_id)


def enqueue_staff_emails(user_ids: list[int]) -> None:
    enqueue(signature(STAFF_EMAILS), user_ids)


def enqueue(task, *args) -> None:
    """The fast path after commit: never let a broker outage fail the request."""
    try:
        task.apply_async(args=args, retry=False)
    except Exception:
        logger.warning("Broker unavailable; %s%s waits for the redelivery sweep.", task.name, args)
