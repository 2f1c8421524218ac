"""Timeline entries the escalation app writes (through ``recovery.events``)."""

from recovery.events import EventEntry
from recovery.models import EventType


def clock_label(clock) -> str:
    """ "resolve internal target" or "resolve statutory deadline (DISP 1.6.2R)"."""
    if clock.regulatory_profile:
        return f"{clock.kind} statutory deadline ({clock.rule or clock.regulatory_profile})"
    return f"{clock.kind} internal target"


def _clock_parameters(clock) -> dict:
    return {
        "clock": clock.kind,
        "due_at": clock.due_at.isoformat(),
        "cycle": clock.cycle,
        "statutory": bool(clock.regulatory_profile),
        "regulatory_profile": clock.regulatory_profile,
        "rule": clock.rule,
    }


def clock_warning(clock, notify, *, overtaken: bool = False) -> EventEntry:
    """``overtaken``: the deadline has passed too (a sweep catching up after an outage, or a
    complaint taken in late), and the breach written in the same sweep tells staff; a
    deadline "at risk" that is already missed is only recorded."""
    return EventEntry(
        clock.complaint,
        EventType.CLOCK_WARNING,
        None,
        _clock_parameters(clock),
        notify_users=tuple(notify),
        notify_staff=not overtaken,
    )


def clock_breached(
    clock, notify, *, escalates: bool = False, answered_late: bool = False
) -> EventEntry:
    """``escalates``: the escalation written with it tells staff (its reason names the breach),
    so the breach itself is only recorded: one notification per escalation, not two.
    ``answered_late``: found as the clock stopped, answered after its deadline: the team's
    agents are told, not its supervisors, as nothing is left to act on."""
    return EventEntry(
        clock.complaint,
        EventType.CLOCK_BREACHED,
        None,
        _clock_parameters(clock),
        notify_users=tuple(notify),
        notify_staff=not escalates,
        tell_supervisors=False if answered_late else None,
    )


def obligation_answered(clock, message, actor, letter=None) -> EventEntry:
    """A message answered a statutory obligation: which one (profile, rule, region, cycle,
    deadline), with which message, and whether by the deadline."""
    return EventEntry(
        clock.complaint, EventType.OBLIGATION_ANSWERED, actor, _answer(clock, message, letter)
    )


def delay_notified(clock, message, actor, letter) -> EventEntry:
    """A notice of delay was sent while a statutory obligation ran; it runs on."""
    return EventEntry(
        clock.complaint, EventType.DELAY_NOTIFIED, actor, _answer(clock, message, letter)
    )


def _answer(clock, message, letter) -> dict:
    return {
        **_clock_parameters(clock),
        "jurisdiction": clock.jurisdiction,
        "state": clock.state,
        "answered_at": message.created_at.isoformat(),
        "before_deadline": clock.due_at is None or message.created_at <= clock.due_at,
        "message_id": message.pk,
        "message_kind": message.kind,
        # The paragraph that gives the message its effect, where it is not the rule's own.
        "letter_rule": letter.citation if letter else "",
    }


def deadline_extended(clock, actor, *, ground: str, previous: dict, details: dict) -> EventEntry:
    """A statutory deadline moved to its extended form, on what ground, from what to what."""
    return EventEntry(
        clock.complaint,
        EventType.DEADLINE_EXTENDED,
        actor,
        {
            **_clock_parameters(clock),
            "jurisdiction": clock.jurisdiction,
            "ground": ground,
            "previous_rule": previous["rule"],
            "previous_due_at": previous["due_at"].isoformat(),
            **details,
        },
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
            "statutory": bool(escalation.clock_id and escalation.clock.regulatory_profile),
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
