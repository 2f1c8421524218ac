"""Starting, stopping, pausing and resuming clocks, in the caller's transaction.

``recovery`` calls ``on_transition``/``on_message``/``on_awaiting_customer`` from inside the
transaction that changes the complaint, so a clock never disagrees with the state it times.
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from common.compiled_inserts import CompiledInsert
from escalation import configuration, deadlines, events, obligations_from_record, regulatory
from escalation.calendars import BusinessCalendar as PureCalendar
from escalation.models import (
    BusinessCalendar,
    Clock,
    ClockKind,
    ClockState,
    Escalation,
    EscalationLadder,
)
from escalation.policies import matching_policy
from escalation.services import snapshot
from recovery.events import record_many

# Which clocks each lifecycle step starts and stops.
STARTS = {
    "received": (
        ClockKind.ACKNOWLEDGE,
        ClockKind.RESOLVE,
        ClockKind.SUMMARY_RESOLUTION,
        ClockKind.INITIAL_RESPONSE,
        ClockKind.CUSTOMER_UPDATE,
    ),
    "resolve": (ClockKind.CLOSE_LOOP,),
}
STOPS = {
    # The acknowledgement is a message to the customer: it answers one who is waiting.
    "acknowledge": (ClockKind.ACKNOWLEDGE, ClockKind.INITIAL_RESPONSE, ClockKind.RESPOND),
    "resolve": (
        ClockKind.ACKNOWLEDGE,
        ClockKind.RESOLVE,
        ClockKind.SUMMARY_RESOLUTION,
        ClockKind.INITIAL_RESPONSE,
        ClockKind.RESPOND,
        ClockKind.CUSTOMER_UPDATE,
    ),
    "close_loop": (ClockKind.CLOSE_LOOP,),
}
# Answered by any message to the customer; the update obligation then starts again from it.
ANSWERED_BY_MESSAGE = (ClockKind.RESPOND, ClockKind.CUSTOMER_UPDATE)
RESTARTED_BY_MESSAGE = (ClockKind.CUSTOMER_UPDATE,)
OPEN_CLOCK_STATES = (ClockState.RUNNING, ClockState.PAUSED)


@dataclass(frozen=True)
class ClockPlan:
    """Everything needed to (re)start one clock, resolved from a policy or a profile."""

    kind: str
    basis: str
    seconds: float
    calendar: PureCalendar | None
    calendar_row: BusinessCalendar | None
    policy: object | None
    profile: str
    pausable: bool
    escalates: bool
    warn_percent: int | None
    warn_before: int | None
    ladder: EscalationLadder | None
    due_at: datetime
    rule: str = ""
    jurisdiction: str = ""
    started_at: datetime | None = None

    @property
    def key(self) -> tuple[str, bool]:
        return (self.kind, bool(self.profile))


def pure_calendar(row: BusinessCalendar | None, profile: str, *instants: datetime, region=""):
    """The pure calendar of a clock: its calendar row, else its regulatory profile's (in the
    region ``region``, a jurisdiction code such as ``GB-SCT``)."""
    years = deadlines.years_around(*instants)
    if row is not None:
        return _row_calendar(row.pk, tuple(sorted(years)))
    found = regulatory.get_profile(profile)
    return found.calendar(years, region) if found else None


def _row_calendar(calendar_id: int, years: tuple[int, ...]) -> PureCalendar:
    """A calendar row as a pure calendar with its closures, built once per process and
    years until a calendar or closure changes: each clock shown or moved needs one."""

    def build():
        row = BusinessCalendar.objects.prefetch_related("closures").get(pk=calendar_id)
        return row.to_pure(years=years)

    return configuration.cached(f"pure-calendar:{calendar_id}:{years}", build)


def clock_calendar(clock: Clock, *instants: datetime):
    return pure_calendar(
        clock.calendar, clock.regulatory_profile, *instants, region=clock.jurisdiction
    )


def _policy_and_ladder(complaint):
    """The complaint's matching policy and the ladder its clocks climb: the policy's, else
    the default one (statutory clocks climb it too)."""
    policy = matching_policy(complaint)
    ladder = (policy.ladder if policy else None) or configuration.cached(
        "default-ladder", lambda: EscalationLadder.objects.filter(is_default=True).first()
    )
    return policy, ladder


def internal_plans(complaint, kinds, at: datetime, policy, ladder) -> list[ClockPlan]:
    """The internal targets ``kinds`` of the complaint's matching policy, started at ``at``."""
    if policy is None:
        return []
    pure = pure_calendar(policy.calendar, "", at)
    return [
        ClockPlan(
            kind=target.clock,
            basis=target.basis,
            seconds=target.seconds,
            calendar=pure,
            calendar_row=policy.calendar,
            policy=policy,
            profile="",
            pausable=target.pausable,
            escalates=True,
            warn_percent=target.warn_at_percent,
            warn_before=target.warn_seconds_before,
            ladder=ladder,
            due_at=deadlines.add(at, target.seconds, basis=target.basis, calendar=pure),
        )
        for target in policy.targets.all()
        if target.clock in kinds
    ]


def statutory_plans(complaint, kinds, at: datetime, ladder) -> list[ClockPlan]:
    """The statutory obligations ``kinds`` of the complaint's regulatory profile."""
    profile = regulatory.get_profile(complaint.regulatory_profile)
    if profile is None:
        return []
    region = profile.region(complaint.jurisdiction).code
    plans = []
    for deadline in profile.deadlines:
        if deadline.clock not in kinds:
            continue
        begins = obligations_from_record.obligation_start(complaint, deadline, at)
        plans.append(_statutory_plan(profile, deadline, begins, region, ladder))
    return plans


def _statutory_plan(profile, deadline, begins: datetime, region: str, ladder) -> ClockPlan:
    counted = obligations_from_record.count(profile, deadline, begins, region)
    return ClockPlan(
        kind=deadline.clock,
        basis=counted.basis,
        seconds=counted.seconds,
        calendar=counted.calendar,
        calendar_row=None,
        policy=None,
        profile=profile.code,
        # Statutory clocks run on regardless of whom we are waiting for.
        pausable=False,
        escalates=deadline.escalates,
        warn_percent=obligations_from_record.WARN_AT_PERCENT,
        warn_before=None,
        ladder=ladder,
        due_at=counted.due_at,
        rule=deadline.citation,
        jurisdiction=region,
        started_at=begins,
    )


def plan_clocks(complaint, kinds, at: datetime) -> list[ClockPlan]:
    """The clocks ``kinds`` would start at ``at``: the matching policy's internal targets and,
    beside them, the complaint's statutory obligations. Neither replaces the other."""
    policy, ladder = _policy_and_ladder(complaint)
    return internal_plans(complaint, kinds, at, policy, ladder) + statutory_plans(
        complaint, kinds, at, ladder
    )


def _apply_plan(clock: Clock, plan: ClockPlan, at: datetime) -> None:
    clock.state = ClockState.RUNNING
    clock.policy = plan.policy
    clock.regulatory_profile = plan.profile
    clock.rule = plan.rule
    clock.jurisdiction = plan.jurisdiction
    clock.calendar = plan.calendar_row
    clock.ladder = plan.ladder
    clock.basis = plan.basis
    clock.target_seconds = max(round(plan.seconds), 0)
    clock.pausable = plan.pausable
    clock.escalates = plan.escalates
    clock.started_at = plan.started_at or at
    clock.due_at = plan.due_at
    offset = deadlines.warning_offset(
        plan.seconds, percent=plan.warn_percent, before=plan.warn_before
    )
    clock.warn_at = (
        deadlines.add(clock.started_at, offset, basis=plan.basis, calendar=plan.calendar)
        if offset is not None
        else None
    )
    clock.warned_at = clock.breached_at = clock.stopped_at = clock.paused_at = None
    clock.seconds_left_when_paused = clock.seconds_to_warn_when_paused = None
    clock.paused_seconds = 0
    clock.escalation_level = 0
    clock.next_escalation_at = None
    clock.retry_after = None
    clock.failures = 0


# A new complaint's first clocks, with their INSERT built once per process (intake's hot path).
_NEW_CLOCKS = CompiledInsert(Clock)


def start(
    complaint, kinds, at: datetime | None = None, *, new: bool = False, clocks=None
) -> list[Clock]:
    """Start (or restart, as a new cycle) the clocks ``kinds`` that a policy or profile sets.

    ``new``: the complaint was created in this transaction, so it has no clocks to restart
    and its first ones go in with one INSERT. ``clocks``: the complaint's clocks of (at
    least) ``kinds``, read already (``_stop_then_start``).
    """
    if not kinds:
        return []  # most transitions start nothing: no policy to match
    at = at or timezone.now()
    plans = plan_clocks(complaint, kinds, at)
    if not plans:
        return []
    if new and not complaint.awaiting_customer:
        started = [Clock(complaint=complaint, kind=plan.kind) for plan in plans]
        for clock, plan in zip(started, plans, strict=True):
            _apply_plan(clock, plan, at)
        return _NEW_CLOCKS.bulk_create(started)
    kinds_planned = {plan.kind for plan in plans}
    if clocks is None:
        clocks = Clock.objects.filter(complaint=complaint, kind__in=kinds_planned)
    existing = {(c.kind, c.statutory): c for c in clocks if c.kind in kinds_planned}
    started = []
    for plan in plans:
        clock = existing.get(plan.key)
        if clock is None:
            clock = Clock(complaint=complaint, kind=plan.kind)
        else:
            clock.cycle += 1
        _apply_plan(clock, plan, at)
        clock.save()
        started.append(clock)
    if complaint.awaiting_customer:
        pause(complaint, at, only=[c.pk for c in started])
    return started


def stop(
    complaint, kinds, at: datetime | None = None, *, cancel: bool = False, clocks=None
) -> list[Clock]:
    """Stop running/paused clocks: *met* if in time, *breached* if late, or *cancelled*.

    A clock already breached keeps that state and records when it was finally answered,
    which also stops its ladder. ``clocks``: the complaint's clocks of (at least) ``kinds``,
    read ``FOR UPDATE`` already (``_stop_then_start``).
    """
    at = at or timezone.now()
    if clocks is None:
        # Locked: a sweeper that claimed one of these rows first (to breach or escalate it)
        # is waited for, so its breach and level are read here rather than written over; one
        # that comes after skips the locked row and then finds it stopped.
        clocks = Clock.objects.select_for_update().filter(
            complaint=complaint, kind__in=kinds, stopped_at__isnull=True
        )
    unstopped = [clock for clock in clocks if clock.kind in kinds and clock.stopped_at is None]
    return [clock for clock in unstopped if stop_clock(clock, at, cancel=cancel)]


def _stop_then_start(
    complaint, stops, starts, at: datetime, *, cancel: bool = False, clocks=None
) -> None:
    """``stop`` the clocks ``stops``, then ``start`` the clocks ``starts``: when there are
    both, with one read of the clocks of both kinds, locked as ``stop`` locks its own
    (``clocks``, when the caller read them so already)."""
    if clocks is None and stops and starts:
        clocks = list(
            Clock.objects.select_for_update().filter(
                complaint=complaint, kind__in={*stops, *starts}
            )
        )
    stop(complaint, stops, at, cancel=cancel, clocks=clocks)
    start(complaint, starts, at, clocks=clocks)


def stop_clock(clock: Clock, at: datetime, *, cancel: bool = False) -> bool:
    """Stop one clock (read ``FOR UPDATE``); False if it was stopped already."""
    late = False
    if clock.state == ClockState.BREACHED:
        pass
    elif clock.state == ClockState.PAUSED:
        _accumulate_pause(clock, at)
        clock.state = ClockState.CANCELLED if cancel else ClockState.MET
    elif clock.state == ClockState.RUNNING:
        if cancel:
            clock.state = ClockState.CANCELLED
        elif clock.due_at is not None and at > clock.due_at:
            # Answered late before the sweeper saw the breach: still a breach, and on the
            # timeline like any other (nobody is escalated to: it is answered).
            clock.state = ClockState.BREACHED
            clock.breached_at = clock.due_at
            late = True
        else:
            clock.state = ClockState.MET
    else:
        return False
    clock.stopped_at = at
    clock.next_escalation_at = None
    clock.save()
    if late:
        record_many([events.clock_breached(clock, (), answered_late=True)])
    return True


def _accumulate_pause(clock: Clock, at: datetime) -> None:
    if clock.paused_at is None:
        return
    calendar = clock_calendar(clock, clock.paused_at, at)
    clock.paused_seconds += max(
        deadlines.between(clock.paused_at, at, basis=clock.basis, calendar=calendar), 0
    )
    clock.paused_at = None


def pause(complaint, at: datetime | None = None, *, only=None) -> list[Clock]:
    """Pause pausable running clocks, keeping the time they have left.

    A clock already past its deadline is not paused: it was missed, and a pause must not
    move a missed deadline to when the pause ends. It keeps running, so the sweeper breaches
    it at its deadline, as if the sweep had come before the pause.
    """
    at = at or timezone.now()
    clocks = Clock.objects.filter(
        complaint=complaint, state=ClockState.RUNNING, pausable=True
    ).exclude(due_at__lte=at)
    if only is not None:
        clocks = clocks.filter(pk__in=only)
    paused = []
    for clock in clocks:
        calendar = clock_calendar(clock, at, clock.due_at)
        clock.seconds_left_when_paused = max(
            deadlines.between(at, clock.due_at, basis=clock.basis, calendar=calendar), 0
        )
        clock.seconds_to_warn_when_paused = (
            max(deadlines.between(at, clock.warn_at, basis=clock.basis, calendar=calendar), 0)
            if clock.warn_at is not None and clock.warned_at is None
            else None
        )
        clock.state = ClockState.PAUSED
        clock.paused_at = at
        clock.save()
        paused.append(clock)
    return paused


def resume(complaint, at: datetime | None = None) -> list[Clock]:
    """Resume paused clocks: the deadline moves by exactly the (business) time paused."""
    at = at or timezone.now()
    resumed = []
    for clock in Clock.objects.filter(complaint=complaint, state=ClockState.PAUSED):
        calendar = clock_calendar(clock, at)
        _accumulate_pause(clock, at)
        clock.due_at = deadlines.add(
            at, clock.seconds_left_when_paused or 0, basis=clock.basis, calendar=calendar
        )
        if clock.seconds_to_warn_when_paused is not None:
            clock.warn_at = deadlines.add(
                at, clock.seconds_to_warn_when_paused, basis=clock.basis, calendar=calendar
            )
        clock.seconds_left_when_paused = clock.seconds_to_warn_when_paused = None
        clock.state = ClockState.RUNNING
        clock.save()
        resumed.append(clock)
    return resumed


def business_seconds_since_received(
    complaint, kind: str, at: datetime, *, clocks: list[Clock] | None = None
) -> int | None:
    """How long, on the calendar of the complaint's ``kind`` clock, from receipt to ``at``.

    Fixed on the complaint at acknowledgement and resolution, so the KPIs aggregate a column.
    Time spent awaiting the customer is included: it is the time the customer waited.
    ``clocks``: the complaint's clocks of (at least) ``kind``, read already
    (``clocks_for_transition``).
    """
    # The firm's own calendar where it has an internal target, else the statutory one.
    if clocks is not None:
        of_kind = sorted((c for c in clocks if c.kind == kind), key=lambda c: c.regulatory_profile)
        clock = of_kind[0] if of_kind else None
    else:
        clock = (
            Clock.objects.filter(complaint=complaint, kind=kind)
            .select_related("calendar")
            .only("basis", "regulatory_profile", "jurisdiction", "calendar")
            .order_by("regulatory_profile")
            .first()
        )
    if clock is None:
        return None
    start = complaint.received_at
    calendar = clock_calendar(clock, start, at)
    return max(int(deadlines.between(start, at, basis=clock.basis, calendar=calendar)), 0)


def received_clocks(complaint, at: datetime | None = None) -> list[Clock] | None:
    """A new complaint's first clocks, planned before its row is written: returned unsaved,
    with the complaint's SLA snapshot set on the instance as they make it, so that the row
    goes in with its deadlines and urgency and no UPDATE follows (``on_received(planned=)``
    then inserts the clocks). None where the clocks cannot start as planned (a complaint
    that waits for its customer pauses them): ``on_received`` then does it all after."""
    if complaint.awaiting_customer:
        return None
    at = at or complaint.received_at
    planned = []
    for plan in plan_clocks(complaint, STARTS["received"], at):
        clock = Clock(kind=plan.kind)
        _apply_plan(clock, plan, at)
        planned.append(clock)
    for name, value in snapshot.snapshot_of_new_clocks(planned, timezone.now()).items():
        setattr(complaint, name, value)
    return planned


def on_received(
    complaint, at: datetime | None = None, *, planned: list[Clock] | None = None
) -> list[Clock]:
    """A new complaint: start its first clocks; returns them as written. ``planned``: as
    ``received_clocks`` planned them before the complaint's row, with its snapshot, was
    written."""
    if planned is not None:
        for clock in planned:
            clock.complaint = complaint
        return _NEW_CLOCKS.bulk_create(planned) if planned else []
    started = start(complaint, STARTS["received"], at or complaint.received_at, new=True)
    snapshot.complaint_refresh_sla(complaint)
    return started


def _moves(transition: str) -> tuple[tuple, tuple, bool]:
    """(the clocks ``transition`` stops, those it starts, whether it cancels those it stops)."""
    if transition == "withdraw":
        return tuple(ClockKind.values), (), True
    if transition == "reopen":
        # A reopened complaint is worked again: a new resolve cycle from now (and updates
        # owed while it is worked), and the loop-closing clock waits for the next resolution.
        return (ClockKind.CLOSE_LOOP,), (ClockKind.RESOLVE, ClockKind.CUSTOMER_UPDATE), True
    return STOPS.get(transition, ()), STARTS.get(transition, ()), False


def clocks_for_transition(complaint, transition: str) -> list[Clock]:
    """The complaint's clocks of the kinds ``transition`` stops or starts, with their
    calendars, locked as ``stop`` locks them (the clock rows only): a transition reads them
    once, before it writes, and hands them to ``business_seconds_since_received`` and
    ``on_transition``, which then read none."""
    stops, starts, _cancel = _moves(transition)
    return list(
        Clock.objects.select_for_update(of=("self",))
        .select_related("calendar")
        .filter(complaint=complaint, kind__in={*stops, *starts})
    )


def on_transition(
    complaint, transition: str, at: datetime | None = None, *, clocks: list[Clock] | None = None
) -> None:
    """Move the clocks with a lifecycle transition, inside its transaction. ``clocks``: as
    ``clocks_for_transition`` read them in this transaction."""
    at = at or timezone.now()
    stops, starts, cancel = _moves(transition)
    _stop_then_start(complaint, stops, starts, at, cancel=cancel, clocks=clocks)
    snapshot.complaint_refresh_sla(complaint)


def on_message(
    complaint, *, inbound: bool, at: datetime | None = None, message=None, actor=None
) -> None:
    """A customer message starts the respond clock. A message to the customer (``message``,
    sent by ``actor``) answers it and the update obligation, which starts again from it; a
    statutory obligation it answered is recorded on the timeline."""
    if not complaint.is_open:
        return
    if inbound:
        # The wait runs from the first unanswered message: a customer who chases must not
        # push their own deadline back, nor restart a ladder that is already climbing.
        waiting = Clock.objects.filter(
            complaint=complaint, kind=ClockKind.RESPOND, stopped_at__isnull=True
        )
        if not waiting.exists():
            start(complaint, [ClockKind.RESPOND], at)
    else:
        at = at or timezone.now()
        stopped = stop(complaint, ANSWERED_BY_MESSAGE, at)
        answered = [clock for clock in stopped if clock.statutory]
        if message is not None and answered:
            for clock in answered:
                clock.complaint = complaint
            record_many([events.obligation_answered(c, message, actor) for c in answered])
        # Only what this message answered starts again: complaints owed no updates pay
        # nothing for it.
        restarted = {clock.kind for clock in stopped if clock.kind in RESTARTED_BY_MESSAGE}
        if restarted:
            start(complaint, restarted, at)
    snapshot.complaints_refresh_sla([complaint.pk])


def replan_statutory(
    complaint, at: datetime | None = None, *, received_before: datetime | None = None
) -> dict[str, tuple]:
    """Re-plan the statutory clocks after the complaint's profile, jurisdiction, "sent to
    company" time or receipt changed; returns ``{kind: (due before, due after)}`` for the
    timeline. ``received_before``: the receipt time before this change, when it moved (a
    duplicate received earlier was merged into the complaint): a clock that started then
    started at receipt, and counts from the new receipt, not from its own start.

    1. An obligation already met or breached under the same profile is history: it stays
       as it was (a jurisdiction change never erases a breach, nor unmeets a letter). One
       met or breached under another profile is replaced by the new regime's, counted from
       its own start; the timeline keeps what the old one was (its breach events, and this
       change's before and after).
    2. An open one the new regime lacks is cancelled.
    3. An open or missing one the new regime has is planned from its start: receipt (or the
       "sent to company" time), or the start of its current cycle where that is later (a
       reopened complaint, the last update to the customer); a deadline already extended
       stays extended where the new regime has the same extension. A planned obligation
       keeps running into the sweeper, which breaches and escalates it if it is overdue; one
       whose step happened late is breached here, with its timeline event.
    """
    at = at or timezone.now()
    existing = {
        c.kind: c
        for c in Clock.objects.select_for_update()
        .filter(complaint=complaint)
        .exclude(regulatory_profile="")
    }
    open_clocks = {k: c for k, c in existing.items() if c.state in OPEN_CLOCK_STATES}
    profile = regulatory.get_profile(complaint.regulatory_profile)
    extended_rules = {d.citation for d in profile.extended_deadlines} if profile else set()
    planned = {
        o.kind: o
        for o in obligations_from_record.plan_from_record(
            complaint,
            at,
            restarted={
                k: c.started_at
                for k, c in open_clocks.items()
                if c.started_at > (received_before or complaint.received_at)
            },
            extended={k for k, c in open_clocks.items() if c.rule in extended_rules},
        )
    }
    changes: dict[str, tuple] = {}
    for kind, clock in open_clocks.items():
        if kind in planned:
            continue
        changes[kind] = (clock.due_at, None)
        clock.state = ClockState.CANCELLED
        clock.stopped_at = at
        clock.next_escalation_at = None
        clock.save()
    ladder = None
    breached = []
    for kind, obligation in planned.items():
        clock = existing.get(kind)
        if (
            clock is not None
            and clock.state in (ClockState.MET, ClockState.BREACHED)
            and clock.regulatory_profile == complaint.regulatory_profile
        ):
            continue
        if clock is None:
            ladder = ladder or _policy_and_ladder(complaint)[1]
            clock = Clock(complaint=complaint, kind=kind, ladder=ladder)
        elif Escalation.objects.filter(clock=clock, clock_cycle=clock.cycle).exists():
            # The ladder fires once per clock, cycle and level: a deadline it already
            # climbed for is replaced in a new cycle, so it can fire for the new one.
            clock.cycle += 1
        before = clock.due_at
        for name, value in obligation.fields.items():
            setattr(clock, name, value)
        clock.retry_after, clock.failures = None, 0
        clock.save()
        changes[kind] = (before, clock.due_at)
        if clock.state == ClockState.BREACHED:
            breached.append(events.clock_breached(clock, ()))
    if breached:
        record_many(breached)
    snapshot.complaints_refresh_sla([complaint.pk])
    return changes


def replan_internal(complaint, at: datetime | None = None) -> dict[str, tuple]:
    """Re-plan the internal targets after a fact the SLA policies match on changed (the
    category); returns ``{kind: (due before, due after)}`` for the timeline.

    Statutory clocks are not read: an obligation comes from the law, not from our policy,
    and no change of ours moves it (docs/architecture.md, "statutory beside internal").

    1. The open internal clocks are locked, as ``stop`` locks them, so that a sweeper
       claiming one waits or skips it. A met, breached or cancelled clock is history and
       stays as it was.
    2. Each open one takes the target of its kind in the policy the complaint matches now,
       counted from the clock's own start (the start of its current cycle), with the time
       it has spent paused added back, as ``resume`` adds it.
    3. A paused clock keeps its pause: what it has left is the new target less what it had
       used of the old one when it was paused, and ``resume`` counts from that.
    4. A running clock whose new deadline has passed keeps running into the sweeper, which
       breaches it on its next tick; a warning not yet due is given again for the new
       deadline.
    5. An open clock whose kind the new policy has no target for is cancelled.
    """
    at = at or timezone.now()
    open_clocks = list(
        Clock.objects.select_for_update(of=("self",))
        .select_related("calendar")
        .filter(complaint=complaint, regulatory_profile="", state__in=OPEN_CLOCK_STATES)
        .order_by("kind")
    )
    if not open_clocks:
        return {}
    policy, ladder = _policy_and_ladder(complaint)
    targets = {target.clock: target for target in policy.targets.all()} if policy else {}
    changes: dict[str, tuple] = {}
    for clock in open_clocks:
        before = clock.due_at
        target = targets.get(clock.kind)
        if target is None:
            stop_clock(clock, at, cancel=True)
            changes[clock.kind] = (before, None)
            continue
        if Escalation.objects.filter(clock=clock, clock_cycle=clock.cycle).exists():
            # As in ``replan_statutory``: the ladder fires once per clock, cycle and level.
            clock.cycle += 1
            clock.escalation_level = 0
            clock.next_escalation_at = None
        _retarget_internal(clock, target, policy, ladder, at)
        clock.save()
        changes[clock.kind] = (before, clock.due_at)
    return changes


def _retarget_internal(clock: Clock, target, policy, ladder, at: datetime) -> None:
    """``clock`` (open, internal) counted afresh to ``target`` of ``policy``."""
    calendar = pure_calendar(policy.calendar, "", clock.started_at, at)
    offset = deadlines.warning_offset(
        target.seconds, percent=target.warn_at_percent, before=target.warn_seconds_before
    )
    if clock.state == ClockState.PAUSED:
        used = max(clock.target_seconds - (clock.seconds_left_when_paused or 0), 0)
        left = max(target.seconds - used, 0)
        clock.seconds_left_when_paused = left
        if offset is None:
            clock.seconds_to_warn_when_paused = None
        elif offset > used:
            clock.seconds_to_warn_when_paused = offset - used
            clock.warned_at = None
        else:
            # Warned already for this much used time, or due to be on resuming.
            clock.seconds_to_warn_when_paused = None if clock.warned_at else 0
        # What the deadline was when it paused, as ``pause`` left it: ``resume`` moves it.
        paused_at = clock.paused_at or at
        clock.due_at = deadlines.add(paused_at, left, basis=target.basis, calendar=calendar)
        clock.warn_at = (
            deadlines.add(
                paused_at,
                clock.seconds_to_warn_when_paused,
                basis=target.basis,
                calendar=calendar,
            )
            if clock.seconds_to_warn_when_paused is not None
            else clock.warn_at
        )
    else:
        counted = target.seconds + clock.paused_seconds
        clock.due_at = deadlines.add(
            clock.started_at, counted, basis=target.basis, calendar=calendar
        )
        clock.warn_at = (
            deadlines.add(
                clock.started_at,
                offset + clock.paused_seconds,
                basis=target.basis,
                calendar=calendar,
            )
            if offset is not None
            else None
        )
        if clock.warn_at is not None and clock.warn_at > at:
            clock.warned_at = None
    clock.policy = policy
    clock.calendar = policy.calendar
    clock.ladder = ladder
    clock.basis = target.basis
    clock.target_seconds = target.seconds
    clock.pausable = target.pausable
    clock.retry_after = None
    clock.failures = 0


def has_statutory(complaint) -> bool:
    return Clock.objects.filter(complaint=complaint).exclude(regulatory_profile="").exists()


def retarget(clock: Clock, profile, deadline) -> None:
    """Move a statutory clock (read ``FOR UPDATE``) to ``deadline``, counted from its start:
    the extended form of its obligation. Its warning is set afresh for the new deadline."""
    counted = obligations_from_record.count(profile, deadline, clock.started_at, clock.jurisdiction)
    clock.due_at = counted.due_at
    clock.rule = deadline.citation
    clock.basis = counted.basis
    clock.target_seconds = round(counted.seconds)
    clock.warn_at = deadlines.add(
        clock.started_at,
        counted.seconds * obligations_from_record.WARN_AT_PERCENT / 100,
        basis=counted.basis,
        calendar=counted.calendar,
    )
    clock.warned_at = None
    clock.save()
