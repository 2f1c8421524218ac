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
    _require_transaction()
    ids = bulk_writes.insert_rows(Outbox, _outbox_rows(entries))
    transaction.on_commit(lambda: _enqueue_delivery(ids))
    return ids


def outbox_add_with_rows(
    model, rows: list[dict], entries: list[dict], *, linked: dict[str, str]
) -> list[int]:
    """Insert ``rows`` of ``model`` and the outbox events ``entries`` that announce them
    (the i-th the i-th) with one statement, on PostgreSQL
    (``bulk_writes.insert_rows_with_children``): ``linked`` puts each new row's id into its
    event's columns. Returns the new rows' ids, in order. As ``outbox_add_many`` otherwise.
    """
    _require_transaction()
    ids, outbox_ids = bulk_writes.insert_rows_with_children(
        model, rows, Outbox, _outbox_rows(entries), linked=linked
    )
    transaction.on_commit(lambda: _enqueue_delivery(outbox_ids))
    return ids


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("The outbox must be written inside the transaction of the change.")


def _outbox_rows(entries: list[dict]) -> list[dict]:
    return [
        {
            "event_type": entry["event_type"],
            "complaint_id": entry["complaint_id"],
            "audience": entry["audience"],
            "payload": entry["payload"],
            "idempotency_key": entry.get("idempotency_key")
            or f"{entry['event_type']}:{uuid.uuid4()}",
        }
        for entry in entries
    ]


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
