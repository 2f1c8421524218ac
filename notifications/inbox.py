"""The per-user inbox and preferences: reads and the few writes a user makes."""

from django.db.models import QuerySet
from django.utils import timezone

from notifications.models import Notification, NotificationPreference


def inbox_of(user, *, unread_only: bool = False) -> QuerySet[Notification]:
    rows = Notification.objects.filter(user=user).order_by("-outbox_id")
    return rows.filter(read_at__isnull=True) if unread_only else rows


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def mark_read(user, *, ids: list[int] | None = None, up_to: int | None = None) -> int:
    """Mark the given notifications, or all up to an event id, as read; returns how many."""
    rows = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    if up_to is not None:
        rows = rows.filter(outbox_id__lte=up_to)
    return rows.update(read_at=timezone.now())


def preferences_of(user) -> NotificationPreference:
    preference, _ = NotificationPreference.objects.get_or_create(user=user)
    return preference
