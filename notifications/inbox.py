"""The per-user inbox and preferences: reads and the few writes a user makes."""

import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import IntegerField, QuerySet, Subquery
from django.utils import timezone

from common.compiled_queries import CompiledQuery, count_row
from notifications import staff_email
from notifications.models import Notification, NotificationPreference
from recovery.models import EventType

# Every event type a user can mute: the timeline's types, as the outbox names them
# (recovery.events writes "complaint.<type>").
EVENT_TYPES = frozenset(f"complaint.{value}" for value in EventType.values)
# Preferences that decide when emails go out: changing one reschedules pending emails.
_EMAIL_TIMING = frozenset(
    {"via_email", "email_digest", "quiet_hours_start", "quiet_hours_end", "time_zone", "by_kind"}
)


def inbox_of(user, *, unread_only: bool = False) -> QuerySet[Notification]:
    rows = Notification.objects.filter(user=user).order_by("-outbox_id")
    return rows.filter(read_at__isnull=True) if unread_only else rows


def unread_count(user) -> int:
    if connection.vendor != "postgresql":
        return _unread(user).count()
    # Compiled once per process: the bell's count is on every desk page.
    return _UNREAD_COUNT.run(user_id=user.pk)[0]["n"]


def unread_count_query(user):
    """``unread_count`` as a subquery, for a page's own query to bring along."""
    return Subquery(
        count_row(_unread(user))[:1],
        output_field=IntegerField(),
    )


def _unread(user):
    return _unread_of(user.pk)


def _unread_of(user_id: int):
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True)


_UNREAD_COUNT = CompiledQuery(lambda user_id: count_row(_unread_of(user_id)), user_id=int)


def mark_read(user, *, ids: list[int] | None = None, up_to: int | None = None) -> int:
    """Mark the given notifications, or all up to an event id, as read; returns how many."""
    rows = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    if up_to is not None:
        rows = rows.filter(outbox_id__lte=up_to)
    marked = rows.update(read_at=timezone.now())
    if marked:
        _tell_open_pages(user.pk)
    return marked


def _tell_open_pages(user_id: int) -> None:
    """After commit, ring the user's sockets with their new unread count: the bell of every
    tab they have open follows what they read in one of them (or from an email's link).

    A doorbell like any push: a tab that misses it counts again at its next event or load.
    """
    # Imported late: delivery pulls in the recovery app, which imports this module.
    from notifications import delivery, groups

    def ring() -> None:
        unread = Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()
        text = json.dumps({"type": "unread", "unread": unread})
        delivery.ring([(groups.user_group(user_id), {"type": groups.PUSH_TYPE, "text": text})])

    transaction.on_commit(ring)


def notification_open(*, user, notification_id: int) -> Notification:
    """The user opened one of their notifications: it is read from now (if it was not).

    Another user's notification is as unknown as one that does not exist.
    """
    from common.errors import NotFound

    row = Notification.objects.filter(user=user, pk=notification_id).first()
    if row is None:
        raise NotFound("You have no notification with that number.")
    if row.read_at is None:
        # Only the first opening counts: two tabs opening it keep the earlier time.
        first = Notification.objects.filter(pk=row.pk, read_at__isnull=True)
        if first.update(read_at=timezone.now()):
            _tell_open_pages(user.pk)
    return row


def preferences_of(user) -> NotificationPreference:
    preference, _ = NotificationPreference.objects.get_or_create(user=user)
    return preference


def preferences_update(*, user, changes: dict) -> NotificationPreference:
    """Save validated preference changes; emails still owed follow the new timing.

    Muting applies to events delivered from now on: what is in the inbox stays there.
    """
    with transaction.atomic():
        preferences_of(user)
        preference = NotificationPreference.objects.select_for_update().get(user=user)
        for name, value in changes.items():
            setattr(preference, name, value)
        preference.save(update_fields=list(changes) or None)
        if _EMAIL_TIMING & set(changes):
            staff_email.reschedule_pending(user=user, preference=preference)
    return preference


@dataclass(frozen=True)
class InboxPage:
    """One page of a user's inbox, newest first, and where the pages either side start.

    ``older`` is the ``before`` of the next older page, ``newer`` the ``after`` of the next
    newer one; None when there is nothing that way.
    """

    rows: list[Notification]
    older: int | None
    newer: int | None
    # There are notifications either side of an empty page (a cursor past the end).
    elsewhere: bool = False


def inbox_page(
    user, *, size: int, before: int | None = None, after: int | None = None
) -> InboxPage:
    """``size`` notifications older than ``before``, newer than ``after``, or the newest.

    Keyset pages on the outbox id (unique per user), so a page far back costs what the
    first does, and a notification arriving between two pages neither repeats nor hides a
    row. One statement whatever the page:

    1. the page's rows and one more, which says whether the next page that way exists;
    2. joined (UNION ALL) to the first row on the other side of the cursor, which says
       whether the page the other way exists; the first page has no other side.
    """
    rows = inbox_of(user)
    if after is not None:
        shown = rows.filter(outbox_id__gt=after).order_by("outbox_id")[: size + 1]
        other_side = rows.filter(outbox_id__lte=after).order_by("-outbox_id")[:1]
    elif before is not None:
        shown = rows.filter(outbox_id__lt=before)[: size + 1]
        other_side = rows.filter(outbox_id__gte=before).order_by("outbox_id")[:1]
    else:
        page = list(rows[: size + 1])
        return InboxPage(
            rows=page[:size],
            older=page[size - 1].outbox_id if len(page) > size else None,
            newer=None,
        )
    fetched = list(shown.union(other_side, all=True))
    if after is not None:
        # Read oldest first from the cursor: the extra row is the newest.
        page = sorted((r for r in fetched if r.outbox_id > after), key=_by_outbox_id)
        newer_exists, page = len(page) > size, page[:size][::-1]
        older_exists = any(r.outbox_id <= after for r in fetched)
    else:
        page = sorted((r for r in fetched if r.outbox_id < before), key=_by_outbox_id, reverse=True)
        older_exists, page = len(page) > size, page[:size]
        newer_exists = any(r.outbox_id >= before for r in fetched)
    if not page:
        return InboxPage(rows=[], older=None, newer=None, elsewhere=older_exists or newer_exists)
    return InboxPage(
        rows=page,
        older=page[-1].outbox_id if older_exists else None,
        newer=page[0].outbox_id if newer_exists else None,
    )


def _by_outbox_id(row: Notification) -> int:
    return row.outbox_id
