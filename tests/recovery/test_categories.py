"""Reclassifying a complaint (``complaint_recategorise``): its internal deadlines re-planned
from their own starts under the new category's policy, its statutory ones untouched.

Personas: ``supervisor`` (of Billing) may correct details and so recategorise; ``agent``
works Billing but may not (except through a macro a supervisor saved); ``other_agent``
works Delivery and cannot reach the complaint at all.

Calendar: the default "Standard" policy (migration 0002) on "Office hours", UTC,
Monday-Friday 09:00-17:00; acknowledge 8 h, resolve 40 h, warning at 80 %. The "Billing
fast" policy made here matches the Billing category first: acknowledge 4 h, resolve 16 h,
same calendar. Dates in March 2026: Monday 2nd to Friday 6th.
"""

from datetime import UTC, datetime

import pytest
from django.forms.models import model_to_dict

from common.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from escalation.models import BusinessCalendar, Clock, ClockState, SlaPolicy, SlaTarget
from escalation.services.sweeper import sweep
from notifications.models import Outbox
from recovery.models import Category, Complaint, ComplaintEvent, EventType
from recovery.services import categories, lifecycle, sla
from tests.conftest import acknowledge, close_loop, resolve
from tests.recovery.test_concurrency import lock_complaint, race

pytestmark = pytest.mark.django_db

HOUR = 3600


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def fresh(complaint) -> Complaint:
    return Complaint.objects.get(pk=complaint.pk)


def internal(complaint, kind: str) -> Clock:
    return Clock.objects.get(complaint=complaint, kind=kind, regulatory_profile="")


@pytest.fixture
def billing(default_sla):
    return Category.objects.create(name="Billing", slug="billing")


@pytest.fixture
def fast_policy(billing):
    policy = SlaPolicy.objects.create(
        name="Billing fast",
        position=1,
        calendar=BusinessCalendar.objects.get(slug="office-hours"),
        categories=["billing"],
    )
    SlaTarget.objects.create(policy=policy, clock="acknowledge", seconds=4 * HOUR)
    SlaTarget.objects.create(policy=policy, clock="resolve", seconds=16 * HOUR)
    return policy


@pytest.fixture
def received_monday(make_complaint, time_machine):
    """Received on Monday 2 March 2026 at 10:00 UTC, in no category (the Standard policy)."""
    time_machine.move_to(utc(2, 10), tick=False)
    return make_complaint()


def test_running_clocks_are_replanned_from_their_start_under_the_new_policy(
    received_monday, supervisor, billing, fast_policy, time_machine
):
    time_machine.move_to(utc(2, 12), tick=False)
    moved = categories.complaint_recategorise(
        complaint=fresh(received_monday), actor=supervisor, category=billing, reason="Card fee"
    )

    assert fresh(received_monday).category == billing
    ack = internal(received_monday, "acknowledge")
    # From Monday 10:00, not from the move at 12:00: 4 h ends at 14:00.
    assert (ack.policy, ack.target_seconds, ack.started_at) == (fast_policy, 4 * HOUR, utc(2, 10))
    assert ack.due_at == utc(2, 14)
    assert ack.warn_at == utc(2, 13, 12)  # 80 % of 4 h
    resolve = internal(received_monday, "resolve")
    # 16 business hours from Monday 10:00: Monday 7 h, Tuesday 8 h, Wednesday 09-10.
    assert (resolve.due_at, resolve.state) == (utc(4, 10), ClockState.RUNNING)
    # The row's deadline copy (the queue's order) follows.
    assert moved.next_deadline_at == utc(2, 14) == fresh(received_monday).next_deadline_at

    event = ComplaintEvent.objects.get(complaint=received_monday, type=EventType.CATEGORY_CHANGED)
    assert event.actor == supervisor
    assert event.parameters["before"] is None
    assert event.parameters["after"] == {"id": billing.pk, "name": "Billing"}
    assert event.parameters["reason"] == "Card fee"
    assert event.parameters["deadlines"]["resolve"] == {
        "before": utc(9, 10).isoformat(),
        "after": utc(4, 10).isoformat(),
    }
    outbox = Outbox.objects.get(event_type="complaint.category_changed")
    assert outbox.audience["customer"] is None  # staff-only: the customer is not told


def test_a_paused_clock_keeps_its_pause_with_the_time_it_has_left_under_the_new_target(
    received_monday, supervisor, agent, billing, fast_policy, time_machine
):
    time_machine.move_to(utc(2, 11), tick=False)
    acknowledge(fresh(received_monday), agent)
    time_machine.move_to(utc(2, 12), tick=False)
    sla.complaint_set_awaiting_customer(
        complaint=fresh(received_monday), actor=agent, awaiting=True
    )
    acknowledged = model_to_dict(internal(received_monday, "acknowledge"))

    time_machine.move_to(utc(2, 13), tick=False)
    categories.complaint_recategorise(
        complaint=fresh(received_monday), actor=supervisor, category=billing
    )

    resolve = internal(received_monday, "resolve")
    # 2 h used of the old 40 h before the pause: 14 h left of the new 16 h, still paused.
    assert (resolve.state, resolve.paused_at) == (ClockState.PAUSED, utc(2, 12))
    assert (resolve.seconds_left_when_paused, resolve.target_seconds) == (14 * HOUR, 16 * HOUR)
    # The met acknowledgement is history: not one field of it moved.
    assert model_to_dict(internal(received_monday, "acknowledge")) == acknowledged

    time_machine.move_to(utc(3, 9), tick=False)
    sla.complaint_set_awaiting_customer(
        complaint=fresh(received_monday), actor=agent, awaiting=False
    )
    resolve.refresh_from_db()
    # Resumed Tuesday 09:00 with 14 h: Tuesday 8 h, Wednesday 09-15.
    assert (resolve.state, resolve.due_at) == (ClockState.RUNNING, utc(4, 15))


def test_a_breached_clock_stays_breached_and_a_late_one_is_breached_by_the_sweeper(
    received_monday, supervisor, billing, fast_policy, time_machine
):
    time_machine.move_to(utc(3, 11), tick=False)
    sweep()  # the Standard acknowledgement (due Tuesday 10:00) is breached
    breached = model_to_dict(internal(received_monday, "acknowledge"))
    assert breached["state"] == ClockState.BREACHED

    categories.complaint_recategorise(
        complaint=fresh(received_monday), actor=supervisor, category=billing
    )

    assert model_to_dict(internal(received_monday, "acknowledge")) == breached
    resolve = internal(received_monday, "resolve")
    assert (resolve.state, resolve.due_at) == (ClockState.RUNNING, utc(4, 10))

    time_machine.move_to(utc(4, 10, 1), tick=False)
    sweep()
    assert internal(received_monday, "resolve").state == ClockState.BREACHED


def test_statutory_clocks_keep_their_deadlines_exactly(
    make_complaint, supervisor, billing, fast_policy, time_machine
):
    time_machine.move_to(utc(2, 10), tick=False)
    complaint = make_complaint(jurisdiction="GB", regulatory_profile="uk_fca_disp")
    statutory = {
        clock.pk: model_to_dict(clock)
        for clock in Clock.objects.filter(complaint=complaint).exclude(regulatory_profile="")
    }
    assert statutory  # resolve and summary resolution, under DISP
    next_statutory = fresh(complaint).next_statutory_deadline_at

    time_machine.move_to(utc(2, 12), tick=False)
    categories.complaint_recategorise(
        complaint=fresh(complaint), actor=supervisor, category=billing
    )

    after = {
        clock.pk: model_to_dict(clock)
        for clock in Clock.objects.filter(complaint=complaint).exclude(regulatory_profile="")
    }
    assert after == statutory
    assert fresh(complaint).next_statutory_deadline_at == next_statutory
    assert internal(complaint, "resolve").due_at == utc(4, 10)
    event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.CATEGORY_CHANGED)
    assert set(event.parameters["deadlines"]) == {"acknowledge", "resolve"}


def test_a_kind_the_new_policy_has_no_target_for_is_cancelled(
    received_monday, supervisor, billing, time_machine
):
    policy = SlaPolicy.objects.create(
        name="Billing: resolve only",
        position=1,
        calendar=BusinessCalendar.objects.get(slug="office-hours"),
        categories=["billing"],
    )
    SlaTarget.objects.create(policy=policy, clock="resolve", seconds=16 * HOUR)
    time_machine.move_to(utc(2, 12), tick=False)

    categories.complaint_recategorise(
        complaint=fresh(received_monday), actor=supervisor, category=billing
    )

    ack = internal(received_monday, "acknowledge")
    assert (ack.state, ack.stopped_at) == (ClockState.CANCELLED, utc(2, 12))
    assert internal(received_monday, "resolve").policy == policy


def test_who_may_recategorise(received_monday, agent, other_agent, supervisor, billing):
    for person in (agent, other_agent):
        with pytest.raises(PermissionDenied, match="may not change the category"):
            categories.complaint_recategorise(
                complaint=fresh(received_monday), actor=person, category=billing
            )
    assert fresh(received_monday).category is None
    assert not ComplaintEvent.objects.filter(type=EventType.CATEGORY_CHANGED).exists()

    categories.complaint_recategorise(
        complaint=fresh(received_monday), actor=supervisor, category=billing
    )
    assert fresh(received_monday).category == billing


@pytest.mark.parametrize("ending", ["withdrawn", "loop closed"])
def test_a_closed_or_withdrawn_complaint_keeps_its_category(
    make_complaint, supervisor, agent, customer_user, billing, root_causes, ending
):
    complaint = make_complaint()
    if ending == "withdrawn":
        lifecycle.complaint_withdraw(complaint=complaint, actor=customer_user, reason="Sorted")
    else:
        close_loop(resolve(acknowledge(complaint, agent), agent), agent)

    with pytest.raises(TransitionNotAllowed, match=f"is {ending}; its category can no longer"):
        categories.complaint_recategorise(
            complaint=fresh(complaint), actor=supervisor, category=billing
        )
    assert fresh(complaint).category is None


@pytest.mark.parametrize("named", ["unknown", "inactive", "not a number", "same"])
def test_a_category_not_in_use_or_the_same_one_is_refused(
    received_monday, supervisor, billing, named
):
    complaint = fresh(received_monday)
    complaint.category = billing
    complaint.save(update_fields=["category"])
    retired = Category.objects.create(name="Old", slug="old", is_active=False)
    category = {"unknown": 999_999, "inactive": retired, "not a number": "x", "same": billing}[
        named
    ]

    with pytest.raises(ValidationFailed) as refused:
        categories.complaint_recategorise(
            complaint=fresh(complaint), actor=supervisor, category=category
        )
    assert "category" in refused.value.details
    assert fresh(complaint).category == billing
    assert not ComplaintEvent.objects.filter(type=EventType.CATEGORY_CHANGED).exists()


def test_an_overlong_reason_is_refused(received_monday, supervisor, billing):
    with pytest.raises(ValidationFailed, match="longer than 500"):
        categories.complaint_recategorise(
            complaint=fresh(received_monday), actor=supervisor, category=billing, reason="x" * 501
        )
    assert fresh(received_monday).category is None


@pytest.mark.django_db(transaction=True)
def test_two_moves_at_once_are_applied_in_turn(make_complaint, supervisor, billing, fast_policy):
    delivery = Category.objects.create(name="Delivery", slug="delivery")
    complaint = make_complaint()

    outcomes = race(
        [
            lambda: categories.complaint_recategorise(
                complaint=complaint, actor=supervisor, category=billing
            ),
            lambda: categories.complaint_recategorise(
                complaint=complaint, actor=supervisor, category=delivery
            ),
        ],
        behind=lock_complaint(complaint),
    )

    assert [outcome.error for outcome in outcomes] == [None, None]
    first, second = ComplaintEvent.objects.filter(
        complaint=complaint, type=EventType.CATEGORY_CHANGED
    ).order_by("pk")
    # Each records the category the other left: none is lost.
    assert first.parameters["before"] is None
    assert second.parameters["before"] == first.parameters["after"]
    final = fresh(complaint)
    assert final.category_id == second.parameters["after"]["id"]
    # The clocks are those of the category it ended in.
    expected = fast_policy if final.category == billing else SlaPolicy.objects.get(name="Standard")
    assert internal(complaint, "resolve").policy == expected
    assert internal(complaint, "acknowledge").policy == expected
