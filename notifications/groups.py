"""Channel-layer group names and the pushes an event makes.

Names allow only ASCII letters, digits, hyphens, underscores and periods (Channels' rule).
"""

from notifications.models import Outbox

PUSH_TYPE = "event.push"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def complaint_group(complaint_id: int) -> str:
    return f"complaint.{complaint_id}"


def tracking_group(complaint_id: int) -> str:
    return f"track.{complaint_id}"


def event_message(row: Outbox) -> dict:
    """The versioned JSON every socket client receives; ``id`` is the outbox id."""
    return {
        "v": 1,
        "id": row.pk,
        "type": row.event_type,
        "complaint": row.payload.get("reference"),
        "state": row.payload.get("state"),
        "created_at": row.created_at.isoformat(),
        "parameters": row.payload.get("parameters") or {},
    }


def customer_message(row: Outbox) -> dict:
    """What a customer's tracking page may see: no internal parameters."""
    return {
        "v": 1,
        "id": row.pk,
        "type": row.event_type,
        "complaint": row.payload.get("reference"),
        "state": row.payload.get("state"),
        "created_at": row.created_at.isoformat(),
    }


def pushes_for(row: Outbox, user_ids) -> list[tuple[str, dict]]:
    message = {"type": PUSH_TYPE, "event": event_message(row)}
    pushes = [(user_group(user_id), message) for user_id in user_ids]
    if row.complaint_id:
        pushes.append((complaint_group(row.complaint_id), message))
        if row.audience.get("customer") is not None:
            pushes.append(
                (
                    tracking_group(row.complaint_id),
                    {"type": PUSH_TYPE, "event": customer_message(row)},
                )
            )
    return pushes
