"""What a letter or a recorded step does to a statutory obligation, in the caller's transaction.

A regime gives some messages a legal effect on one of its obligations (``regulatory.Letter``):
a written response meets the FCA's eight-week obligation without resolving the complaint; an
IDR delay notification is recorded against ASIC's maximum timeframe, which runs on. Each
writes an ``obligation_answered`` or ``delay_notified`` timeline event naming the obligation
(profile, rule, region, cycle, deadline) and the message: the timeline is append-only, so it
proves which message answered which obligation even after a reopened complaint restarts it.

Some regimes also extend an obligation on a ground the firm records in time (a holding
reply in exceptional circumstances, a provisional credit): ``extend`` moves it and writes a
``deadline_extended`` event.
"""

from datetime import UTC, datetime

from common.errors import TransitionNotAllowed, ValidationFailed
from escalation import events, regulatory
from escalation.models import Clock, ClockState
from escalation.services import snapshot
from escalation.services.clocks import retarget, stop_clock
from recovery.events import record_many


def open_obligation(complaint, kind: str, *, lock: bool = False) -> Clock | None:
    """The complaint's statutory clock of ``kind`` not yet answered (running, paused, or
    breached and still waiting), if any; ``lock`` reads it ``FOR UPDATE``."""
    clocks = Clock.objects.filter(complaint=complaint, kind=kind, stopped_at__isnull=True).exclude(
        regulatory_profile=""
    )
    if lock:
        clocks = clocks.select_for_update()
    return clocks.exclude(state=ClockState.CANCELLED).first()


def last_obligation(complaint, kind: str) -> Clock | None:
    """The complaint's statutory clock of ``kind`` whatever its state (there is one per kind)."""
    return (
        Clock.objects.filter(complaint=complaint, kind=kind).exclude(regulatory_profile="").first()
    )


def answer(complaint, letter: regulatory.Letter, message, actor) -> Clock:
    """Apply ``letter`` (sent as ``message``) to its obligation and record it on the timeline.

    A letter that meets the obligation stops its clock when the message was written: met if
    that was by the deadline, otherwise breached it stays (``stopped_at`` records the answer and
    ends the ladder). A letter that notes it leaves the clock as it is: the obligation is met
    or breached by its own deadline. The caller checked that the obligation is open
    (``open_obligation``).
    """
    clock = open_obligation(complaint, letter.clock, lock=True)
    if clock is None:
        raise ValueError(f"{complaint.reference} has no open {letter.clock} obligation")
    clock.complaint = complaint
    if letter.effect == regulatory.MEETS:
        stop_clock(clock, message.created_at)
        record_many([events.obligation_answered(clock, message, actor, letter)])
        snapshot.complaints_refresh_sla([complaint.pk])
    else:
        record_many([events.delay_notified(clock, message, actor, letter)])
    return clock


# What each ground of extension is, in the words of a refusal.
_GROUND_NAMES = {
    regulatory.HOLDING_REPLY: "An exceptional holding reply",
    regulatory.PROVISIONAL_CREDIT: "A provisional credit",
}


def ensure_may_extend(complaint, *, ground: str, at: datetime, lock: bool = False) -> list[tuple]:
    """The (profile, extended deadline, clock) that ``ground`` would move at ``at`` (the clocks
    read ``FOR UPDATE`` with ``lock``); refused as the rules refuse it.

    Only while the first deadline runs, and once: refused under a profile whose deadlines
    ``ground`` does not extend (``ValidationFailed``), and after the first deadline or a
    second time (``TransitionNotAllowed``).
    """
    profile = regulatory.get_profile(complaint.regulatory_profile)
    what = _GROUND_NAMES.get(ground, ground)
    if profile is None or profile.extension_ground != ground:
        having = [p for p in regulatory.PROFILES.values() if p.extension_ground == ground]
        where = ", ".join(f"{p.code} ({p.name})" for p in having)
        under = f"{profile.code} ({profile.name})" if profile else "no regulatory profile"
        raise ValidationFailed(
            f"{what} extends no deadline under {under}, the profile of {complaint.reference}; "
            f"it does under {where}.",
            details={"regulatory_profile": [f"{under} has no extension on this ground."]},
        )
    pairs = []
    for deadline in profile.extended_deadlines:
        clock = open_obligation(complaint, deadline.clock, lock=lock)
        if clock is None:
            raise TransitionNotAllowed(
                f"{complaint.reference} has no open {deadline.clock} obligation to extend.",
                details={"state": complaint.state},
            )
        if clock.rule == deadline.citation:
            raise TransitionNotAllowed(
                f"The {deadline.clock} deadline of {complaint.reference} already runs to "
                f"{local_time(clock, clock.due_at)} ({deadline.citation}).",
                details={"state": complaint.state},
            )
        if clock.state == ClockState.BREACHED or at > clock.due_at:
            raise TransitionNotAllowed(
                f"{what} extends the {deadline.clock} deadline of {complaint.reference} only "
                f"before it passes; it passed at {local_time(clock, clock.due_at)} ({clock.rule}).",
                details={"state": complaint.state},
            )
        pairs.append((profile, deadline, clock))
    return pairs


def extend(complaint, *, ground: str, actor, at: datetime, details: dict) -> list[Clock]:
    """Move the complaint's statutory deadlines to their extended form on ``ground`` (a
    holding reply in exceptional circumstances, a provisional credit), in the caller's
    transaction, and record each move on the timeline with ``details``. Refused as
    ``ensure_may_extend`` says."""
    moved, entries = [], []
    for profile, deadline, clock in ensure_may_extend(complaint, ground=ground, at=at, lock=True):
        previous = {"rule": clock.rule, "due_at": clock.due_at}
        retarget(clock, profile, deadline)
        clock.complaint = complaint
        moved.append(clock)
        entries.append(
            events.deadline_extended(
                clock, actor, ground=ground, previous=previous, details=details
            )
        )
    record_many(entries)
    snapshot.complaints_refresh_sla([complaint.pk])
    return moved


def local_time(clock: Clock, instant: datetime, fmt: str = "%H:%M %Z on %-d %B %Y") -> str:
    """``instant`` as a person in the clock's region reads it: its deadline is theirs."""
    zone = regulatory.region_zone(clock.regulatory_profile, clock.jurisdiction) or UTC
    return instant.astimezone(zone).strftime(fmt)
