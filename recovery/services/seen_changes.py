"""Refusing a change decided on a stale page: someone else acted on the complaint since.

Two supervisors look at one board; the first assigns a card, the second, whose board has not
refreshed yet, assigns it elsewhere. Without a check the second silently overwrites the
first. The page says the newest timeline event it was read after (``seen_event_id``); the
change is refused (409) when the complaint has since been handed out, moved, escalated or
closed, naming who did what, so the second looks again and decides knowingly.
"""

from django.db import transaction
from django.utils import timezone

from common.errors import Conflict
from recovery.models import Complaint, ComplaintEvent, EventType

# What changes a card's hands, queue, level or state: what the person acting decided from.
# A message, a note or a clock warning does not make the decision stale.
CHANGES_DECISIONS = (
    EventType.ASSIGNED,
    EventType.ROUTED,
    EventType.ESCALATED,
    EventType.DE_ESCALATED,
    EventType.RESOLVED,
    EventType.LOOP_CLOSED,
    EventType.WITHDRAWN,
    EventType.REOPENED,
)


def complaint_lock_unchanged_since(*, complaint: Complaint, seen_event_id: int) -> Complaint:
    """Lock the complaint and refuse (``Conflict``) if it changed after ``seen_event_id``.

    1. must run inside the caller's transaction, before the change it guards: the row lock
       is held to the end of it, so a second stale change waits for the first to commit,
       then reads its event and is refused;
    2. read the newest decision-changing event after ``seen_event_id`` (the timeline index);
    3. none: return the locked row; else raise, saying what happened, by whom, and when.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("complaint_lock_unchanged_since needs the caller's transaction.")
    locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
    change = (
        ComplaintEvent.objects.filter(
            complaint_id=locked.pk, id__gt=seen_event_id, type__in=CHANGES_DECISIONS
        )
        .select_related("actor")
        .order_by("-id")
        .first()
    )
    if change is None:
        return locked
    who = (change.actor.get_full_name() or change.actor.get_username()) if change.actor else ""
    at = timezone.localtime(change.created_at).strftime("%H:%M")
    what = EventType(change.type).label
    by = f" by {who}" if who else ""
    raise Conflict(
        f"{locked.reference} changed while you were looking: {what.lower()}{by} at {at}. "
        "Look at it again before you act on it.",
        details={"changed": [change.type], "event_id": change.pk},
    )


def latest_event_id() -> int:
    """The newest timeline event now: what a page read after this has seen."""
    return ComplaintEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
