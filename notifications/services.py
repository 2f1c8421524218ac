"""Writes of the notifications app, called by other apps inside their transactions."""

import uuid

from django.db import transaction
from django.utils import timezone

from config import bulk_writes
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


def _enqueue_delivery(ids: list[int]) -> None:
    # One task per committed batch; imported late because tasks import this module's app.
    # Runs just after the commit: the time it notes is when the change became visible.
    from notifications.delivery import enqueue
    from notifications.tasks import deliver_outbox

    enqueue(deliver_outbox, ids, timezone.now().isoformat())
