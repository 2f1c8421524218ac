"""Emails to staff about their notifications: scheduled, composed, and sent exactly once.

A member of staff who turned email on (``NotificationPreference.via_email``) has each inbox
row stamped with ``email_due_at`` when it is delivered (``notifications.email_schedule``:
their digest and quiet hours). Then:

1. ``compose_due`` claims due rows not yet in an email (``FOR UPDATE SKIP LOCKED``, so two
   composers never take the same row), writes one queued ``StaffEmail`` per person (the
   notification itself, or a digest when several are due) and links each row to it, in one
   transaction: a notification is in exactly one email, and a crash before commit leaves the
   rows due for the next tick.
2. ``send`` sends a queued email under a row lock and marks it sent; a failure leaves it
   queued for the next tick, up to ``EMAIL_MAX_RETRIES``, then marks it failed with why.
"""

import logging
from datetime import datetime
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from notifications import email_schedule
from notifications.kinds import KIND_OF_EVENT, Kind, Telling
from notifications.models import (
    EmailDigest,
    EmailStatus,
    Notification,
    NotificationPreference,
    StaffEmail,
)
from recovery import selectors as recovery_selectors

logger = logging.getLogger(__name__)

# Notifications claimed per composing transaction; the next call takes the rest.
COMPOSE_BATCH = 1000
# Lines listed in one digest; a longer digest says how many more are in the inbox.
DIGEST_MAX_LINES = 200


def schedule(
    preference: NotificationPreference, now: datetime, *, digest: str | None = None
) -> datetime:
    """When an email about something happening ``now`` may go to this person; ``digest``
    is their choice for the event's kind, when they made one."""
    return email_schedule.email_due_at(
        now,
        digest=digest or preference.email_digest,
        quiet_start=preference.quiet_hours_start,
        quiet_end=preference.quiet_hours_end,
        time_zone=preference.time_zone,
    )


def reschedule_pending(*, user, preference: NotificationPreference) -> int:
    """Apply changed preferences to the emails a person is still owed; returns how many.

    Kind by kind (``notifications.kinds``): where email is no longer wanted they are cancelled
    (the inbox keeps every row); otherwise they are due by the new digest and quiet hours,
    from now.
    """
    pending = Notification.objects.filter(
        user=user, staff_email__isnull=True, email_due_at__isnull=False
    )
    if not user.email:
        return pending.update(email_due_at=None)
    now = timezone.now()
    changed = 0
    for kind in Kind:
        listed = [event_type for event_type, of in KIND_OF_EVENT.items() if of == kind]
        rows = (
            pending.exclude(event_type__in=list(KIND_OF_EVENT))
            if kind == Kind.OTHER
            else pending.filter(event_type__in=listed)
        )
        telling = (preference.by_kind or {}).get(kind)
        if telling == Telling.EMAIL:
            due = schedule(preference, now, digest=EmailDigest.NONE)
        elif telling == Telling.DAILY_DIGEST:
            due = schedule(preference, now, digest=EmailDigest.DAILY)
        elif telling is None and preference.via_email:
            due = schedule(preference, now)
        else:
            due = None
        changed += rows.update(email_due_at=due)
    return changed


def _still_true(rows: list[Notification]) -> list[Notification]:
    """An unpicked-complaint alert is checked again when its email is composed (a digest
    goes hours later): one for a complaint taken or answered since stays in the inbox, as
    it was true when told, but is emailed to nobody."""
    stale = [
        row
        for row in rows
        if row.event_type == "complaint.unpicked"
        and row.complaint_id is not None
        and not recovery_selectors.still_not_picked_up(row.complaint_id)
    ]
    if not stale:
        return rows
    Notification.objects.filter(pk__in=[row.pk for row in stale]).update(email_due_at=None)
    return [row for row in rows if row not in stale]


def compose_due(*, user_ids=None, now: datetime | None = None) -> list[int]:
    """Write the emails now due (steps 1 in the module docstring); returns their ids."""
    now = now or timezone.now()
    with transaction.atomic():
        due = Notification.objects.filter(staff_email__isnull=True, email_due_at__lte=now)
        if user_ids is not None:
            due = due.filter(user_id__in=list(user_ids))
        rows = list(
            due.select_related("user")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("user_id", "outbox_id")[:COMPOSE_BATCH]
        )
        rows = _still_true(rows)
        by_user: dict[int, list[Notification]] = {}
        for row in rows:
            by_user.setdefault(row.user_id, []).append(row)
        zones = dict(
            NotificationPreference.objects.filter(user_id__in=list(by_user)).values_list(
                "user_id", "time_zone"
            )
        )
        composed = []
        for user_id, notifications in by_user.items():
            user = notifications[0].user
            if not user.is_active or not user.email:
                # Nobody to send to any more: the inbox still has every row.
                Notification.objects.filter(pk__in=[n.pk for n in notifications]).update(
                    email_due_at=None
                )
                continue
            subject, body = _compose(
                user, notifications, email_schedule.zone_of(zones.get(user_id, "UTC"))
            )
            email = StaffEmail.objects.create(
                user=user,
                recipient=user.email,
                subject=subject[:300],
                body_text=body,
                rfc_message_id=make_msgid(domain=settings.REDRESS_EMAIL_DOMAIN),
                created_at=now,
            )
            Notification.objects.filter(pk__in=[n.pk for n in notifications]).update(
                staff_email=email
            )
            composed.append(email.pk)
    return composed


def _compose(user, notifications: list[Notification], zone) -> tuple[str, str]:
    name = user.get_full_name() or user.username
    if len(notifications) == 1:
        (only,) = notifications
        subject = _("Redress: %(summary)s") % {"summary": only.summary}
    else:
        subject = ngettext(
            "Redress: %(count)d notification",
            "Redress: %(count)d notifications",
            len(notifications),
        ) % {"count": len(notifications)}
    # Each line's link opens the notification on the desk, which marks it read.
    lines = [
        f"- {n.created_at.astimezone(zone):%Y-%m-%d %H:%M} {n.summary}\n  {_link(n)}"
        for n in notifications[:DIGEST_MAX_LINES]
    ]
    if len(notifications) > DIGEST_MAX_LINES:
        lines.append(
            _("… and %(count)d more in your inbox.")
            % {"count": len(notifications) - DIGEST_MAX_LINES}
        )
    body = "\n".join(
        [
            _("Hello %(name)s,") % {"name": name},
            "",
            *lines,
            "",
            _(
                "Times are in %(zone)s. You get these emails because email notifications are "
                "on in your notification preferences."
            )
            % {"zone": zone},
        ]
    )
    return subject, body + "\n"


def _link(notification: Notification) -> str:
    # The public URL, not the request's host: the worker composing this has no request.
    path = reverse("desk:open-notification", args=[notification.pk])
    return settings.REDRESS_PUBLIC_URL + path


def send(email_id: int) -> bool:
    """Send a queued staff email once (step 2); False if sent or being sent already."""
    with transaction.atomic():
        email = (
            StaffEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=email_id, status=EmailStatus.QUEUED)
            .first()
        )
        if email is None:
            return False
        EmailMessage(
            subject=email.subject,
            body=email.body_text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[email.recipient],
            # RFC 3834: out-of-office replies must not answer machine-sent mail.
            headers={"Message-ID": email.rfc_message_id, "Auto-Submitted": "auto-generated"},
        ).send(fail_silently=False)
        email.status = EmailStatus.SENT
        email.sent_at = timezone.now()
        email.attempts += 1
        email.save(update_fields=["status", "sent_at", "attempts"])
    return True


def queued(*, limit: int) -> list[int]:
    """Staff emails still to send, oldest first."""
    return list(
        StaffEmail.objects.filter(status=EmailStatus.QUEUED)
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
