"""The complaint admin has no side door: its workflow fields are read-only, and each of its
actions runs a service, which writes the timeline event and the outbox row (or refuses).

Personas: ``root``, a superuser signed in to the admin; ``agent`` works the complaint's team
and proposes recoveries; ``supervisor`` escalates by hand; ``customer_user`` complains.
"""

import pytest
from django.contrib import admin
from django.test import RequestFactory

from escalation.models import Clock, ClockState
from escalation.services import ladder
from notifications.models import Outbox
from recovery.models import Complaint, ComplaintEvent, RecoveryAction, State
from recovery.services import sla
from tests.admin_forms import page_data, page_errors
from tests.conftest import acknowledge, resolve
from tests.factories import RecoveryActionFactory, UserFactory, complaint_in_state

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/recovery/complaint/"


@pytest.fixture
def root(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def run_action(client, action: str, complaints, **fields):
    """The two POSTs a person sends: choose the action, then fill in and apply its form."""
    selected = [str(complaint.pk) for complaint in complaints]
    chosen = client.post(CHANGELIST, {"action": action, "_selected_action": selected})
    assert chosen.status_code == 200
    assert chosen.context["form"].is_bound is False
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": selected, "apply": "yes", **fields},
        follow=True,
    )


def written_since(complaint, last_event_id):
    """The timeline events written for ``complaint`` after ``last_event_id``, each paired with
    whether the outbox row that tells about it exists."""
    events = ComplaintEvent.objects.filter(complaint=complaint, id__gt=last_event_id)
    return [
        (
            event.type,
            Outbox.objects.filter(
                event_type=f"complaint.{event.type}", payload__timeline_event_id=event.pk
            ).exists(),
        )
        for event in events.order_by("id")
    ]


def last_event_id(complaint) -> int:
    return ComplaintEvent.objects.filter(complaint=complaint).order_by("-id").first().pk


def _held(complaint, agent):
    return sla.complaint_set_awaiting_customer(complaint=complaint, actor=agent, awaiting=True)


def _escalated(complaint, supervisor):
    ladder.complaint_escalate_by_hand(
        complaint=complaint, actor=supervisor, direction="up", reason="Angry customer."
    )
    return Complaint.objects.get(pk=complaint.pk)


# action, how the complaint gets there, what the form says, the event written, and what the
# complaint then shows.
ACTIONS = {
    "assign": (
        lambda c, p: c,
        lambda p: {"assignee": str(p["agent"].pk), "reason": "Back from leave."},
        "assigned",
        lambda c, p: c.assignee_id == p["agent"].pk,
    ),
    "put_on_hold": (
        lambda c, p: c,
        lambda p: {"reason": "Asked for the card statement."},
        "awaiting_customer",
        lambda c, p: c.awaiting_customer,
    ),
    "release_hold": (
        lambda c, p: _held(c, p["agent"]),
        lambda p: {"reason": ""},
        "awaiting_ended",
        lambda c, p: not c.awaiting_customer,
    ),
    "escalate": (
        lambda c, p: c,
        lambda p: {"reason": "A week without an answer."},
        "escalated",
        lambda c, p: c.escalation_level == 1,
    ),
    "de_escalate": (
        lambda c, p: _escalated(c, p["supervisor"]),
        lambda p: {"reason": "Settled with the customer."},
        "de_escalated",
        lambda c, p: c.escalation_level == 0,
    ),
    "reopen": (
        lambda c, p: resolve(c, p["agent"]),
        lambda p: {"reason": "The refund never arrived."},
        "reopened",
        lambda c, p: (c.state, c.reopen_count) == ("acknowledged", 1),
    ),
    "withdraw": (
        lambda c, p: c,
        lambda p: {"reason": "The customer sorted it out with the bank."},
        "withdrawn",
        lambda c, p: c.state == "withdrawn",
    ),
}


def test_every_complaint_admin_action_is_covered_here(rf: RequestFactory):
    request = rf.get(CHANGELIST)
    request.user = UserFactory(username="root", is_staff=True, is_superuser=True)
    offered = set(admin.site._registry[Complaint].get_actions(request))

    # Deleting is not offered: complaints are withdrawn, never deleted.
    assert offered == set(ACTIONS)


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_admin_action_runs_its_service(
    root, make_complaint, agent, supervisor, root_causes, action
):
    personas = {"agent": agent, "supervisor": supervisor}
    arrange, form, event_type, shows = ACTIONS[action]
    complaint = arrange(acknowledge(make_complaint(), agent), personas)
    before = last_event_id(complaint)

    answer = run_action(root, action, [complaint], **form(personas))

    assert answer.status_code == 200
    assert [str(m) for m in answer.context["messages"] if m.level_tag == "error"] == []
    assert written_since(complaint, before) == [(event_type, True)]
    assert shows(Complaint.objects.get(pk=complaint.pk), personas)


def test_a_hold_from_the_admin_pauses_the_clocks_and_release_resumes_them(
    root, make_complaint, agent
):
    complaint = acknowledge(make_complaint(), agent)
    assert Clock.objects.filter(complaint=complaint, state=ClockState.RUNNING).exists()

    run_action(root, "put_on_hold", [complaint], reason="Waiting for a statement.")

    assert not Clock.objects.filter(complaint=complaint, state=ClockState.RUNNING).exists()
    assert Clock.objects.filter(complaint=complaint, state=ClockState.PAUSED).exists()

    run_action(root, "release_hold", [complaint], reason="")

    assert not Clock.objects.filter(complaint=complaint, state=ClockState.PAUSED).exists()


def test_a_complaint_the_service_refuses_is_named_and_left_as_it_was(
    root, make_complaint, agent, root_causes
):
    open_one = acknowledge(make_complaint(), agent)
    resolved = resolve(acknowledge(make_complaint(subject="Late refund"), agent), agent)
    marks = {c.pk: last_event_id(c) for c in (open_one, resolved)}
    outbox = Outbox.objects.count()

    answer = run_action(root, "reopen", [open_one, resolved], reason="Not fixed.")

    errors = [str(m) for m in answer.context["messages"] if m.level_tag == "error"]
    assert len(errors) == 1
    assert errors[0].startswith(f"{open_one.reference}: ")
    assert written_since(open_one, marks[open_one.pk]) == []
    assert Complaint.objects.get(pk=open_one.pk).state == "acknowledged"
    # The other complaint went ahead, in its own transaction.
    assert written_since(resolved, marks[resolved.pk]) == [("reopened", True)]
    assert Outbox.objects.count() == outbox + 1


def test_an_action_without_its_required_reason_shows_the_form_again_and_writes_nothing(
    root, make_complaint, agent
):
    complaint = acknowledge(make_complaint(), agent)
    before = last_event_id(complaint)

    answer = root.post(
        CHANGELIST,
        {"action": "escalate", "_selected_action": [complaint.pk], "apply": "yes", "reason": ""},
    )

    assert answer.status_code == 200
    assert answer.context["form"].errors == {"reason": ["This field is required."]}
    assert written_since(complaint, before) == []
    assert Complaint.objects.get(pk=complaint.pk).escalation_level == 0


def test_the_change_form_ignores_posted_workflow_fields_and_stops_no_clock(
    root, make_complaint, agent, other_team
):
    complaint = Complaint.objects.get(pk=acknowledge(make_complaint(), agent).pk)
    clocks = list(Clock.objects.filter(complaint=complaint).values("kind", "state", "due_at"))
    change = f"{CHANGELIST}{complaint.pk}/change/"
    page = root.get(change)
    workflow = {
        "assignee": str(agent.pk),
        "team": str(other_team.pk),
        "awaiting_customer": "on",
        "escalation_level": "3",
        "next_deadline_at_0": "2030-01-01",
        "next_deadline_at_1": "09:00:00",
        "severity": "critical",
        "category": "",
        "regulatory_profile": "fca",
    }
    assert set(page.context["adminform"].form.fields).isdisjoint(
        {name.removesuffix("_0").removesuffix("_1") for name in workflow}
    )
    before = last_event_id(complaint)

    answer = root.post(change, {**page_data(page, fill=None, add_inline_rows=False), **workflow})

    assert answer.status_code == 302, page_errors(answer)
    saved = Complaint.objects.get(pk=complaint.pk)
    assert (
        saved.assignee_id,
        saved.team_id,
        saved.awaiting_customer,
        saved.escalation_level,
        saved.next_deadline_at,
        saved.severity,
        saved.regulatory_profile,
    ) == (
        complaint.assignee_id,
        complaint.team_id,
        False,
        0,
        complaint.next_deadline_at,
        complaint.severity,
        complaint.regulatory_profile,
    )
    assert list(Clock.objects.filter(complaint=complaint).values("kind", "state", "due_at")) == (
        clocks
    )
    # Nothing descriptive changed either, so nothing was written.
    assert written_since(complaint, before) == []


# -- recoveries ----------------------------------------------------------------------------

RECOVERIES = "/admin/recovery/recoveryaction/"
# A refund above any agent's limit waits for an approver; an apology is offered at once.
AWAITING = {"type": "refund", "amount": "100000.00", "currency": "GBP"}
RECOVERY_ACTIONS = {
    "approve": (AWAITING, {"reason": "Checked the statement."}, "recovery_approved", "approved"),
    "decline": (AWAITING, {"reason": "Already refunded."}, "recovery_declined", "declined"),
    "deliver": ({}, {"note": "Letter posted."}, "recovery_delivered", "delivered"),
}


def test_every_recovery_admin_action_is_covered_here(rf: RequestFactory):
    request = rf.get(RECOVERIES)
    request.user = UserFactory(username="root", is_staff=True, is_superuser=True)

    assert set(admin.site._registry[RecoveryAction].get_actions(request)) == set(RECOVERY_ACTIONS)


@pytest.mark.parametrize("action", sorted(RECOVERY_ACTIONS))
def test_each_recovery_admin_action_runs_its_service(root, customer_user, agent, action):
    proposal, form, event_type, status = RECOVERY_ACTIONS[action]
    complaint = complaint_in_state(State.ACKNOWLEDGED, by=customer_user, agent=agent)
    recovery = RecoveryActionFactory(complaint=complaint, actor=agent, **proposal)
    before = last_event_id(complaint)
    selected = {"action": action, "_selected_action": [recovery.pk]}

    assert root.post(RECOVERIES, selected).status_code == 200
    answer = root.post(RECOVERIES, {**selected, "apply": "yes", **form}, follow=True)

    assert [str(m) for m in answer.context["messages"] if m.level_tag == "error"] == []
    assert written_since(complaint, before) == [(event_type, True)]
    assert RecoveryAction.objects.get(pk=recovery.pk).status == status


def test_a_recovery_already_decided_is_refused_with_the_services_reason(root, customer_user, agent):
    complaint = complaint_in_state(State.ACKNOWLEDGED, by=customer_user, agent=agent)
    recovery = RecoveryActionFactory(complaint=complaint, actor=agent)  # offered, no approval
    before = last_event_id(complaint)

    answer = root.post(
        RECOVERIES,
        {"action": "approve", "_selected_action": [recovery.pk], "apply": "yes", "reason": "Ok."},
        follow=True,
    )

    errors = [str(m) for m in answer.context["messages"] if m.level_tag == "error"]
    assert len(errors) == 1
    assert "nothing is awaiting your decision" in errors[0]
    assert written_since(complaint, before) == []
    assert RecoveryAction.objects.get(pk=recovery.pk).status == "proposed"
