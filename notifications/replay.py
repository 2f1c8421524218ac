"""What a reconnecting socket missed, read from the database (the record), not the layer."""

from common.errors import RedressError
from notifications.groups import customer_message, event_message
from notifications.models import Notification, Outbox
from recovery.services import tracking_links
from recovery.services.tracking_links import TRACKING_SALT  # noqa: F401 (the link's salt)

# Most events a reconnecting client is sent in one go; beyond that it is told to refetch,
# which is cheaper for both sides than streaming a long backlog.
REPLAY_LIMIT = 500


def missed_by_user(user_id: int, last_id: int) -> list[dict] | None:
    """Events for the user after ``last_id``, oldest first; None means "refetch"."""
    rows = list(
        Notification.objects.filter(user_id=user_id, outbox_id__gt=last_id)
        .select_related("outbox")
        .order_by("outbox_id")[: REPLAY_LIMIT + 1]
    )
    if len(rows) > REPLAY_LIMIT:
        return None
    return [event_message(row.outbox) for row in rows]


def missed_by_customer(complaint_id: int, last_id: int) -> list[dict] | None:
    rows = list(
        Outbox.objects.filter(complaint_id=complaint_id, id__gt=last_id)
        # JSON null means "not for the customer"; a missing key the same.
        .filter(audience__has_key="customer")
        .exclude(audience__customer=None)
        .order_by("id")[: REPLAY_LIMIT + 1]
    )
    if len(rows) > REPLAY_LIMIT:
        return None
    return [customer_message(row) for row in rows]


def tracking_token(complaint_id: int) -> str:
    """The complaint's current tracking link token (``recovery.services.tracking_links``)."""
    return tracking_links.tracking_token_of(complaint_id) or ""


def complaint_of_tracking_token(token: str) -> int | None:
    """The complaint a tracking link opens, or None if it is not, or no longer, valid."""
    try:
        return tracking_links.complaint_of_link(token).pk
    except RedressError:
        return None


def latest_complaint_event(last_id: int) -> int | None:
    """The newest complaint event after ``last_id``, or None: a board that says the last
    one it saw learns whether a ring it missed would have changed it (one index read)."""
    return (
        Outbox.objects.filter(id__gt=last_id, complaint_id__isnull=False)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
