"""The factories build complaints through the services: each state comes with the timeline,
outbox rows and clocks the services leave, never with a state written directly.

Personas: ``customer_user`` complains; ``agent`` works ``team`` and moves the complaint on.
"""

from datetime import timedelta

import pytest

from escalation.models import Clock, ClockState
from notifications.models import Outbox
from recovery.models import ComplaintEvent, RecoveryAction, State
from tests.factories import (
    ClockFactory,
    ComplaintFactory,
    OutboxFactory,
    RecoveryActionFactory,
    complaint_in_state,
)

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

TIMELINE = {
    State.RECEIVED: ["received"],
    State.ACKNOWLEDGED: ["received", "acknowledged"],
    State.RESOLVED: ["received", "acknowledged", "resolved"],
    State.LOOP_CLOSED: ["received", "acknowledged", "resolved", "loop_closed"],
    State.WITHDRAWN: ["received", "withdrawn"],
}


@pytest.mark.parametrize("state", list(TIMELINE))
def test_a_complaint_in_each_state_has_the_timeline_and_outbox_of_its_path(
    state, customer_user, agent, team
):
    complaint = complaint_in_state(state, by=customer_user, agent=agent)

    assert (complaint.state, complaint.team) == (state, team)
    types = ComplaintEvent.objects.filter(complaint=complaint).order_by("id")
    # Messages and survey events come along the way; the transitions are there in order.
    assert [t for t in types.values_list("type", flat=True) if t in TIMELINE[state]] == (
        TIMELINE[state]
    )
    for event in types:
        assert Outbox.objects.filter(payload__timeline_event_id=event.pk).exists()
    assert Clock.objects.filter(complaint=complaint).exists()


def test_an_open_complaint_has_running_clocks_and_a_closed_one_none(customer_user, agent):
    open_one = ComplaintFactory(by=customer_user)
    closed = complaint_in_state(State.LOOP_CLOSED, by=customer_user, agent=agent)

    assert Clock.objects.filter(complaint=open_one, state=ClockState.RUNNING).exists()
    assert not Clock.objects.filter(complaint=closed, state=ClockState.RUNNING).exists()


def test_a_recovery_is_proposed_through_the_service(customer_user, agent):
    complaint = complaint_in_state(State.ACKNOWLEDGED, by=customer_user, agent=agent)

    action = RecoveryActionFactory(complaint=complaint, actor=agent)

    assert RecoveryAction.objects.filter(pk=action.pk, complaint=complaint).exists()
    assert ComplaintEvent.objects.filter(complaint=complaint, type="recovery_proposed").exists()


def test_bare_clock_and_outbox_rows(customer_user):
    complaint = ComplaintFactory(by=customer_user)

    clock = ClockFactory(complaint=complaint, kind="close_loop")
    row = OutboxFactory(complaint_id=complaint.pk)

    assert clock.due_at - clock.started_at == timedelta(seconds=clock.target_seconds)
    assert (row.delivered_at, row.payload["complaint_id"]) == (None, complaint.pk)
