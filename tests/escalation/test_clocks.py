"""SLA clocks moved by the complaint lifecycle: started, stopped, paused, resumed, restarted.

Unless a test says otherwise the complaint runs on the default "Standard" policy (migration
0002): calendar "Office hours" in UTC, Monday-Friday 09:00-17:00 (an 8-hour business day),
targets acknowledge 8 h, respond 8 h, resolve 40 h, close_loop 16 h, all in business time,
warning at 80 % elapsed. Dates are in March 2026: Monday 2nd to Friday 6th, Monday 9th to
Friday 13th. Every expected instant below is counted by hand on that calendar.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from escalation.models import (
    BusinessCalendar,
    CalendarClosure,
    Clock,
    ClockState,
    SlaPolicy,
    SlaTarget,
)
from escalation.services.sweeper import sweep
from recovery.models import Complaint, ComplaintEvent, EventType
from recovery.services import lifecycle, messages, sla
from tests.conftest import acknowledge, close_loop, resolve

# Backend-independent: ./redress test runs this file on SQLite (the embedded mode) too.
pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

HOUR = 3600
LONDON = ZoneInfo("Europe/London")


def utc(day: int, hour: int, minute: int = 0, *, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def clock_of(complaint, kind: str) -> Clock:
    return Clock.objects.get(complaint=complaint, kind=kind)


def kinds_of(complaint) -> dict[str, str]:
    return dict(Clock.objects.filter(complaint=complaint).values_list("kind", "state"))


def assert_next_deadline(complaint, expected: datetime | None) -> None:
    """The queue's next deadline is the hand-computed one, and the earliest running due_at."""
    complaint.refresh_from_db()
    running = Clock.objects.filter(complaint=complaint, state=ClockState.RUNNING)
    earliest = min((c.due_at for c in running), default=None)
    assert complaint.next_deadline_at == earliest
    assert complaint.next_deadline_at == expected


@pytest.fixture
def received_monday(make_complaint, time_machine):
    """A complaint received on Monday 2 March 2026 at 10:00 UTC."""
    time_machine.move_to(utc(2, 10), tick=False)
    return make_complaint()


def customer_writes(complaint, customer_user, body="Any news?"):
    return messages.message_add(
        complaint=Complaint.objects.get(pk=complaint.pk), actor=customer_user, body=body
    )


def agent_replies(complaint, agent, body="We are on it."):
    return messages.message_add(
        complaint=Complaint.objects.get(pk=complaint.pk), actor=agent, body=body
    )


def set_awaiting(complaint, actor, awaiting: bool):
    return sla.complaint_set_awaiting_customer(
        complaint=Complaint.objects.get(pk=complaint.pk), actor=actor, awaiting=awaiting
    )


# --- starting -------------------------------------------------------------------------------


def test_intake_starts_acknowledge_and_resolve_on_the_standard_policy(received_monday):
    complaint = received_monday
    assert kinds_of(complaint) == {"acknowledge": "running", "resolve": "running"}

    ack = clock_of(complaint, "acknowledge")
    assert ack.policy.name == "Standard"
    assert ack.calendar.slug == "office-hours"
    assert (ack.basis, ack.target_seconds, ack.cycle) == ("business", 8 * HOUR, 1)
    assert ack.started_at == utc(2, 10)
    # Monday 10-17 is 7 h; the 8th hour ends Tuesday at 10:00.
    assert ack.due_at == utc(3, 10)
    # 80 % of 8 h = 6 h 24 min after 10:00, still on Monday.
    assert ack.warn_at == utc(2, 16, 24)

    res = clock_of(complaint, "resolve")
    assert res.target_seconds == 40 * HOUR
    # 40 business hours = five 8-hour days: Monday 10:00 to the next Monday 10:00.
    assert res.due_at == utc(9, 10)
    # 32 h = four days: Friday 10:00.
    assert res.warn_at == utc(6, 10)

    assert_next_deadline(complaint, utc(3, 10))


def test_intake_outside_hours_starts_counting_at_opening_time(make_complaint, time_machine):
    # Saturday evening: nothing counts until Monday 09:00.
    time_machine.move_to(utc(7, 20), tick=False)
    complaint = make_complaint()
    assert clock_of(complaint, "acknowledge").due_at == utc(9, 17)
    assert clock_of(complaint, "resolve").due_at == utc(13, 17)


# --- acknowledge ----------------------------------------------------------------------------


def test_acknowledging_in_time_meets_the_acknowledge_clock(received_monday, agent, time_machine):
    time_machine.move_to(utc(3, 9, 30), tick=False)
    acknowledge(received_monday, agent)

    ack = clock_of(received_monday, "acknowledge")
    assert ack.state == ClockState.MET
    assert ack.stopped_at == utc(3, 9, 30)
    assert ack.breached_at is None
    assert clock_of(received_monday, "resolve").state == ClockState.RUNNING
    assert_next_deadline(received_monday, utc(9, 10))


def test_acknowledging_late_is_a_breach_even_before_the_sweeper_saw_it(
    received_monday, agent, time_machine
):
    time_machine.move_to(utc(3, 10, 1), tick=False)
    acknowledge(received_monday, agent)

    ack = clock_of(received_monday, "acknowledge")
    assert ack.state == ClockState.BREACHED
    assert ack.breached_at == utc(3, 10)
    assert ack.stopped_at == utc(3, 10, 1)
    assert ack.next_escalation_at is None


def test_acknowledging_exactly_at_the_deadline_is_in_time(received_monday, agent, time_machine):
    time_machine.move_to(utc(3, 10), tick=False)
    acknowledge(received_monday, agent)
    assert clock_of(received_monday, "acknowledge").state == ClockState.MET


# --- respond --------------------------------------------------------------------------------


def test_customer_message_starts_respond_and_agent_reply_meets_it(
    received_monday, agent, customer_user, time_machine
):
    time_machine.move_to(utc(2, 11), tick=False)
    acknowledge(received_monday, agent)
    assert_next_deadline(received_monday, utc(9, 10))

    time_machine.move_to(utc(3, 15), tick=False)
    customer_writes(received_monday, customer_user)
    respond = clock_of(received_monday, "respond")
    assert respond.state == ClockState.RUNNING
    assert respond.started_at == utc(3, 15)
    # Tuesday 15-17 is 2 h, the other 6 h end Wednesday at 15:00.
    assert respond.due_at == utc(4, 15)
    assert_next_deadline(received_monday, utc(4, 15))

    time_machine.move_to(utc(4, 10), tick=False)
    agent_replies(received_monday, agent)
    respond.refresh_from_db()
    assert respond.state == ClockState.MET
    assert respond.stopped_at == utc(4, 10)
    assert_next_deadline(received_monday, utc(9, 10))


def test_agent_reply_after_the_respond_deadline_is_a_breach(
    received_monday, agent, customer_user, time_machine
):
    time_machine.move_to(utc(3, 15), tick=False)
    customer_writes(received_monday, customer_user)
    time_machine.move_to(utc(4, 15, 30), tick=False)
    agent_replies(received_monday, agent)

    respond = clock_of(received_monday, "respond")
    assert respond.state == ClockState.BREACHED
    assert respond.breached_at == utc(4, 15)


def test_internal_note_does_not_answer_the_customer(
    received_monday, agent, customer_user, time_machine
):
    time_machine.move_to(utc(3, 15), tick=False)
    customer_writes(received_monday, customer_user)
    time_machine.move_to(utc(3, 16), tick=False)
    messages.message_add(
        complaint=Complaint.objects.get(pk=received_monday.pk),
        actor=agent,
        body="Checking with billing.",
        internal=True,
    )
    assert clock_of(received_monday, "respond").state == ClockState.RUNNING


def test_customer_chasing_does_not_push_back_the_respond_deadline(
    received_monday, customer_user, time_machine
):
    time_machine.move_to(utc(3, 15), tick=False)
    customer_writes(received_monday, customer_user)
    time_machine.move_to(utc(4, 9, 30), tick=False)
    customer_writes(received_monday, customer_user, body="Hello? Still waiting.")

    respond = clock_of(received_monday, "respond")
    # The customer has waited since Tuesday 15:00; a second message must not reset that.
    assert (respond.cycle, respond.started_at, respond.due_at) == (1, utc(3, 15), utc(4, 15))


def test_the_acknowledgement_answers_a_waiting_customer(
    received_monday, agent, customer_user, time_machine
):
    # The customer chases before being acknowledged; the acknowledgement is a message to
    # them, so it is the agent's reply the respond clock waits for.
    time_machine.move_to(utc(2, 11), tick=False)
    customer_writes(received_monday, customer_user)
    time_machine.move_to(utc(2, 12), tick=False)
    acknowledge(Complaint.objects.get(pk=received_monday.pk), agent)
    respond = clock_of(received_monday, "respond")
    assert (respond.state, respond.stopped_at) == (ClockState.MET, utc(2, 12))
    assert_next_deadline(received_monday, utc(9, 10))


def test_resolving_meets_an_unanswered_respond_clock(
    received_monday, agent, customer_user, root_causes, time_machine
):
    time_machine.move_to(utc(2, 11), tick=False)
    acknowledge(received_monday, agent)
    time_machine.move_to(utc(3, 15), tick=False)
    customer_writes(received_monday, customer_user)
    time_machine.move_to(utc(3, 16), tick=False)
    resolve(Complaint.objects.get(pk=received_monday.pk), agent)
    assert clock_of(received_monday, "respond").state == ClockState.MET


# --- resolve and close the loop ---------------------------------------------------------------


def test_resolve_meets_resolve_and_starts_close_loop_which_close_loop_meets(
    received_monday, agent, root_causes, time_machine
):
    time_machine.move_to(utc(2, 11), tick=False)
    acknowledge(received_monday, agent)

    time_machine.move_to(utc(4, 12), tick=False)
    resolve(Complaint.objects.get(pk=received_monday.pk), agent)
    assert clock_of(received_monday, "resolve").state == ClockState.MET
    loop = clock_of(received_monday, "close_loop")
    assert (loop.state, loop.started_at, loop.target_seconds) == ("running", utc(4, 12), 16 * HOUR)
    # Wednesday 12-17 (5 h) + Thursday (8 h) + Friday 09-12 (3 h) = 16 h.
    assert loop.due_at == utc(6, 12)
    assert_next_deadline(received_monday, utc(6, 12))

    time_machine.move_to(utc(5, 10), tick=False)
    close_loop(Complaint.objects.get(pk=received_monday.pk), agent)
    loop.refresh_from_db()
    assert (loop.state, loop.stopped_at) == (ClockState.MET, utc(5, 10))
    assert_next_deadline(received_monday, None)


def test_resolving_after_the_resolve_deadline_is_a_breach(
    received_monday, agent, root_causes, time_machine
):
    time_machine.move_to(utc(2, 11), tick=False)
    acknowledge(received_monday, agent)
    time_machine.move_to(utc(9, 10, 5), tick=False)
    resolve(Complaint.objects.get(pk=received_monday.pk), agent)
    res = clock_of(received_monday, "resolve")
    assert (res.state, res.breached_at) == (ClockState.BREACHED, utc(9, 10))


# --- pause and resume -----------------------------------------------------------------------


def test_awaiting_the_customer_moves_deadlines_by_exactly_the_business_time_paused(
    received_monday, agent, time_machine
):
    time_machine.move_to(utc(2, 13), tick=False)
    set_awaiting(received_monday, agent, True)

    ack, res = clock_of(received_monday, "acknowledge"), clock_of(received_monday, "resolve")
    assert (ack.state, res.state) == (ClockState.PAUSED, ClockState.PAUSED)
    assert ack.paused_at == utc(2, 13)
    # Left on acknowledge: Monday 13-17 (4 h) + Tuesday 09-10 (1 h).
    assert ack.seconds_left_when_paused == 5 * HOUR
    # Until its warning at Monday 16:24: 3 h 24 min.
    assert ack.seconds_to_warn_when_paused == 3 * HOUR + 24 * 60
    # Left on resolve: Monday 4 h + Tuesday-Friday 32 h + next Monday 09-10 1 h.
    assert res.seconds_left_when_paused == 37 * HOUR
    # A paused clock has no deadline that can pass: nothing is next.
    assert_next_deadline(received_monday, None)

    # Resume on Wednesday 11:00: paused Monday 13-17 + Tuesday + Wednesday 09-11 = 14 h.
    time_machine.move_to(utc(4, 11), tick=False)
    set_awaiting(received_monday, agent, False)

    ack.refresh_from_db()
    res.refresh_from_db()
    assert (ack.state, res.state) == (ClockState.RUNNING, ClockState.RUNNING)
    assert ack.paused_seconds == res.paused_seconds == 14 * HOUR
    assert ack.paused_at is None
    # Tuesday 10:00 + 14 business hours = Wednesday 16:00.
    assert ack.due_at == utc(4, 16)
    assert ack.warn_at == utc(4, 14, 24)
    # Monday 9th 10:00 + 14 business hours = Tuesday 10th 16:00.
    assert res.due_at == utc(10, 16)
    # Friday 6th 10:00 + 14 business hours = Monday 9th 16:00.
    assert res.warn_at == utc(9, 16)
    assert_next_deadline(received_monday, utc(4, 16))

    types = list(
        ComplaintEvent.objects.filter(complaint=received_monday).values_list("type", flat=True)
    )
    assert types[-2:] == [EventType.AWAITING_CUSTOMER, EventType.AWAITING_ENDED]


def test_a_pause_over_closed_hours_moves_nothing(received_monday, agent, time_machine):
    # Paused from Friday 17:30 to Monday 08:00: no business time passed, so nothing moves.
    time_machine.move_to(utc(6, 17, 30), tick=False)
    set_awaiting(received_monday, agent, True)
    time_machine.move_to(utc(9, 8), tick=False)
    set_awaiting(received_monday, agent, False)
    res = clock_of(received_monday, "resolve")
    assert res.paused_seconds == 0
    assert res.due_at == utc(9, 10)


def test_a_hold_does_not_move_a_deadline_already_missed(received_monday, agent, time_machine):
    # Acknowledge was due Tuesday 10:00 and the sweeper has not been round yet (a worker
    # outage, say). A hold at Tuesday 11:00 must not turn the missed deadline into "due when
    # the hold ends": the clock stays overdue and is breached at its own deadline.
    ack = clock_of(received_monday, "acknowledge")
    assert ack.due_at == utc(3, 10)
    time_machine.move_to(utc(3, 11), tick=False)
    set_awaiting(received_monday, agent, True)
    assert kinds_of(received_monday) == {"acknowledge": "running", "resolve": "paused"}

    time_machine.move_to(utc(3, 11, 1), tick=False)
    set_awaiting(received_monday, agent, False)
    ack.refresh_from_db()
    assert (ack.state, ack.due_at, ack.paused_seconds) == (ClockState.RUNNING, utc(3, 10), 0)

    sweep()
    ack.refresh_from_db()
    assert (ack.state, ack.breached_at) == (ClockState.BREACHED, utc(3, 10))


def test_a_clock_that_is_not_pausable_keeps_running(make_complaint, agent, time_machine):
    SlaTarget.objects.filter(policy__name="Standard", clock="acknowledge").update(pausable=False)
    time_machine.move_to(utc(2, 10), tick=False)
    complaint = make_complaint()
    assert clock_of(complaint, "acknowledge").pausable is False

    time_machine.move_to(utc(2, 13), tick=False)
    set_awaiting(complaint, agent, True)
    assert kinds_of(complaint) == {"acknowledge": "running", "resolve": "paused"}
    assert_next_deadline(complaint, utc(3, 10))


def test_a_customer_reply_ends_the_pause_and_starts_respond_running(
    received_monday, agent, customer_user, time_machine
):
    time_machine.move_to(utc(2, 11), tick=False)
    acknowledge(received_monday, agent)
    time_machine.move_to(utc(2, 13), tick=False)
    set_awaiting(received_monday, agent, True)

    time_machine.move_to(utc(4, 11), tick=False)
    customer_writes(received_monday, customer_user, body="Here is the receipt you asked for.")

    received_monday.refresh_from_db()
    assert received_monday.awaiting_customer is False
    res = clock_of(received_monday, "resolve")
    assert (res.state, res.paused_seconds, res.due_at) == ("running", 14 * HOUR, utc(10, 16))
    respond = clock_of(received_monday, "respond")
    # The reply itself is what the agent must now answer: a running clock, not a paused one.
    assert respond.state == ClockState.RUNNING
    assert respond.due_at == utc(5, 11)
    assert_next_deadline(received_monday, utc(5, 11))
    assert (
        ComplaintEvent.objects.filter(complaint=received_monday)
        .filter(type=EventType.AWAITING_ENDED)
        .get()
        .parameters["why"]
        == "customer replied"
    )


def test_resolving_while_paused_meets_the_clock_and_counts_the_pause(
    received_monday, agent, root_causes, time_machine
):
    time_machine.move_to(utc(2, 11), tick=False)
    acknowledge(received_monday, agent)
    time_machine.move_to(utc(2, 13), tick=False)
    set_awaiting(received_monday, agent, True)
    time_machine.move_to(utc(3, 13), tick=False)
    resolve(Complaint.objects.get(pk=received_monday.pk), agent)

    res = clock_of(received_monday, "resolve")
    assert res.state == ClockState.MET
    # Monday 13-17 + Tuesday 09-13.
    assert res.paused_seconds == 8 * HOUR
    received_monday.refresh_from_db()
    assert received_monday.awaiting_customer is False
    # Nothing is awaited from the customer of a resolved complaint: close_loop runs.
    assert clock_of(received_monday, "close_loop").state == ClockState.RUNNING


# --- reopen and withdraw --------------------------------------------------------------------


def test_reopen_starts_a_new_resolve_cycle_and_cancels_close_loop(
    received_monday, agent, supervisor, root_causes, time_machine
):
    time_machine.move_to(utc(2, 11), tick=False)
    acknowledge(received_monday, agent)
    time_machine.move_to(utc(3, 12), tick=False)
    resolve(Complaint.objects.get(pk=received_monday.pk), agent)
    # Tuesday 12-17 (5 h) + Wednesday (8 h) + Thursday 09-12 (3 h).
    assert clock_of(received_monday, "close_loop").due_at == utc(5, 12)

    time_machine.move_to(utc(4, 10), tick=False)
    lifecycle.complaint_reopen(
        complaint=Complaint.objects.get(pk=received_monday.pk),
        actor=supervisor,
        reason="The refund never arrived.",
    )

    loop = clock_of(received_monday, "close_loop")
    assert (loop.state, loop.stopped_at) == (ClockState.CANCELLED, utc(4, 10))
    res = clock_of(received_monday, "resolve")
    assert (res.state, res.cycle, res.started_at) == ("running", 2, utc(4, 10))
    assert res.stopped_at is None and res.warned_at is None
    # Wednesday 10:00 + 40 business hours = Wednesday 11th 10:00.
    assert res.due_at == utc(11, 10)
    assert_next_deadline(received_monday, utc(11, 10))

    time_machine.move_to(utc(5, 10), tick=False)
    resolve(Complaint.objects.get(pk=received_monday.pk), agent)
    res.refresh_from_db()
    loop.refresh_from_db()
    assert (res.state, res.cycle) == (ClockState.MET, 2)
    assert (loop.state, loop.cycle, loop.started_at) == ("running", 2, utc(5, 10))


def test_reopen_after_the_loop_closed_keeps_the_met_close_loop_and_restarts_resolve(
    received_monday, agent, supervisor, root_causes, time_machine
):
    time_machine.move_to(utc(2, 11), tick=False)
    acknowledge(received_monday, agent)
    time_machine.move_to(utc(3, 12), tick=False)
    resolve(Complaint.objects.get(pk=received_monday.pk), agent)
    time_machine.move_to(utc(3, 15), tick=False)
    close_loop(Complaint.objects.get(pk=received_monday.pk), agent)

    time_machine.move_to(utc(4, 10), tick=False)
    lifecycle.complaint_reopen(
        complaint=Complaint.objects.get(pk=received_monday.pk),
        actor=supervisor,
        reason="The customer wrote back: the refund never arrived.",
    )

    # The loop was closed in time: that stays on record, nothing is cancelled after the fact.
    loop = clock_of(received_monday, "close_loop")
    assert (loop.state, loop.stopped_at) == (ClockState.MET, utc(3, 15))
    res = clock_of(received_monday, "resolve")
    assert (res.state, res.cycle, res.started_at) == ("running", 2, utc(4, 10))
    assert res.due_at == utc(11, 10)
    assert_next_deadline(received_monday, utc(11, 10))


def test_withdraw_cancels_every_open_clock(received_monday, customer_user, time_machine):
    time_machine.move_to(utc(2, 12), tick=False)
    lifecycle.complaint_withdraw(
        complaint=Complaint.objects.get(pk=received_monday.pk),
        actor=customer_user,
        reason="Sorted out in the shop.",
    )
    assert kinds_of(received_monday) == {"acknowledge": "cancelled", "resolve": "cancelled"}
    assert set(
        Clock.objects.filter(complaint=received_monday).values_list("stopped_at", flat=True)
    ) == {utc(2, 12)}
    assert_next_deadline(received_monday, None)


def test_withdraw_while_paused_cancels_the_paused_clocks(
    received_monday, agent, customer_user, time_machine
):
    time_machine.move_to(utc(2, 13), tick=False)
    set_awaiting(received_monday, agent, True)
    time_machine.move_to(utc(3, 13), tick=False)
    lifecycle.complaint_withdraw(
        complaint=Complaint.objects.get(pk=received_monday.pk),
        actor=customer_user,
        reason="No longer needed.",
    )
    assert kinds_of(received_monday) == {"acknowledge": "cancelled", "resolve": "cancelled"}
    assert clock_of(received_monday, "resolve").paused_seconds == 8 * HOUR


# --- policies and calendars -------------------------------------------------------------------


def test_a_policy_change_applies_to_new_clocks_only(make_complaint, agent, time_machine):
    time_machine.move_to(utc(2, 10), tick=False)
    before = make_complaint()
    SlaTarget.objects.filter(policy__name="Standard", clock="resolve").update(seconds=80 * HOUR)
    SlaPolicy.objects.filter(name="Standard").update(name="Standard (2026)")

    time_machine.move_to(utc(2, 11), tick=False)
    acknowledge(before, agent)
    kept = clock_of(before, "resolve")
    assert (kept.target_seconds, kept.due_at) == (40 * HOUR, utc(9, 10))
    assert kept.policy.name == "Standard (2026)"  # the same policy row, renamed

    after = make_complaint()
    changed = clock_of(after, "resolve")
    # Monday 11:00 + 80 business hours (ten 8-hour days) = Monday 16th 11:00.
    assert (changed.target_seconds, changed.due_at) == (80 * HOUR, utc(16, 11))


def test_a_calendar_with_public_and_extra_holidays_and_a_closure(make_complaint, time_machine):
    """Easter 2026 in London: Good Friday 3 April and Easter Monday 6 April are bank holidays;
    Tuesday 7 April is an extra closed day and Wednesday 8 April 09:00-13:00 a closure."""
    london = BusinessCalendar.objects.create(
        name="London office",
        slug="london",
        time_zone="Europe/London",
        weekly_hours={str(day): [["09:00", "17:00"]] for day in range(5)},
        holiday_country="GB",
        holiday_subdivision="ENG",
        extra_holidays=["2026-04-07"],
    )
    CalendarClosure.objects.create(
        calendar=london,
        starts_at=datetime(2026, 4, 8, 9, tzinfo=LONDON),
        ends_at=datetime(2026, 4, 8, 13, tzinfo=LONDON),
        reason="Office move",
    )
    policy = SlaPolicy.objects.create(name="UK", position=1, calendar=london, jurisdictions=["GB"])
    SlaTarget.objects.create(policy=policy, clock="acknowledge", seconds=8 * HOUR)
    SlaTarget.objects.create(policy=policy, clock="resolve", seconds=40 * HOUR)

    time_machine.move_to(datetime(2026, 4, 2, 16, tzinfo=LONDON), tick=False)
    complaint = make_complaint(jurisdiction="GB")

    ack = clock_of(complaint, "acknowledge")
    assert ack.policy == policy and ack.calendar == london
    # Thursday 2nd 16-17 (1 h); Friday 3rd, Monday 6th, Tuesday 7th closed; Wednesday 8th
    # 13-17 (4 h); Thursday 9th 09-12 (3 h).
    assert ack.due_at == datetime(2026, 4, 9, 12, tzinfo=LONDON)
    # ... then Thursday 9th 12-17 (5 h, total 13), Friday 10th (21), Monday 13th (29),
    # Tuesday 14th (37), Wednesday 15th 09-12 (40).
    assert clock_of(complaint, "resolve").due_at == datetime(2026, 4, 15, 12, tzinfo=LONDON)


def test_a_calendar_in_a_daylight_saving_zone_counts_local_hours(make_complaint, time_machine):
    london = BusinessCalendar.objects.create(
        name="London office",
        slug="london",
        time_zone="Europe/London",
        weekly_hours={str(day): [["09:00", "17:00"]] for day in range(5)},
    )
    policy = SlaPolicy.objects.create(name="UK", position=1, calendar=london)
    SlaTarget.objects.create(policy=policy, clock="acknowledge", seconds=8 * HOUR)

    # Friday 27 March 13:00 GMT; clocks go forward on Sunday 29 March.
    time_machine.move_to(datetime(2026, 3, 27, 13, tzinfo=UTC), tick=False)
    complaint = make_complaint()
    # Friday 13-17 GMT (4 h) + Monday 09-13 BST (4 h): 13:00 BST is 12:00 UTC.
    assert clock_of(complaint, "acknowledge").due_at == datetime(2026, 3, 30, 12, tzinfo=UTC)


# --- warning thresholds and calendar time -------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "seconds_before", "expected_warning"),
    [
        (None, 2 * HOUR, utc(2, 16)),  # 2 business hours before Tuesday 10:00
        (80, 3 * HOUR, utc(2, 15)),  # 6 h 24 min vs 5 h after the start: the earlier wins
        (50, 1 * HOUR, utc(2, 14)),  # 4 h vs 7 h
        (100, None, None),  # warning at the deadline itself is no warning
        (None, None, None),
    ],
)
def test_warning_thresholds_are_counted_in_business_time(
    make_complaint, time_machine, percent, seconds_before, expected_warning
):
    SlaTarget.objects.filter(policy__name="Standard", clock="acknowledge").update(
        warn_at_percent=percent, warn_seconds_before=seconds_before
    )
    time_machine.move_to(utc(2, 10), tick=False)
    assert clock_of(make_complaint(), "acknowledge").warn_at == expected_warning


def test_a_calendar_time_target_counts_nights_and_weekends_and_pauses_in_hours(
    make_complaint, agent, time_machine
):
    SlaTarget.objects.filter(policy__name="Standard", clock="acknowledge").update(
        seconds=24 * HOUR, basis="calendar"
    )
    time_machine.move_to(utc(6, 10), tick=False)  # Friday
    complaint = make_complaint()
    ack = clock_of(complaint, "acknowledge")
    assert (ack.basis, ack.due_at, ack.warn_at) == ("calendar", utc(7, 10), utc(7, 5, 12))

    # Paused from Friday 12:00 to 15:00: three hours of wall-clock time.
    time_machine.move_to(utc(6, 12), tick=False)
    set_awaiting(complaint, agent, True)
    assert clock_of(complaint, "acknowledge").seconds_left_when_paused == 22 * HOUR
    time_machine.move_to(utc(6, 15), tick=False)
    set_awaiting(complaint, agent, False)
    ack.refresh_from_db()
    assert (ack.paused_seconds, ack.due_at, ack.warn_at) == (3 * HOUR, utc(7, 13), utc(7, 8, 12))
