"""The sweeper: warn, breach and climb the ladder for due clocks, exactly once.

``sweep`` first asks, in one query, whether any phase has a due row (most ticks find none).
If so it runs three phases — warnings, breaches, next ladder levels — each as follows:
1. Read up to ``BATCH_SIZE`` ids of due clocks through the phase's partial index (no lock),
   so the cost follows the number of due rows, not the number of open complaints.
2. Claim them in one transaction: ``SELECT … WHERE id IN (…) AND <still due> FOR UPDATE SKIP
   LOCKED``. A row another sweeper holds is skipped; a row another sweeper already handled no
   longer matches. Claiming, not scheduling, is what makes each step happen once.
3. Handle the claimed rows together in that transaction: update the clocks, insert
   escalations, timeline events and outbox rows, refresh the complaints' SLA fields.
4. If the batch raises, it is rolled back and its rows are retried one transaction each; a
   row that still raises is logged and pushed back (``retry_after``) so it cannot crash-loop
   the sweep.
5. Repeat while full batches keep coming, up to ``MAX_ROWS_PER_SWEEP`` rows.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from common import bulk_writes
from escalation import deadlines, events
from escalation.models import BusinessCalendar, Clock, ClockState, Escalation, EscalationLadder
from escalation.services import snapshot
from escalation.services.clocks import pure_calendar
from escalation.services.ladder import ladder_levels, owners_for
from recovery.events import EventEntry, record_many
from recovery.services import sla

logger = logging.getLogger(__name__)

# Rows claimed per transaction: big enough that per-statement overhead is shared by many
# rows, small enough that a batch holds its row locks for well under a second.
BATCH_SIZE = 500
# A tick handles at most this many rows; the next tick (30 s later by default) goes on.
MAX_ROWS_PER_SWEEP = 50_000
# How long a clock whose handling raised is left alone before it is tried again.
RETRY_BACKOFF = timedelta(minutes=5)


@dataclass
class SweepResult:
    warned: int = 0
    breached: int = 0
    escalated: int = 0
    failed: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _PlannedEscalation:
    """An automatic escalation to insert: what ``events.escalated`` and the write need.

    Inserted as a plain row, not a model instance (instances were a third of a sweep's CPU).
    """

    complaint: object
    clock: Clock
    level: int
    previous_level: int
    target: str
    owner_id: int | None
    reason: str
    manual: bool = False

    @property
    def complaint_id(self) -> int:
        return self.complaint.pk

    @property
    def clock_id(self) -> int:
        return self.clock.pk

    def row(self) -> dict:
        return {
            "complaint_id": self.complaint.pk,
            "clock_id": self.clock.pk,
            "clock_cycle": self.clock.cycle,
            "level": self.level,
            "previous_level": self.previous_level,
            "target": self.target,
            "owner_id": self.owner_id,
            "manual": self.manual,
            "reason": self.reason,
        }


@dataclass
class _Batch:
    """What handling a batch of clocks writes, collected so it can be written in bulk."""

    now: datetime
    result: SweepResult
    clocks: list[Clock] = field(default_factory=list)
    escalations: list[_PlannedEscalation] = field(default_factory=list)
    entries: list[EventEntry] = field(default_factory=list)
    # Per-batch caches: a batch's clocks share a handful of teams, ladders and calendars, so
    # each is read (and each next-level deadline computed) once per batch, not once per row.
    # Ladders and calendars are looked up by id rather than joined into the claiming query,
    # which would build two more model instances per row.
    owners: dict = field(default_factory=dict)
    calendars: dict = field(default_factory=dict)
    levels: dict = field(default_factory=dict)
    deadlines: dict = field(default_factory=dict)

    def owners_of(self, complaint, target: str) -> list[int]:
        key = (complaint.team_id, target)
        if key not in self.owners:
            self.owners[key] = owners_for(complaint, target)
        return self.owners[key]

    def levels_of(self, clock: Clock) -> dict:
        if clock.ladder_id not in self.levels:
            ladder = EscalationLadder.objects.filter(pk=clock.ladder_id).first()
            self.levels[clock.ladder_id] = ladder_levels(ladder)
        return self.levels[clock.ladder_id]

    def calendar_of(self, clock: Clock):
        key = (clock.calendar_id, clock.regulatory_profile, clock.jurisdiction)
        if key not in self.calendars:
            # Statutory clocks have no calendar row: their profile gives the calendar.
            row = (
                BusinessCalendar.objects.filter(pk=clock.calendar_id).first()
                if clock.calendar_id
                else None
            )
            self.calendars[key] = pure_calendar(
                row, clock.regulatory_profile, self.now, region=clock.jurisdiction
            )
        return self.calendars[key]

    def business_seconds_from_now(self, clock: Clock, seconds: int) -> datetime:
        key = (clock.calendar_id, clock.regulatory_profile, clock.jurisdiction, seconds)
        if key not in self.deadlines:
            self.deadlines[key] = deadlines.add(
                self.now, seconds, basis="business", calendar=self.calendar_of(clock)
            )
        return self.deadlines[key]


def _not_backing_off(now: datetime) -> Q:
    return Q(retry_after__isnull=True) | Q(retry_after__lte=now)


def _due_warnings(now: datetime) -> QuerySet[Clock]:
    return Clock.objects.filter(
        _not_backing_off(now), state=ClockState.RUNNING, warned_at__isnull=True, warn_at__lte=now
    ).order_by("warn_at")


def _due_breaches(now: datetime) -> QuerySet[Clock]:
    return Clock.objects.filter(
        _not_backing_off(now), state=ClockState.RUNNING, due_at__lte=now
    ).order_by("due_at")


def _due_climbs(now: datetime) -> QuerySet[Clock]:
    return Clock.objects.filter(
        _not_backing_off(now),
        state=ClockState.BREACHED,
        stopped_at__isnull=True,
        next_escalation_at__lte=now,
    ).order_by("next_escalation_at")


def _warn(clock: Clock, batch: _Batch) -> None:
    clock.warned_at = batch.now
    # The breaches phase of this sweep takes the clock next, and its breach is what is told.
    overtaken = clock.due_at <= batch.now
    batch.entries.append(events.clock_warning(clock, (), overtaken=overtaken))
    batch.result.warned += 1


def _breach(clock: Clock, batch: _Batch) -> None:
    clock.state = ClockState.BREACHED
    clock.breached_at = clock.due_at
    levels = batch.levels_of(clock) if clock.escalates else {}
    first = levels.get(1)
    owners = batch.owners_of(clock.complaint, first.target) if first else []
    batch.entries.append(events.clock_breached(clock, owners, escalates=first is not None))
    batch.result.breached += 1
    if first is not None:
        _escalate(clock, first, levels, batch, reason=f"{events.clock_label(clock)} breached")


def _climb(clock: Clock, batch: _Batch) -> None:
    levels = batch.levels_of(clock)
    level = levels.get(clock.escalation_level + 1)
    if level is None:
        clock.next_escalation_at = None
        return
    _escalate(clock, level, levels, batch, reason=f"{events.clock_label(clock)} still unmet")


def _escalate(clock: Clock, level, levels: dict, batch: _Batch, *, reason: str) -> None:
    owners = batch.owners_of(clock.complaint, level.target)
    batch.escalations.append(
        _PlannedEscalation(
            complaint=clock.complaint,
            clock=clock,
            level=level.level,
            previous_level=clock.escalation_level,
            target=level.target,
            owner_id=owners[0] if owners else None,
            reason=reason,
        )
    )
    clock.escalation_level = level.level
    has_next = level.level + 1 in levels and level.seconds_to_next is not None
    clock.next_escalation_at = (
        batch.business_seconds_from_now(clock, level.seconds_to_next) if has_next else None
    )
    batch.result.escalated += 1


_FIELDS = ["state", "warned_at", "breached_at", "escalation_level", "next_escalation_at"]


def _write(batch: _Batch) -> None:
    bulk_writes.update_many(Clock, batch.clocks, _FIELDS)
    escalations = batch.escalations
    bulk_writes.insert_rows(Escalation, [escalation.row() for escalation in escalations])
    batch.entries.extend(events.escalated(escalation) for escalation in escalations)
    record_many(batch.entries)
    raised: dict[int, int] = {}
    for escalation in escalations:
        raised[escalation.complaint_id] = max(
            escalation.level, raised.get(escalation.complaint_id, 0)
        )
    snapshot.complaints_refresh_sla(
        {clock.complaint_id for clock in batch.clocks}, raise_levels=raised
    )
    for escalation in escalations:
        level = batch.levels_of(escalation.clock).get(escalation.level)
        if level is not None and level.reassign and escalation.owner_id:
            # The escalation event told the new owner and the team already.
            sla.complaint_assign(
                complaint=escalation.complaint,
                assignee=get_user_model().objects.get(pk=escalation.owner_id),
                reason=f"Escalated to level {escalation.level}",
                notify_staff=False,
            )


Phase = tuple[Callable[[datetime], QuerySet[Clock]], Callable[[Clock, _Batch], None]]
PHASES: tuple[Phase, ...] = (
    (_due_warnings, _warn),
    (_due_breaches, _breach),
    (_due_climbs, _climb),
)


# What escalating needs of the complaint: its timeline payload (reference, state) and who is
# told (team, assignee, customer). Loading only these matters: a batch would otherwise read
# 500 descriptions of up to 50,000 characters and parse a dozen timestamps per row.
_COMPLAINT_FIELDS_USED = ("id", "reference", "state", "team", "assignee", "customer")


# Clock fields the handlers never read (they only filter in SQL or belong to pausing).
_CLOCK_FIELDS_UNUSED = (
    "policy",
    "target_seconds",
    "pausable",
    "started_at",
    "warn_at",
    "stopped_at",
    "paused_at",
    "seconds_left_when_paused",
    "seconds_to_warn_when_paused",
    "paused_seconds",
    "retry_after",
    "failures",
)


def _unused_complaint_fields() -> list[str]:
    from recovery.models import Complaint

    return [
        f"complaint__{field.name}"
        for field in Complaint._meta.concrete_fields
        if field.name not in _COMPLAINT_FIELDS_USED
    ]


def _claim_and_handle(
    select, handle, now: datetime, result: SweepResult, *, limit: int, ids=None, claimed_ids=None
) -> int:
    """Steps 1-3: claim up to ``limit`` due rows (or the given ``ids``) and handle them.

    Returns how many rows it claimed; ``claimed_ids`` receives their ids before handling
    starts, so that a batch that raises can be retried row by row.
    """
    batch = _Batch(now=now, result=SweepResult())
    with transaction.atomic():
        due = select(now)
        due = due.filter(pk__in=ids) if ids is not None else due[:limit]
        claimed = list(
            due.select_related("complaint")
            .defer(*_CLOCK_FIELDS_UNUSED, *_unused_complaint_fields())
            .select_for_update(skip_locked=True, of=("self",))
        )
        if claimed_ids is not None:
            claimed_ids.extend(clock.pk for clock in claimed)
        for clock in claimed:
            handle(clock, batch)
            batch.clocks.append(clock)
        if claimed:
            _write(batch)
    for name, value in batch.result.as_dict().items():
        setattr(result, name, getattr(result, name) + value)
    return len(claimed)


def _run_phase(select, handle, now: datetime, result: SweepResult, budget: int) -> int:
    handled = 0
    while handled < budget:
        limit = min(BATCH_SIZE, budget - handled)
        attempted: list[int] = []
        try:
            claimed = _claim_and_handle(
                select, handle, now, result, limit=limit, claimed_ids=attempted
            )
        except Exception:
            logger.exception(
                "Sweep batch failed; retrying its %d clocks one by one.", len(attempted)
            )
            claimed = _one_by_one(select, handle, attempted, now, result)
        handled += claimed
        if claimed < limit:
            # Nothing more is due, or what is left is held by another sweeper (which will
            # handle it): either way this phase is done here.
            break
    return handled


def _one_by_one(select, handle, ids, now: datetime, result: SweepResult) -> int:
    claimed = 0
    for pk in ids:
        try:
            claimed += _claim_and_handle(select, handle, now, result, limit=1, ids=[pk])
        except Exception:
            logger.exception("Clock %s could not be handled; retrying after %s.", pk, RETRY_BACKOFF)
            Clock.objects.filter(pk=pk).update(
                retry_after=now + RETRY_BACKOFF, failures=F("failures") + 1
            )
            result.failed += 1
            claimed += 1
    return claimed


def _anything_due(now: datetime) -> bool:
    """One round trip that asks every phase's partial index for a single due row.

    Most ticks find nothing; this makes such a tick one indexed query instead of one per
    phase (three queries to plan, send and wait for), which keeps it to a few milliseconds.
    """
    probes = [select(now).values_list("pk", flat=True)[:1] for select, _ in PHASES]
    if not connection.features.supports_slicing_ordering_in_compound:
        # SQLite (the embedded mode) cannot put LIMIT in a UNION's parts: ask one by one.
        return any(probe.exists() for probe in probes)
    first, *others = probes
    return bool(list(first.union(*others, all=True)))


def sweep(now: datetime | None = None, *, max_rows: int = MAX_ROWS_PER_SWEEP) -> SweepResult:
    """Warn, breach and escalate every clock due at ``now``; safe to run concurrently."""
    now = now or timezone.now()
    result = SweepResult()
    if not _anything_due(now):
        return result
    budget = max_rows
    for select, handle in PHASES:
        budget -= _run_phase(select, handle, now, result, budget)
        if budget <= 0:
            break
    return result
