"""Complaints nobody picked up: their team's supervisors are told, once per complaint.

``alert_unpicked`` runs from the beat schedule (``recovery.alert_unpicked``) as follows:
1. Read up to ``BATCH_SIZE`` ids of open complaints with no assignee that nobody worked
   (no message to the customer, no note), taken in by intake more than
   ``REDRESS_UNPICKED_ALERT_MINUTES`` ago, that have no alert yet (through the partial
   index ``complaint_unpicked_idx``).
2. Claim them in one transaction: insert an ``UnpickedAlert`` per complaint, carrying this
   run's claim token, ignoring conflicts. The unique complaint is the claim: a concurrent
   run inserting the same complaint waits for this one to commit, then inserts nothing.
   The rows that carry this run's token are the complaints it claimed.
3. In that transaction, write each claimed complaint's ``unpicked`` timeline event and
   outbox row, addressed to its team's supervisors (``recovery.selectors.supervisors_of``).
4. Repeat while full batches keep coming, up to ``MAX_PER_RUN`` complaints.
When the alert is delivered, the complaint is checked again (``notifications.delivery``):
one picked up in between is told to nobody.
A batch that raises is rolled back and retried one complaint per transaction, so one
complaint that cannot be handled is logged and does not hold up the others.

Imported complaints are history (``source`` set) and are never alerted on.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recovery import events, selectors
from recovery.models import UnpickedAlert

logger = logging.getLogger(__name__)

# Complaints claimed per transaction: as the clock sweeper's, a batch holds its locks for
# well under a second and shares each statement's overhead among many rows.
BATCH_SIZE = 500
# A run handles at most this many; the next run (a minute later) goes on.
MAX_PER_RUN = 10_000
# What the event needs of a complaint (reference, state, team, assignee, customer for its
# audience); long texts are left unread.
_COMPLAINT_FIELDS = ("id", "reference", "state", "team", "assignee", "customer")


@dataclass
class AlertResult:
    alerted: int = 0
    failed: int = 0


def unpicked(now: datetime, minutes: int):
    """Complaints nobody picked up (``selectors.not_picked_up``: unassigned and unworked)
    older than ``minutes``, not alerted yet."""
    return (
        selectors.not_picked_up()
        .filter(created_at__lte=now - timedelta(minutes=minutes))
        .filter(unpicked_alert__isnull=True)
        .order_by("created_at", "id")
    )


def alert_unpicked(now: datetime | None = None) -> AlertResult:
    """Tell supervisors about every complaint nobody picked up in time; safe to run twice."""
    now = now or timezone.now()
    minutes = settings.REDRESS_UNPICKED_ALERT_MINUTES
    result = AlertResult()
    handled = 0
    while handled < MAX_PER_RUN:
        limit = min(BATCH_SIZE, MAX_PER_RUN - handled)
        ids = list(unpicked(now, minutes).values_list("pk", flat=True)[:limit])
        if not ids:
            break
        try:
            result.alerted += _claim_and_tell(ids, now, minutes)
        except Exception:
            logger.exception("Unpicked alerts failed; retrying %d complaints one by one.", len(ids))
            for pk in ids:
                try:
                    result.alerted += _claim_and_tell([pk], now, minutes)
                except Exception:
                    logger.exception("Unpicked alert for complaint %s failed.", pk)
                    result.failed += 1
        handled += len(ids)
        if len(ids) < limit:
            break
    return result


def _claim_and_tell(ids: list[int], now: datetime, minutes: int) -> int:
    """Steps 2-3 for ``ids``; returns how many this run claimed."""
    claim = uuid.uuid4()
    with transaction.atomic():
        candidates = list(
            unpicked(now, minutes).filter(pk__in=ids).only(*_COMPLAINT_FIELDS).order_by("id")
        )
        UnpickedAlert.objects.bulk_create(
            [
                UnpickedAlert(
                    complaint=complaint, team_id=complaint.team_id, raised_at=now, claim=claim
                )
                for complaint in candidates
            ],
            ignore_conflicts=True,
        )
        ours = set(
            UnpickedAlert.objects.filter(
                complaint_id__in=[complaint.pk for complaint in candidates], claim=claim
            ).values_list("complaint_id", flat=True)
        )
        supervisors: dict[int | None, list[int]] = {}
        entries = []
        for complaint in candidates:
            if complaint.pk not in ours:
                continue  # another run claimed it first
            if complaint.team_id not in supervisors:
                supervisors[complaint.team_id] = selectors.supervisors_of(complaint.team_id)
            entries.append(
                events.complaint_unpicked(complaint, supervisors[complaint.team_id], minutes)
            )
        if entries:
            events.record_many(entries)
    return len(entries)
