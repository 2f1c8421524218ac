"""Timeline entries the escalation app writes (through ``recovery.events``)."""

from recovery.events import EventEntry
from recovery.models import EventType


def clock_warning(clock, notify) -> EventEntry:
    return EventEntry(
        clock.complaint,
        EventType.CLOCK_WARNING,
        None,
        {"clock": clock.kind, "due_at": clock.due_at.isoformat(), "cycle": clock.cycle},
        notify_users=tuple(notify),
    )


def clock_breached(clock, notify) -> EventEntry:
    return EventEntry(
        clock.complaint,
        EventType.CLOCK_BREACHED,
        None,
        {"clock": clock.kind, "due_at": clock.due_at.isoformat(), "cycle": clock.cycle},
        notify_users=tuple(notify),
    )


def escalated(escalation, actor=None) -> EventEntry:
    down = escalation.level < escalation.previous_level
    return EventEntry(
        escalation.complaint,
        EventType.DE_ESCALATED if down else EventType.ESCALATED,
        actor,
        {
            "level": escalation.level,
            "previous_level": escalation.previous_level,
            "target": escalation.target,
            "owner_id": escalation.owner_id,
            "clock": escalation.clock.kind if escalation.clock_id else None,
            "manual": escalation.manual,
            "reason": escalation.reason,
        },
        notify_users=(escalation.owner_id,) if escalation.owner_id else (),
    )


def escalation_requested(complaint, actor, reason: str, notify) -> EventEntry:
    return EventEntry(
        complaint,
        EventType.ESCALATION_REQUESTED,
        actor,
        {"reason": reason},
        notify_users=tuple(notify),
    )
