"""The complaint lifecycle services: every transition, guard, permission and rollback.

Each accepted change must leave exactly three records behind it (the new state, one
timeline event, one outbox row); each refused change must leave none.
"""

from functools import partial

import pytest
from django.db import transaction
from django.utils import timezone

from common.errors import Conflict, PermissionDenied, TransitionNotAllowed, ValidationFailed
from notifications.models import Outbox
from recovery import events
from recovery.models import (
    AppendOnlyError,
    Complaint,
    ComplaintEvent,
    ComplaintRootCause,
    Message,
    MessageDirection,
    MessageKind,
    State,
)
from recovery.services import lifecycle
from tests.conftest import acknowledge, close_loop, resolve
from tests.factories import RootCauseFactory, complaint_in_state

# Backend-independent: ./redress test runs this file on SQLite (the embedded mode) too.
pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

ALLOWED = {
    State.RECEIVED: ["acknowledge", "withdraw"],
    State.ACKNOWLEDGED: ["resolve", "withdraw"],
    State.RESOLVED: ["close_loop", "reopen"],
    State.LOOP_CLOSED: ["reopen"],
    State.WITHDRAWN: [],
}


def records(complaint) -> dict[str, int]:
    """What a transition writes, counted, so a test can say exactly what changed."""
    return {
        "events": ComplaintEvent.objects.filter(complaint=complaint).count(),
        "outbox": Outbox.objects.filter(complaint_id=complaint.pk).count(),
        "messages": Message.objects.filter(complaint=complaint).count(),
        "root_causes": ComplaintRootCause.objects.filter(complaint=complaint).count(),
    }


def only_new_event(complaint, before: dict) -> ComplaintEvent:
    """The one timeline event and the one outbox row an accepted change adds."""
    after = records(complaint)
    assert after["events"] == before["events"] + 1
    assert after["outbox"] == before["outbox"] + 1
    event = ComplaintEvent.objects.filter(complaint=complaint).latest("id")
    outbox = Outbox.objects.filter(complaint_id=complaint.pk).latest("id")
    assert outbox.event_type == f"complaint.{event.type}"
    assert outbox.payload["timeline_event_id"] == event.pk
    assert outbox.payload["state"] == Complaint.objects.get(pk=complaint.pk).state
    assert outbox.payload["parameters"] == event.parameters
    return event


def withdraw(complaint, actor, **kwargs):
    return lifecycle.complaint_withdraw(
        complaint=complaint, actor=actor, reason=kwargs.pop("reason", "Sorted it out."), **kwargs
    )


def reopen(complaint, actor):
    return lifecycle.complaint_reopen(
        complaint=complaint, actor=actor, reason="The refund never arrived."
    )


@pytest.fixture
def complaint_in(agent, supervisor, customer_user, root_causes):
    """A complaint of ``team`` brought to the given state the ordinary way; the customer
    withdraws it."""
    return partial(complaint_in_state, by=customer_user, agent=agent, withdrawn_by=customer_user)


# -- success paths ------------------------------------------------------------------------


def test_intake_records_received_event_and_outbox_row(make_complaint, customer_user):
    complaint = make_complaint()

    assert complaint.state == State.RECEIVED
    # Received, and routed (to Triage: no rule, no category), each with its outbox row.
    assert records(complaint) == {"events": 2, "outbox": 2, "messages": 1, "root_causes": 0}
    received, routed = complaint.events.all()
    assert (received.type, received.actor) == ("received", customer_user)
    assert received.parameters == {"channel": complaint.channel}
    assert (routed.type, routed.actor) == ("routed", customer_user)
    assert routed.parameters["by"] == "default"


def test_acknowledge_sends_the_message_and_records_it(complaint_in, agent):
    complaint = complaint_in(State.RECEIVED)
    before = records(complaint)

    done = lifecycle.complaint_acknowledge(
        complaint=complaint,
        actor=agent,
        message=f"We have your complaint {complaint.reference}.",
        next_steps="We will reply within 5 days.",
    )

    assert done.state == State.ACKNOWLEDGED
    assert done.acknowledged_at is not None
    sent = Message.objects.get(complaint=complaint, kind=MessageKind.ACKNOWLEDGEMENT)
    assert sent.direction == MessageDirection.OUTBOUND
    assert sent.author == agent
    assert complaint.reference in sent.body
    assert "What happens next: We will reply within 5 days." in sent.body
    event = only_new_event(complaint, before)
    assert event.type == "acknowledged"
    assert event.actor == agent
    assert event.parameters == {"message_id": sent.pk}
    assert records(complaint)["messages"] == before["messages"] + 1


def test_acknowledge_accepts_the_reference_in_any_case(complaint_in, agent):
    complaint = complaint_in(State.RECEIVED)

    done = lifecycle.complaint_acknowledge(
        complaint=complaint,
        actor=agent,
        message=f"Your reference is {complaint.reference.lower()}.",
        next_steps="We will reply.",
    )

    assert done.state == State.ACKNOWLEDGED


def test_resolve_records_outcome_summary_and_root_causes(complaint_in, agent):
    complaint = complaint_in(State.ACKNOWLEDGED)
    before = records(complaint)

    done = lifecycle.complaint_resolve(
        complaint=complaint,
        actor=agent,
        outcome="partly_upheld",
        summary="  Refunded one of the two charges.  ",
        root_causes=["billing.duplicate-charge", "billing.refund-delay"],
    )

    assert done.state == State.RESOLVED
    assert done.outcome == "partly_upheld"
    assert done.resolution_summary == "Refunded one of the two charges."
    assert done.resolved_at is not None
    applied = {rc.root_cause.code: rc.is_primary for rc in done.root_causes.all()}
    # The first code given is the primary when none is named.
    assert applied == {"billing.duplicate-charge": True, "billing.refund-delay": False}
    event = only_new_event(complaint, before)
    assert event.type == "resolved"
    assert event.actor == agent
    assert event.parameters == {
        "outcome": "partly_upheld",
        "summary": "Refunded one of the two charges.",
        "root_causes": ["billing.duplicate-charge", "billing.refund-delay"],
    }


def test_resolve_with_a_named_primary_among_the_causes(complaint_in, agent):
    complaint = complaint_in(State.ACKNOWLEDGED)

    done = lifecycle.complaint_resolve(
        complaint=complaint,
        actor=agent,
        outcome="upheld",
        summary="Refunded.",
        root_causes=["billing.duplicate-charge", "billing.refund-delay"],
        primary_root_cause="billing.refund-delay",
    )

    primaries = done.root_causes.filter(is_primary=True)
    assert [rc.root_cause.code for rc in primaries] == ["billing.refund-delay"]
    assert done.root_causes.count() == 2


def test_resolve_adds_a_named_primary_missing_from_the_causes(complaint_in, agent):
    complaint = complaint_in(State.ACKNOWLEDGED)

    done = lifecycle.complaint_resolve(
        complaint=complaint,
        actor=agent,
        outcome="upheld",
        summary="Refunded.",
        root_causes=["billing.duplicate-charge"],
        primary_root_cause="billing.refund-delay",
    )

    applied = {rc.root_cause.code: rc.is_primary for rc in done.root_causes.all()}
    assert applied == {"billing.refund-delay": True, "billing.duplicate-charge": False}
    event = done.events.latest("id")
    assert event.parameters["root_causes"] == ["billing.refund-delay", "billing.duplicate-charge"]


def test_resolve_ignores_repeated_codes(complaint_in, agent):
    complaint = complaint_in(State.ACKNOWLEDGED)

    done = resolve(complaint, agent, causes=["billing.refund-delay", "billing.refund-delay"])

    assert [rc.root_cause.code for rc in done.root_causes.all()] == ["billing.refund-delay"]


def test_close_loop_sends_the_three_part_message(complaint_in, agent):
    complaint = complaint_in(State.RESOLVED)
    before = records(complaint)

    done = close_loop(complaint, agent)

    assert done.state == State.LOOP_CLOSED
    assert done.loop_closed_at is not None
    sent = Message.objects.get(complaint=complaint, kind=MessageKind.LOOP_CLOSING)
    assert sent.direction == MessageDirection.OUTBOUND
    assert "What we found: A retry in the payment gateway." in sent.body
    assert "What we did for you: Refunded the charge." in sent.body
    assert "What will change: The gateway no longer retries settled payments." in sent.body
    # Two events: the loop closing, and the survey invitation it sends.
    after = records(complaint)
    assert after["events"] == before["events"] + 2
    assert after["outbox"] == before["outbox"] + 2
    closed, survey = ComplaintEvent.objects.filter(complaint=complaint).order_by("-id")[:2][::-1]
    assert closed.type == "loop_closed"
    assert closed.parameters == {"message_id": sent.pk}
    assert survey.type == "survey_sent"
    assert survey.parameters == {"survey_id": done.survey.pk}


def test_reopen_by_a_supervisor_counts_and_clears_the_resolution_time(complaint_in, supervisor):
    complaint = complaint_in(State.RESOLVED)
    before = records(complaint)

    done = reopen(complaint, supervisor)

    assert done.state == State.ACKNOWLEDGED
    assert done.reopen_count == 1
    assert done.resolved_at is None
    event = only_new_event(complaint, before)
    assert event.type == "reopened"
    assert event.actor == supervisor
    assert event.parameters == {"reason": "The refund never arrived.", "reopen_count": 1}


def test_reopen_after_the_loop_closed_opens_the_loop_again(complaint_in, supervisor):
    complaint = complaint_in(State.LOOP_CLOSED)
    assert complaint.loop_closed_at is not None
    before = records(complaint)

    done = reopen(complaint, supervisor)

    assert done.state == State.ACKNOWLEDGED
    assert done.reopen_count == 1
    assert (done.resolved_at, done.loop_closed_at) == (None, None)
    event = only_new_event(complaint, before)
    assert (event.type, event.actor) == ("reopened", supervisor)
    assert event.parameters == {"reason": "The refund never arrived.", "reopen_count": 1}


def test_an_agent_may_not_reopen_a_loop_closed_complaint(complaint_in, agent):
    complaint = complaint_in(State.LOOP_CLOSED)
    before = records(complaint)

    with pytest.raises(PermissionDenied):
        reopen(complaint, agent)

    assert Complaint.objects.get(pk=complaint.pk).state == State.LOOP_CLOSED
    assert records(complaint) == before


def test_each_reopen_increments_the_count(complaint_in, agent, supervisor):
    complaint = complaint_in(State.RESOLVED)
    reopen(complaint, supervisor)
    resolve(complaint, agent)

    done = reopen(complaint, supervisor)

    assert done.reopen_count == 2
    assert done.events.latest("id").parameters["reopen_count"] == 2


def test_re_resolving_after_reopen_replaces_the_root_causes(complaint_in, agent, supervisor):
    complaint = complaint_in(State.RESOLVED)
    reopen(complaint, supervisor)

    done = resolve(complaint, agent, causes=["billing.refund-delay"])

    assert [(rc.root_cause.code, rc.is_primary) for rc in done.root_causes.all()] == [
        ("billing.refund-delay", True)
    ]
    # The timeline keeps what the first resolution said.
    resolutions = done.events.filter(type="resolved").order_by("id")
    assert [e.parameters["root_causes"] for e in resolutions] == [
        ["billing.duplicate-charge"],
        ["billing.refund-delay"],
    ]


def test_customer_withdraws_their_own_complaint(complaint_in, customer_user):
    complaint = complaint_in(State.RECEIVED)
    before = records(complaint)

    done = withdraw(complaint, customer_user, reason="  Sorted it with my bank.  ")

    assert done.state == State.WITHDRAWN
    assert done.withdrawal_reason == "Sorted it with my bank."
    assert done.withdrawn_at is not None
    assert done.duplicate_of is None
    event = only_new_event(complaint, before)
    assert event.type == "withdrawn"
    assert event.actor == customer_user
    assert event.parameters == {"reason": "Sorted it with my bank.", "duplicate_of": None}


def test_staff_withdraw_an_acknowledged_complaint(complaint_in, agent):
    complaint = complaint_in(State.ACKNOWLEDGED)

    done = withdraw(complaint, agent, reason="Customer asked us on the phone.")

    assert done.state == State.WITHDRAWN
    assert done.events.latest("id").actor == agent


def test_staff_mark_a_duplicate_of_another_complaint(complaint_in, make_complaint, agent):
    original = make_complaint(subject="The first one")
    complaint = complaint_in(State.RECEIVED)
    before = records(complaint)

    # References are matched whatever their case, as customers quote them.
    done = withdraw(
        complaint, agent, reason="Same charge as before.", duplicate_of=original.reference.lower()
    )

    assert done.state == State.WITHDRAWN
    assert done.duplicate_of == original
    event = only_new_event(complaint, before)
    assert event.parameters == {
        "reason": "Same charge as before.",
        "duplicate_of": original.reference,
    }


# -- guards ---------------------------------------------------------------------------------


def test_acknowledgement_must_name_the_reference(complaint_in, agent):
    complaint = complaint_in(State.RECEIVED)
    before = records(complaint)

    with pytest.raises(ValidationFailed) as refused:
        lifecycle.complaint_acknowledge(
            complaint=complaint,
            actor=agent,
            message="We have your complaint.",
            next_steps="We will reply.",
        )

    assert "reference" in refused.value.message
    assert complaint.reference in refused.value.details["message"][0]
    assert records(complaint) == before
    assert Complaint.objects.get(pk=complaint.pk).state == State.RECEIVED


@pytest.mark.parametrize(
    ("causes", "primary", "expected"),
    [
        ([], "", "Give at least one root cause code."),
        (["billing.no-such-thing"], "", "Unknown root cause codes: billing.no-such-thing."),
        (
            ["billing.duplicate-charge"],
            "billing.no-such-thing",
            "Unknown root cause codes: billing.no-such-thing.",
        ),
    ],
)
def test_resolve_refuses_missing_or_unknown_root_causes(
    complaint_in, agent, causes, primary, expected
):
    complaint = complaint_in(State.ACKNOWLEDGED)
    before = records(complaint)

    with pytest.raises(ValidationFailed) as refused:
        lifecycle.complaint_resolve(
            complaint=complaint,
            actor=agent,
            outcome="upheld",
            summary="Refunded.",
            root_causes=causes,
            primary_root_cause=primary,
        )

    assert expected in refused.value.message
    assert refused.value.details["root_causes"]
    assert records(complaint) == before
    assert Complaint.objects.get(pk=complaint.pk).state == State.ACKNOWLEDGED


def test_resolve_refuses_retired_root_causes(complaint_in, agent):
    RootCauseFactory(code="billing.legacy", name="Legacy", retired_at=timezone.now())
    complaint = complaint_in(State.ACKNOWLEDGED)
    before = records(complaint)

    with pytest.raises(ValidationFailed) as refused:
        resolve(complaint, agent, causes=["billing.duplicate-charge", "billing.legacy"])

    assert "Retired root cause codes may not be used: billing.legacy." in refused.value.message
    assert records(complaint) == before


def test_resolve_without_a_summary_rolls_back_the_root_causes(complaint_in, agent):
    """The condition is checked after the root causes are written; they must not survive."""
    complaint = complaint_in(State.ACKNOWLEDGED)
    before = records(complaint)

    with pytest.raises(ValidationFailed) as refused:
        lifecycle.complaint_resolve(
            complaint=complaint,
            actor=agent,
            outcome="upheld",
            summary="   ",
            root_causes=["billing.duplicate-charge"],
        )

    assert "an outcome and a resolution summary" in refused.value.message
    assert records(complaint) == before
    fresh = Complaint.objects.get(pk=complaint.pk)
    assert (fresh.state, fresh.outcome, fresh.resolved_at) == (State.ACKNOWLEDGED, "", None)


def test_failed_re_resolution_keeps_the_previous_root_causes(complaint_in, agent, supervisor):
    complaint = complaint_in(State.RESOLVED)
    reopen(complaint, supervisor)
    before = records(complaint)

    with pytest.raises(ValidationFailed):
        lifecycle.complaint_resolve(
            complaint=complaint,
            actor=agent,
            outcome="upheld",
            summary="",
            root_causes=["billing.refund-delay"],
        )

    assert records(complaint) == before
    kept = ComplaintRootCause.objects.filter(complaint=complaint)
    assert [rc.root_cause.code for rc in kept] == ["billing.duplicate-charge"]


def test_withdraw_needs_a_reason(complaint_in, customer_user):
    complaint = complaint_in(State.RECEIVED)
    before = records(complaint)

    with pytest.raises(ValidationFailed) as refused:
        withdraw(complaint, customer_user, reason="  ")

    assert "a reason for the withdrawal" in refused.value.message
    assert records(complaint) == before
    fresh = Complaint.objects.get(pk=complaint.pk)
    assert (fresh.state, fresh.withdrawal_reason, fresh.withdrawn_at) == (
        State.RECEIVED,
        "",
        None,
    )


def test_a_complaint_cannot_duplicate_itself(complaint_in, agent):
    complaint = complaint_in(State.RECEIVED)
    before = records(complaint)

    with pytest.raises(ValidationFailed) as refused:
        withdraw(complaint, agent, duplicate_of=complaint.reference)

    assert refused.value.details == {
        "duplicate_of": [f"No other complaint {complaint.reference!r}."]
    }
    assert records(complaint) == before


def test_a_duplicate_must_point_at_an_existing_complaint(complaint_in, agent):
    complaint = complaint_in(State.RECEIVED)
    before = records(complaint)

    with pytest.raises(ValidationFailed) as refused:
        withdraw(complaint, agent, duplicate_of="RDR-1999-000001")

    assert "another existing complaint" in refused.value.message
    assert "RDR-1999-000001" in refused.value.details["duplicate_of"][0]
    assert records(complaint) == before


def test_customer_may_not_mark_their_complaint_a_duplicate(
    complaint_in, make_complaint, customer_user
):
    original = make_complaint(subject="The first one")
    complaint = complaint_in(State.RECEIVED)
    before = records(complaint)

    with pytest.raises(PermissionDenied) as refused:
        withdraw(complaint, customer_user, duplicate_of=original.reference)

    assert "Only staff may mark a complaint as a duplicate." in refused.value.message
    assert records(complaint) == before


# -- state: every disallowed transition from every state -----------------------------------


def _attempt(name: str, complaint, actor):
    """Call the service for ``name`` with a payload that would otherwise be acceptable."""
    if name == "acknowledge":
        return acknowledge(complaint, actor)
    if name == "resolve":
        return resolve(complaint, actor)
    if name == "close_loop":
        return close_loop(complaint, actor)
    if name == "reopen":
        return reopen(complaint, actor)
    return withdraw(complaint, actor)


DISALLOWED = [
    (state, name)
    for state, allowed in ALLOWED.items()
    for name in lifecycle.TRANSITIONS
    if name not in allowed
]


@pytest.mark.parametrize(("state", "name"), DISALLOWED)
def test_transition_not_allowed_names_state_and_allowed_transitions(
    complaint_in, supervisor, state, name
):
    # The supervisor holds every permission, so only the state can be the reason.
    complaint = complaint_in(state)
    before = records(complaint)

    with pytest.raises(TransitionNotAllowed) as refused:
        _attempt(name, complaint, supervisor)

    allowed = ALLOWED[state]
    assert refused.value.details == {"state": state, "allowed_transitions": allowed}
    message = refused.value.message
    assert f"it is {state}" in message
    assert complaint.reference in message
    if allowed:
        assert f"Allowed from {state}: {', '.join(allowed)}." in message
    else:
        assert "none (final state)" in message
    assert records(complaint) == before
    assert Complaint.objects.get(pk=complaint.pk).state == state


def test_available_transitions_match_the_declared_machine(complaint_in):
    for state, allowed in ALLOWED.items():
        assert lifecycle.available_transitions(complaint_in(state)) == allowed


def test_unknown_transition_name_is_a_validation_error(complaint_in, agent):
    complaint = complaint_in(State.RECEIVED)

    with pytest.raises(ValidationFailed) as refused:
        lifecycle.ensure_transition_allowed(complaint, agent, "escalate")

    assert refused.value.message == "Unknown transition 'escalate'."
    assert "acknowledge" in refused.value.details["transition"][0]


# -- permission -------------------------------------------------------------------------------


def test_reopen_is_refused_to_agents(complaint_in, agent):
    complaint = complaint_in(State.RESOLVED)
    before = records(complaint)

    with pytest.raises(PermissionDenied) as refused:
        reopen(complaint, agent)

    assert refused.value.message == f"You may not reopen {complaint.reference}."
    assert refused.value.details == {"state": State.RESOLVED}
    assert records(complaint) == before
    assert Complaint.objects.get(pk=complaint.pk).reopen_count == 0


@pytest.mark.parametrize(
    ("state", "name"),
    [
        (State.RECEIVED, "acknowledge"),
        (State.RECEIVED, "withdraw"),
        (State.ACKNOWLEDGED, "resolve"),
        (State.RESOLVED, "close_loop"),
        (State.RESOLVED, "reopen"),
    ],
)
@pytest.mark.parametrize("persona", ["other_agent", "outsider", "other_customer_user"])
def test_people_outside_the_team_may_not_transition(complaint_in, request, persona, state, name):
    complaint = complaint_in(state)
    actor = request.getfixturevalue(persona)
    before = records(complaint)

    with pytest.raises(PermissionDenied) as refused:
        _attempt(name, complaint, actor)

    assert complaint.reference in refused.value.message
    assert records(complaint) == before
    assert Complaint.objects.get(pk=complaint.pk).state == state


@pytest.mark.parametrize(
    ("state", "name"),
    [
        (State.RECEIVED, "acknowledge"),
        (State.ACKNOWLEDGED, "resolve"),
        (State.RESOLVED, "close_loop"),
        (State.RESOLVED, "reopen"),
    ],
)
def test_customer_may_only_withdraw_their_own_complaint(complaint_in, customer_user, state, name):
    complaint = complaint_in(state)

    with pytest.raises(PermissionDenied):
        _attempt(name, complaint, customer_user)


def test_staff_of_any_team_work_the_unrouted_queue(make_complaint, other_agent):
    complaint = make_complaint(routed_to=None)

    done = acknowledge(complaint, other_agent)

    assert done.state == State.ACKNOWLEDGED


def test_the_assignee_works_a_complaint_of_another_team(make_complaint, other_agent):
    complaint = make_complaint()
    complaint.assignee = other_agent
    complaint.save(update_fields=["assignee"])

    done = acknowledge(complaint, other_agent)

    assert done.state == State.ACKNOWLEDGED


def test_managers_work_any_team(complaint_in, manager):
    complaint = complaint_in(State.RESOLVED)

    done = reopen(complaint, manager)

    assert done.state == State.ACKNOWLEDGED


# -- concurrency guard --------------------------------------------------------------------------


def test_expected_state_mismatch_is_a_conflict(complaint_in, agent):
    complaint = complaint_in(State.ACKNOWLEDGED)
    before = records(complaint)

    with pytest.raises(Conflict) as refused:
        lifecycle.complaint_withdraw(
            complaint=complaint, actor=agent, reason="Duplicate.", expected_state=State.RECEIVED
        )

    assert "it is now acknowledged, not received" in refused.value.message
    assert refused.value.details == {"state": State.ACKNOWLEDGED}
    assert records(complaint) == before


def test_expected_state_that_matches_lets_the_transition_through(complaint_in, agent):
    complaint = complaint_in(State.RECEIVED)

    done = lifecycle.complaint_withdraw(
        complaint=complaint, actor=agent, reason="Duplicate.", expected_state=State.RECEIVED
    )

    assert done.state == State.WITHDRAWN


def test_stale_instance_is_re_read_under_lock(complaint_in, agent):
    complaint = complaint_in(State.RECEIVED)
    stale = Complaint.objects.get(pk=complaint.pk)
    acknowledge(complaint, agent)

    # The stale copy still says "received"; the service must see the row as it is now.
    with pytest.raises(TransitionNotAllowed) as refused:
        acknowledge(stale, agent)

    assert refused.value.details["state"] == State.ACKNOWLEDGED


# -- the timeline is append-only, and rolled-back changes leave nothing ---------------------------


def test_timeline_events_cannot_be_changed(make_complaint):
    event = make_complaint().events.get(type="received")

    event.parameters = {"channel": "forged"}
    with pytest.raises(AppendOnlyError):
        event.save()

    assert ComplaintEvent.objects.get(pk=event.pk).parameters != {"channel": "forged"}


def test_timeline_events_cannot_be_deleted(make_complaint):
    event = make_complaint().events.get(type="received")

    with pytest.raises(AppendOnlyError):
        event.delete()

    assert ComplaintEvent.objects.filter(pk=event.pk).exists()


def test_failure_while_recording_rolls_back_the_whole_transition(complaint_in, agent, monkeypatch):
    """The acknowledgement message is written before the event; a failure must undo it."""
    complaint = complaint_in(State.RECEIVED)
    before = records(complaint)

    def broken_recorder(*args, **kwargs):
        raise RuntimeError("timeline store unavailable")

    monkeypatch.setattr(events, "complaint_acknowledged", broken_recorder)

    with pytest.raises(RuntimeError):
        acknowledge(complaint, agent)

    assert records(complaint) == before
    fresh = Complaint.objects.get(pk=complaint.pk)
    assert (fresh.state, fresh.acknowledged_at) == (State.RECEIVED, None)


def test_outer_rollback_undoes_an_accepted_transition(complaint_in, agent):
    """Nothing about a change survives if the caller's own transaction rolls back."""
    complaint = complaint_in(State.RECEIVED)
    before = records(complaint)

    class CallerGaveUp(Exception):
        pass

    with pytest.raises(CallerGaveUp), transaction.atomic():
        acknowledge(complaint, agent)
        raise CallerGaveUp

    assert records(complaint) == before
    assert Complaint.objects.get(pk=complaint.pk).state == State.RECEIVED
