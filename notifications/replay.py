"""What a reconnecting socket missed, read from the database (the record), not the layer."""

from django.core import signing

from notifications.groups import customer_message, event_message
from notifications.models import Notification, Outbox

# Most events a reconnecting client is sent in one go; beyond that it is told to refetch,
# which is cheaper for both sides than streaming a long backlog.
REPLAY_LIMIT = 500
TRACKING_SALT = "redress.tracking"


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
    """A signed, unguessable token for one complaint's tracking page and socket."""
    return signing.dumps({"c": complaint_id}, salt=TRACKING_SALT, compress=True)


def complaint_of_tracking_token(token: str) -> int | None:
    try:
        value = signing.loads(token, salt=TRACKING_SALT)
    except signing.BadSignature:
        return None
    complaint_id = value.get("c") if isinstance(value, dict) else None
    return complaint_id if isinstance(complaint_id, int) else None
