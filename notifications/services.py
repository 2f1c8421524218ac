"""Writes of the notifications app, called by other apps inside their transactions."""

import uuid

from django.db import transaction

from notifications.models import Outbox


def outbox_add(
    *,
    event_type: str,
    complaint_id: int | None,
    audience: dict,
    payload: dict,
    idempotency_key: str | None = None,
) -> Outbox:
    """Record an event to be told, as part of the caller's transaction.

    Must run inside ``transaction.atomic``: an outbox row written on its own could announce a
    change that then rolls back.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox_add must be called inside the transaction of the change.")
    return Outbox.objects.create(
        event_type=event_type,
        complaint_id=complaint_id,
        audience=audience,
        payload=payload,
        idempotency_key=idempotency_key or f"{event_type}:{uuid.uuid4()}",
    )
