"""Warnings, breaches and the escalation ladder, driven by the sweeper at chosen instants.

The complaint is received on Monday 2 March 2026 at 10:00 UTC under the "Standard" policy
(Office hours, UTC, Mon-Fri 09:00-17:00) and assigned to ``agent``; its acknowledge clock
warns at 80 % (Monday 16:24) and is due Tuesday 3 March 10:00. The default ladder is
L1 team supervisor, +4 business hours L2 complaints manager, +8 business hours L3 head of
customer experience, and nothing after. The resolve clock (warning Friday 6th) never
falls due in these tests.

Personas: ``agent`` works ``team``; ``supervisor`` supervises ``team``; ``manager`` is the
complaints manager; ``head_of_cx`` the head of customer experience; ``customer_user`` owns
the complaint and ``other_customer_user`` does not.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from common.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from escalation import events as escalation_events
from escalation.models import Clock, ClockState, Escalation, EscalationLadder, EscalationLevel
from escalation.services import ladder, sweeper
from escalation.services.sweeper import RETRY_BACKOFF, sweep
from notifications.models import Outbox
from recovery import roles
from recovery.models import Complaint, ComplaintEvent, EventType
from recovery.services import lifecycle, messages, sla
from tests.conftest import acknowledge
from tests.factories import UserFactory

# Backend-independent: ./redress test runs this file on SQLite (the embedded mode) too.
pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


WARN_AT = utc(2, 16, 24)
DUE_AT = utc(3, 10)
L2_AT = utc(3, 14)  # Tuesday 10:00 + 4 business hours
L3_AT = utc(4, 14)  # Tuesday 14:00 + 8 business hours (14-17, then Wednesday 09-14)


@pytest.fixture
def head_of_cx(groups):
    user = UserFactory(username="head_of_cx")
    user.groups.add(groups[roles.HEAD_OF_CX])
    return user


@pytest.fixture
def everyone(agent, supervisor, manager, head_of_cx):
    """All the rungs of the ladder exist."""


@pytest.fixture
def complaint(make_complaint, agent, time_machine):
    time_machine.move_to(utc(2, 10), tick=False)
    made = make_complaint()
    return sla.complaint_assign(complaint=made, assignee=agent)


@pytest.fixture
def sweep_at(time_machine):
    def run(instant: datetime) -> sweeper.SweepResult:
        time_machine.move_to(instant, tick=False)
        return sweep(instant)

    return run


def ack_clock(complaint) -> Clock:
    return Clock.objects.get(complaint=complaint, kind="acknowledge")


def events_of(complaint, event_type: str):
    return ComplaintEvent.objects.filter(complaint=complaint, type=event_type)


def outbox_of(complaint, event_type: str):
    return Outbox.objects.filter(complaint_id=complaint.pk, event_type=f"complaint.{event_type}")


def escalations_of(complaint) -> list[tuple[int, str, str | None]]:
    return [
        (e.level, e.target, e.owner.username if e.owner else None)
        for e in Escalation.objects.filter(complaint=complaint).select_related("owner")
    ]


# --- warning ----------------------------------------------------------------------------------


def test_warning_at_80_percent_notifies_the_assignee_once(complaint, agent, sweep_at):
    assert sweep_at(WARN_AT - timedelta(seconds=1)).warned == 0
    assert not events_of(complaint, EventType.CLOCK_WARNING).exists()

    result = sweep_at(WARN_AT)
    assert (result.warned, result.breached, result.escalated) == (1, 0, 0)
    clock = ack_clock(complaint)
    assert (clock.state, clock.warned_at) == (ClockState.RUNNING, WARN_AT)

    warning = events_of(complaint, EventType.CLOCK_WARNING).get()
    assert warning.parameters == {
        "clock": "acknowledge",
        "due_at": DUE_AT.isoformat(),
        "cycle": 1,
        "statutory": False,
        "regulatory_profile": "",
        "rule": "",
    }
    told = outbox_of(complaint, EventType.CLOCK_WARNING).get()
    assert agent.pk in told.audience["users"]
    # A warning is internal: the customer is not told their complaint is at risk.
    assert told.audience["customer"] is None

    assert sweep_at(WARN_AT + timedelta(minutes=1)).warned == 0
    assert events_of(complaint, EventType.CLOCK_WARNING).count() == 1


# --- breach and the ladder --------------------------------------------------------------------


def test_breach_escalates_to_the_team_supervisor(complaint, agent, supervisor, everyone, sweep_at):
    assert sweep_at(DUE_AT - timedelta(seconds=1)).breached == 0

    result = sweep_at(DUE_AT)
    assert (result.breached, result.escalated) == (1, 1)
    clock = ack_clock(complaint)
    assert (clock.state, clock.breached_at, clock.stopped_at) == (
        ClockState.BREACHED,
        DUE_AT,
        None,
    )
    assert (clock.escalation_level, clock.next_escalation_at) == (1, L2_AT)

    escalation = Escalation.objects.get(complaint=complaint)
    assert (escalation.level, escalation.previous_level, escalation.target) == (
        1,
        0,
        "team_supervisor",
    )
    assert (escalation.owner, escalation.clock, escalation.clock_cycle) == (supervisor, clock, 1)
    assert escalation.manual is False and escalation.actor is None
    assert escalation.reason

    # The breach is on the timeline, but told to staff only through the escalation it caused
    # (one notification per escalation, not two).
    breached = outbox_of(complaint, EventType.CLOCK_BREACHED).get()
    assert breached.audience == {"teams": [], "users": [], "customer": None}
    escalated_event = events_of(complaint, EventType.ESCALATED).get()
    assert escalated_event.parameters["level"] == 1
    assert escalated_event.parameters["owner_id"] == supervisor.pk
    assert escalated_event.parameters["clock"] == "acknowledge"
    escalated = outbox_of(complaint, EventType.ESCALATED).get()
    assert {agent.pk, supervisor.pk} <= set(escalated.audience["users"])
    assert escalated.audience["teams"] == [complaint.team_id]
    assert escalated.payload["timeline_event_id"] == escalated_event.pk

    complaint.refresh_from_db()
    assert (complaint.escalation_level, complaint.next_escalation_at) == (1, L2_AT)


def test_the_ladder_climbs_to_the_manager_then_the_head_of_cx_and_stops(
    complaint, everyone, sweep_at
):
    sweep_at(DUE_AT)
    assert sweep_at(L2_AT - timedelta(seconds=1)).escalated == 0

    assert sweep_at(L2_AT).escalated == 1
    clock = ack_clock(complaint)
    assert (clock.escalation_level, clock.next_escalation_at) == (2, L3_AT)
    complaint.refresh_from_db()
    assert (complaint.escalation_level, complaint.next_escalation_at) == (2, L3_AT)

    assert sweep_at(L3_AT - timedelta(seconds=1)).escalated == 0
    assert sweep_at(L3_AT).escalated == 1
    clock.refresh_from_db()
    assert (clock.escalation_level, clock.next_escalation_at) == (3, None)

    # There is no fourth level: later sweeps leave the complaint alone.
    assert sweep_at(utc(5, 12)).escalated == 0
    assert escalations_of(complaint) == [
        (1, "team_supervisor", "supervisor"),
        (2, "complaints_manager", "manager"),
        (3, "head_of_cx", "head_of_cx"),
    ]
    assert [e.parameters["previous_level"] for e in events_of(complaint, EventType.ESCALATED)] == [
        0,
        1,
        2,
    ]
    complaint.refresh_from_db()
    assert (complaint.escalation_level, complaint.next_escalation_at) == (3, None)


def test_without_a_team_supervisor_the_manager_takes_level_one(
    make_complaint, other_team, manager, head_of_cx, supervisor, time_machine, sweep_at
):
    time_machine.move_to(utc(2, 10), tick=False)
    on_other_team = make_complaint(routed_to=other_team)  # ``supervisor`` is not on it
    unrouted = make_complaint(routed_to=None)
    sweep_at(DUE_AT)
    assert escalations_of(on_other_team) == [(1, "team_supervisor", "manager")]
    assert escalations_of(unrouted) == [(1, "team_supervisor", "manager")]


def test_without_supervisor_or_manager_the_head_of_cx_takes_level_one(
    make_complaint, other_team, head_of_cx, time_machine, sweep_at
):
    time_machine.move_to(utc(2, 10), tick=False)
    complaint = make_complaint(routed_to=other_team)
    sweep_at(DUE_AT)
    assert escalations_of(complaint) == [(1, "team_supervisor", "head_of_cx")]


def test_an_inactive_supervisor_is_passed_over(complaint, supervisor, manager, sweep_at):
    supervisor.is_active = False
    supervisor.save()
    sweep_at(DUE_AT)
    assert escalations_of(complaint) == [(1, "team_supervisor", "manager")]


def test_answering_the_complaint_stops_the_climb(complaint, agent, everyone, sweep_at):
    sweep_at(DUE_AT)
    sweep_at(utc(3, 11))
    acknowledge(Complaint.objects.get(pk=complaint.pk), agent)

    clock = ack_clock(complaint)
    assert (clock.state, clock.stopped_at, clock.next_escalation_at) == (
        ClockState.BREACHED,
        utc(3, 11),
        None,
    )
    complaint.refresh_from_db()
    assert complaint.next_escalation_at is None
    assert complaint.escalation_level == 1

    assert sweep_at(L2_AT).escalated == 0
    assert sweep_at(L3_AT).escalated == 0
    assert escalations_of(complaint) == [(1, "team_supervisor", "supervisor")]


def test_withdrawing_the_complaint_stops_the_climb(complaint, customer_user, everyone, sweep_at):
    sweep_at(DUE_AT)
    lifecycle.complaint_withdraw(
        complaint=Complaint.objects.get(pk=complaint.pk), actor=customer_user, reason="Gave up."
    )
    assert ack_clock(complaint).stopped_at == DUE_AT
    assert sweep_at(L2_AT).escalated == 0


def test_a_level_that_reassigns_gives_the_complaint_to_its_owner(
    complaint, agent, supervisor, everyone, sweep_at
):
    EscalationLevel.objects.filter(ladder__is_default=True, level=1).update(reassign=True)
    sweep_at(DUE_AT)

    complaint.refresh_from_db()
    assert complaint.assignee == supervisor
    assigned = events_of(complaint, EventType.ASSIGNED).latest("id")
    assert assigned.parameters == {
        "assignee_id": supervisor.pk,
        "previous_id": agent.pk,
        "reason": "Escalated to level 1",
    }
    # Told once, by the escalation: the reassignment it made is on the timeline only.
    told = outbox_of(complaint, EventType.ASSIGNED).latest("id")
    assert told.audience == {"teams": [], "users": [], "customer": None}
    # Level 2 does not reassign: the supervisor keeps it.
    sweep_at(L2_AT)
    complaint.refresh_from_db()
    assert complaint.assignee == supervisor


def test_a_clocks_own_ladder_sets_its_levels_and_times(complaint, manager, head_of_cx, sweep_at):
    fast = EscalationLadder.objects.create(name="Fast")
    EscalationLevel.objects.create(
        ladder=fast, level=1, target="complaints_manager", seconds_to_next=3600
    )
    EscalationLevel.objects.create(ladder=fast, level=2, target="head_of_cx")
    Clock.objects.filter(pk=ack_clock(complaint).pk).update(ladder=fast)

    sweep_at(DUE_AT)
    assert ack_clock(complaint).next_escalation_at == utc(3, 11)
    sweep_at(utc(3, 11))
    assert escalations_of(complaint) == [
        (1, "complaints_manager", "manager"),
        (2, "head_of_cx", "head_of_cx"),
    ]


# --- exactly once -----------------------------------------------------------------------------


def test_sweeping_twice_at_the_same_instant_escalates_once_per_level(complaint, everyone, sweep_at):
    first, second = sweep_at(DUE_AT), sweep_at(DUE_AT)
    assert (first.breached, first.escalated) == (1, 1)
    assert (second.breached, second.escalated) == (0, 0)
    first, second = sweep_at(L2_AT), sweep_at(L2_AT)
    assert (first.escalated, second.escalated) == (1, 0)

    assert [level for level, _, _ in escalations_of(complaint)] == [1, 2]
    assert events_of(complaint, EventType.CLOCK_BREACHED).count() == 1
    assert outbox_of(complaint, EventType.CLOCK_BREACHED).count() == 1
    assert outbox_of(complaint, EventType.ESCALATED).count() == 2


def test_the_database_refuses_a_second_automatic_escalation_to_a_level(complaint, sweep_at):
    sweep_at(DUE_AT)
    first = Escalation.objects.get(complaint=complaint)
    with pytest.raises(IntegrityError), transaction.atomic():
        Escalation.objects.create(
            complaint=complaint,
            clock=first.clock,
            clock_cycle=first.clock_cycle,
            level=1,
            previous_level=0,
            reason="duplicate",
        )


def test_a_new_cycle_may_escalate_the_same_level_again(
    complaint, agent, supervisor, customer_user, everyone, root_causes, sweep_at
):
    """A respond clock breached in one cycle and again in the next escalates twice."""
    sweep_at(utc(2, 11))
    acknowledge(Complaint.objects.get(pk=complaint.pk), agent)

    def customer_writes():
        messages.message_add(
            complaint=Complaint.objects.get(pk=complaint.pk), actor=customer_user, body="Hello?"
        )

    def agent_replies():
        messages.message_add(
            complaint=Complaint.objects.get(pk=complaint.pk), actor=agent, body="Working on it."
        )

    sweep_at(utc(2, 12))
    customer_writes()  # respond due Tuesday 12:00
    sweep_at(utc(3, 12))
    agent_replies()
    sweep_at(utc(3, 13))
    customer_writes()  # cycle 2, due Wednesday 13:00
    sweep_at(utc(4, 13))

    respond = Escalation.objects.filter(complaint=complaint, clock__kind="respond")
    assert [(e.level, e.clock_cycle) for e in respond] == [(1, 1), (1, 2)]


# --- a failing row ----------------------------------------------------------------------------


def test_a_clock_whose_handling_raises_is_pushed_back_and_does_not_stop_the_others(
    make_complaint, supervisor, everyone, time_machine, sweep_at, monkeypatch
):
    time_machine.move_to(utc(2, 10), tick=False)
    healthy, broken = make_complaint(), make_complaint()
    broken_clock = ack_clock(broken)
    real_clock_breached = escalation_events.clock_breached

    def clock_breached(clock, notify, **options):
        if clock.pk == broken_clock.pk:
            raise RuntimeError("simulated failure")
        return real_clock_breached(clock, notify, **options)

    monkeypatch.setattr(escalation_events, "clock_breached", clock_breached)
    result = sweep_at(DUE_AT)

    assert (result.breached, result.failed) == (1, 1)
    assert ack_clock(healthy).state == ClockState.BREACHED
    assert escalations_of(healthy) == [(1, "team_supervisor", "supervisor")]
    broken_clock.refresh_from_db()
    assert broken_clock.state == ClockState.RUNNING
    assert (broken_clock.retry_after, broken_clock.failures) == (DUE_AT + RETRY_BACKOFF, 1)
    assert not Escalation.objects.filter(complaint=broken).exists()
    assert not events_of(broken, EventType.CLOCK_BREACHED).exists()

    # Until retry_after the row is left alone, so one bad row cannot crash-loop the sweep.
    assert sweep_at(DUE_AT + timedelta(minutes=1)).as_dict() == sweeper.SweepResult().as_dict()

    monkeypatch.setattr(escalation_events, "clock_breached", real_clock_breached)
    retried = sweep_at(DUE_AT + RETRY_BACKOFF)
    assert (retried.breached, retried.failed) == (1, 0)
    assert ack_clock(broken).state == ClockState.BREACHED
    assert escalations_of(broken) == [(1, "team_supervisor", "supervisor")]


# --- by hand ----------------------------------------------------------------------------------


def escalate(complaint, actor, direction="up", reason="Customer is very unhappy."):
    return ladder.complaint_escalate_by_hand(
        complaint=Complaint.objects.get(pk=complaint.pk),
        actor=actor,
        direction=direction,
        reason=reason,
    )


def test_a_supervisor_escalates_up_and_down_by_hand_within_bounds(
    complaint, supervisor, everyone, sweep_at
):
    sweep_at(utc(2, 11))
    first = escalate(complaint, supervisor, reason="  Threatening to go to the ombudsman.  ")
    assert (first.level, first.previous_level, first.target) == (1, 0, "team_supervisor")
    assert (first.owner, first.actor, first.manual) == (supervisor, supervisor, True)
    assert first.clock is None
    assert first.reason == "Threatening to go to the ombudsman."
    event = events_of(complaint, EventType.ESCALATED).get()
    assert event.actor == supervisor
    assert event.parameters["manual"] is True

    escalate(complaint, supervisor)
    escalate(complaint, supervisor)
    complaint.refresh_from_db()
    assert complaint.escalation_level == 3
    with pytest.raises(ValidationFailed):
        escalate(complaint, supervisor)

    down = escalate(complaint, supervisor, direction="down", reason="Manager has it in hand.")
    assert (down.level, down.previous_level, down.target) == (2, 3, "complaints_manager")
    assert events_of(complaint, EventType.DE_ESCALATED).count() == 1
    escalate(complaint, supervisor, direction="down")
    bottom = escalate(complaint, supervisor, direction="down")
    assert (bottom.level, bottom.target, bottom.owner) == (0, "", None)
    with pytest.raises(ValidationFailed):
        escalate(complaint, supervisor, direction="down")

    assert escalations_of(complaint) == [
        (1, "team_supervisor", "supervisor"),
        (2, "complaints_manager", "manager"),
        (3, "head_of_cx", "head_of_cx"),
        (2, "complaints_manager", "manager"),
        (1, "team_supervisor", "supervisor"),
        (0, "", None),
    ]
    complaint.refresh_from_db()
    assert complaint.escalation_level == 0


def test_a_hand_de_escalation_sticks_until_the_ladder_climbs_again(
    complaint, customer_user, supervisor, everyone, sweep_at
):
    sweep_at(DUE_AT)
    sweep_at(L2_AT)
    complaint.refresh_from_db()
    assert complaint.escalation_level == 2

    escalate(complaint, supervisor, direction="down", reason="The supervisor has it in hand.")
    # Later changes recompute deadlines, never the level a supervisor chose.
    messages.message_add(complaint=complaint, actor=customer_user, body="Any news?")
    sweep_at(L3_AT - timedelta(seconds=1))
    complaint.refresh_from_db()
    assert complaint.escalation_level == 1

    # The ladder's next automatic step still raises it.
    sweep_at(L3_AT)
    complaint.refresh_from_db()
    assert complaint.escalation_level == 3


def test_hand_escalation_is_refused_to_agents_and_needs_a_reason_and_a_direction(
    complaint, agent, supervisor
):
    with pytest.raises(PermissionDenied):
        escalate(complaint, agent)
    with pytest.raises(ValidationFailed):
        escalate(complaint, supervisor, reason="   ")
    with pytest.raises(ValidationFailed):
        escalate(complaint, supervisor, direction="sideways")
    assert not Escalation.objects.exists()


def test_closed_complaints_are_not_escalated_by_hand(complaint, supervisor, customer_user):
    lifecycle.complaint_withdraw(
        complaint=Complaint.objects.get(pk=complaint.pk), actor=customer_user, reason="Done."
    )
    with pytest.raises(TransitionNotAllowed):
        escalate(complaint, supervisor)


# --- asked for by the customer ----------------------------------------------------------------


def test_the_customer_asks_for_escalation_and_the_supervisor_is_told(
    complaint, customer_user, supervisor
):
    ladder.complaint_request_escalation(
        complaint=complaint, actor=customer_user, reason=" Nobody answers me. "
    )
    request = events_of(complaint, EventType.ESCALATION_REQUESTED).get()
    assert (request.actor, request.parameters) == (customer_user, {"reason": "Nobody answers me."})
    told = outbox_of(complaint, EventType.ESCALATION_REQUESTED).get()
    assert supervisor.pk in told.audience["users"]
    # Recorded and routed, not an escalation in itself.
    assert not Escalation.objects.exists()


def test_only_the_complaining_customer_may_ask_and_only_while_open(
    complaint, other_customer_user, customer_user, supervisor
):
    with pytest.raises(PermissionDenied):
        ladder.complaint_request_escalation(
            complaint=complaint, actor=other_customer_user, reason="Me too."
        )
    with pytest.raises(PermissionDenied):
        ladder.complaint_request_escalation(complaint=complaint, actor=supervisor, reason="x")
    with pytest.raises(ValidationFailed):
        ladder.complaint_request_escalation(complaint=complaint, actor=customer_user, reason=" ")
    lifecycle.complaint_withdraw(
        complaint=Complaint.objects.get(pk=complaint.pk), actor=customer_user, reason="Done."
    )
    with pytest.raises(TransitionNotAllowed):
        ladder.complaint_request_escalation(
            complaint=Complaint.objects.get(pk=complaint.pk), actor=customer_user, reason="Why?"
        )
    assert not events_of(complaint, EventType.ESCALATION_REQUESTED).exists()


# --- what staff are told ------------------------------------------------------------------------


@pytest.mark.parametrize("reassigns", [False, True], ids=["keeps-assignee", "reassigns"])
def test_one_escalation_is_one_inbox_entry_per_person(
    complaint, agent, supervisor, everyone, sweep_at, reassigns
):
    """A breach that escalates (and the reassignment it may make) used to reach the same people
    as two or three entries: the breach, the escalation and the assignment."""
    from notifications.delivery import deliver
    from notifications.models import Notification

    EscalationLevel.objects.filter(ladder__is_default=True, level=1).update(reassign=reassigns)
    sweep_at(DUE_AT - timedelta(seconds=1))
    before = set(Outbox.objects.values_list("pk", flat=True))
    sweep_at(DUE_AT)
    for outbox_id in Outbox.objects.exclude(pk__in=before).order_by("id"):
        assert deliver(outbox_id.pk)

    told = Notification.objects.exclude(outbox_id__in=before)
    for person in (agent, supervisor):
        (entry,) = told.filter(user=person)
        assert entry.event_type == "complaint.escalated"
        assert entry.summary == (
            f"{complaint.reference} “{complaint.subject}”: escalated to level 1: "
            "acknowledge internal target breached"
        )
    # Delivering again changes nothing: the (event, person) key keeps one row each.
    for outbox_id in Outbox.objects.exclude(pk__in=before):
        Outbox.objects.filter(pk=outbox_id.pk).update(delivered_at=None)
        assert deliver(outbox_id.pk)
    assert told.count() == 2
