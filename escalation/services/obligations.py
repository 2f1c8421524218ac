"""What a letter to the customer does to a statutory obligation, in the caller's transaction.

A regime gives some messages a legal effect on one of its obligations (``regulatory.Letter``):
a written response meets the FCA's eight-week obligation without resolving the complaint; an
IDR delay notification is recorded against ASIC's maximum timeframe, which runs on. Each
writes an ``obligation_answered`` or ``delay_notified`` timeline event naming the obligation
(profile, rule, region, cycle, deadline) and the message: the timeline is append-only, so it
proves which message answered which obligation even after a reopened complaint restarts it.
"""

from escalation import events, regulatory
from escalation.models import Clock, ClockState
from escalation.services.clocks import stop_clock
from recovery.events import record_many
from recovery.services import sla


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
        sla.complaints_refresh_sla([complaint.pk])
    else:
        record_many([events.delay_notified(clock, message, actor, letter)])
    return clock
