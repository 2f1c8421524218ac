"""Writes of the notifications app, called by other apps inside their transactions."""

import uuid

from django.db import transaction
from django.utils import timezone

from common import bulk_writes
from notifications.models import Outbox


def outbox_add_many(entries: list[dict]) -> list[int]:
    """Record a batch of events with one INSERT (the sweeper writes many at once).

    Must run inside ``transaction.atomic``: an outbox row written on its own could announce a
    change that then rolls back. Returns the new events' ids, in order.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("The outbox must be written inside the transaction of the change.")
    ids = bulk_writes.insert_rows(
        Outbox,
        [
            {
                "event_type": entry["event_type"],
                "complaint_id": entry["complaint_id"],
                "audience": entry["audience"],
                "payload": entry["payload"],
                "idempotency_key": entry.get("idempotency_key")
                or f"{entry['event_type']}:{uuid.uuid4()}",
            }
            for entry in entries
        ],
    )
    transaction.on_commit(lambda: _enqueue_delivery(ids))
    return ids


def _enqueue_delivery(ids: list[int]) -> None:
    # One task per committed batch; imported late because tasks import this module's app.
    # Runs just after the commit: the time it notes is when the change became visible.
    from notifications.delivery import enqueue
    from notifications.tasks import deliver_outbox

    enqueue(deliver_outbox, ids, timezone.now().isoformat())
