"""The outbox writer: the one write of the notifications app that other apps call, inside
their own transactions.

It knows nothing of delivery (an import contract holds it): the notifications app hands it
the function that queues delivery when it starts (``NotificationsConfig.ready``), so the
core writes its events here without importing the code that sends them.
"""

import uuid
from collections.abc import Callable

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


# Set once at start by the notifications app: queues one delivery task for committed rows.
_deliver: Callable[[list[int], str], None] | None = None


def deliver_with(deliver: Callable[[list[int], str], None]) -> None:
    global _deliver
    _deliver = deliver


def _enqueue_delivery(ids: list[int]) -> None:
    # One task per committed batch, just after the commit: the time it notes is when the
    # change became visible. Without a deliverer (never, once the app is ready) the rows
    # wait for the redelivery sweep, as they do through a broker outage.
    if _deliver is not None:
        _deliver(ids, timezone.now().isoformat())
