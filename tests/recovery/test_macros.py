"""Macros as a service: saving them (supervisors only, known placeholders, one live name),
choosing them (who is offered which, suggested first) and using them (through the
acknowledgement, message and hold services, all or nothing).

Personas: ``supervisor`` (of Billing) manages macros; ``agent`` works Billing;
``other_agent`` works Delivery.
"""

import threading

import pytest
from django.db import connection

from common.errors import Conflict, PermissionDenied, TransitionNotAllowed, ValidationFailed
from recovery.models import (
    Category,
    Complaint,
    ComplaintEvent,
    EventType,
    Macro,
    MacroVisibility,
    Message,
    MessageKind,
    State,
)
from recovery.services import macros
from recovery.services.lifecycle import complaint_withdraw
from tests.conftest import acknowledge

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def fields(**overrides) -> macros.MacroFields:
    values = {
        "name": "Looking into it",
        "body": "Dear {customer_name}, we are looking into {reference} and will answer "
        "{resolve_by}. {agent_name}",
        "next_steps": "We will write to you {resolve_by}.",
    }
    values.update(overrides)
    return macros.MacroFields(**values)


def fresh(complaint) -> Complaint:
    return Complaint.objects.get(pk=complaint.pk)


# -- saving ------------------------------------------------------------------------------


def test_a_supervisor_saves_a_macro_and_an_agent_may_not(supervisor, agent):
    macro = macros.macro_save(actor=supervisor, fields=fields())

    assert Macro.objects.get(pk=macro.pk).name == "Looking into it"
    with pytest.raises(PermissionDenied, match="Only supervisors manage macros"):
        macros.macro_save(actor=agent, fields=fields(name="Mine"))
    assert Macro.objects.count() == 1


def test_an_unknown_placeholder_is_refused_at_save_naming_it(supervisor):
    with pytest.raises(ValidationFailed) as refused:
        macros.macro_save(
            actor=supervisor,
            fields=fields(body="Hello {customer_name}, {__class__} {balance}", next_steps="{x}"),
        )

    details = refused.value.details
    assert "{__class__}, {balance}" in details["body"][0]
    assert "{customer_name}" in details["body"][0]  # says which ones are known
    assert "{x}" in details["next_steps"][0]
    assert not Macro.objects.exists()


def test_filling_substitutes_only_the_fixed_placeholders(make_complaint, agent):
    complaint = make_complaint()
    values = macros.values_for(complaint, agent, None)
    text = macros.fill(
        "{reference} {customer_name} {resolve_by} {agent_name} {unknown} {{reference}} "
        "{0} {reference.__class__}",
        values,
    )

    assert text.startswith(f"{complaint.reference} {complaint.customer.name} as soon as we can ")
    # Anything else stays as written: no attribute lookup, no formatting language.
    assert "{unknown}" in text and "{0}" in text and "{reference.__class__}" in text
    assert "{" + complaint.reference + "}" in text


def test_a_second_live_macro_of_the_same_name_is_refused_but_an_archived_one_frees_it(
    supervisor,
):
    first = macros.macro_save(actor=supervisor, fields=fields())
    with pytest.raises(ValidationFailed, match="already called"):
        macros.macro_save(actor=supervisor, fields=fields(name="looking  INTO it"))

    macros.macro_archive(actor=supervisor, macro_id=first.pk)
    again = macros.macro_save(actor=supervisor, fields=fields())
    assert again.pk != first.pk


def test_a_team_macro_needs_its_team_and_a_personal_one_belongs_to_its_author(supervisor, team):
    with pytest.raises(ValidationFailed) as refused:
        macros.macro_save(actor=supervisor, fields=fields(visibility=MacroVisibility.TEAM))
    assert "team" in refused.value.details

    mine = macros.macro_save(
        actor=supervisor, fields=fields(visibility=MacroVisibility.PERSONAL, team=team)
    )
    assert (mine.owner_id, mine.team_id) == (supervisor.pk, None)


def test_an_archived_macro_cannot_be_changed(supervisor):
    macro = macros.macro_save(actor=supervisor, fields=fields())
    macros.macro_archive(actor=supervisor, macro_id=macro.pk)

    with pytest.raises(ValidationFailed, match="archived"):
        macros.macro_save(actor=supervisor, fields=fields(name="Other"), macro_id=macro.pk)


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgresql(reason="two connections racing on the live-name constraint")
def test_two_supervisors_creating_one_name_at_once_save_one(migration_data, groups, team):
    from recovery import roles
    from tests.conftest import _staff

    people = [_staff(f"sup{n}", groups[roles.SUPERVISOR], team) for n in range(2)]
    barrier = threading.Barrier(2)
    outcomes = []

    def create(person):
        try:
            barrier.wait()
            macros.macro_save(actor=person, fields=fields())
            outcomes.append("saved")
        except ValidationFailed as error:
            outcomes.append(error.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(person,)) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes)[-1] == "saved"
    assert "already called" in sorted(outcomes)[0]
    assert Macro.objects.count() == 1


# -- choosing ----------------------------------------------------------------------------


def test_each_person_is_offered_everyones_the_complaints_teams_and_their_own(
    supervisor, agent, other_team, make_complaint
):
    category = Category.objects.create(name="Card payments", slug="card-payments")
    complaint = make_complaint()
    complaint.category = category
    complaint.save(update_fields=["category"])
    shared = macros.macro_save(actor=supervisor, fields=fields(name="A shared"))
    billing = macros.macro_save(
        actor=supervisor,
        fields=fields(name="B billing", visibility=MacroVisibility.TEAM, team=complaint.team),
    )
    macros.macro_save(
        actor=supervisor,
        fields=fields(name="C delivery", visibility=MacroVisibility.TEAM, team=other_team),
    )
    own = macros.macro_save(
        actor=supervisor, fields=fields(name="D mine", visibility=MacroVisibility.PERSONAL)
    )
    suggested = macros.macro_save(
        actor=supervisor, fields=fields(name="Z for card payments", category=category)
    )

    offered = macros.macros_for(fresh(complaint), agent)
    assert [row.macro.pk for row in offered] == [suggested.pk, shared.pk, billing.pk]
    assert [row.suggested for row in offered] == [True, False, False]
    assert own.pk in [row.macro.pk for row in macros.macros_for(fresh(complaint), supervisor)]


def test_a_macro_for_the_complaints_root_cause_is_suggested_first(
    supervisor, agent, make_complaint, root_causes
):
    complaint = make_complaint()
    cause = next(iter(root_causes.values()))
    from recovery.models import ComplaintRootCause

    ComplaintRootCause.objects.create(complaint=complaint, root_cause=cause, is_primary=True)
    macros.macro_save(actor=supervisor, fields=fields(name="A general"))
    by_cause = macros.macro_save(actor=supervisor, fields=fields(name="Z", root_cause=cause))

    assert macros.macros_for(fresh(complaint), agent)[0].macro.pk == by_cause.pk


# -- using -------------------------------------------------------------------------------


def test_a_macro_on_a_received_complaint_acknowledges_it_with_the_filled_text(
    supervisor, agent, make_complaint
):
    complaint = make_complaint()
    agent.first_name, agent.last_name = "Ada", "Agent"
    agent.save()
    macro = macros.macro_save(actor=supervisor, fields=fields())

    outcome = macros.macro_use(complaint=fresh(complaint), actor=agent, macro_id=macro.pk)

    complaint = fresh(complaint)
    assert outcome == "acknowledged"
    assert complaint.state == State.ACKNOWLEDGED
    sent = Message.objects.get(complaint=complaint, kind=MessageKind.ACKNOWLEDGEMENT)
    assert f"Dear {complaint.customer.name}, we are looking into {complaint.reference}" in (
        sent.body
    )
    assert "Ada Agent" in sent.body and "{" not in sent.body
    assert "What happens next: We will write to you by " in sent.body
    assert ComplaintEvent.objects.filter(
        complaint=complaint, type=EventType.ACKNOWLEDGED, actor=agent
    ).exists()


def test_a_macro_on_an_acknowledged_complaint_replies_and_puts_it_on_hold(
    supervisor, agent, make_complaint
):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    macro = macros.macro_save(actor=supervisor, fields=fields(puts_on_hold=True))

    outcome = macros.macro_use(
        complaint=fresh(complaint), actor=agent, macro_id=macro.pk, body="Edited by me."
    )

    complaint = fresh(complaint)
    assert outcome == "replied"
    assert complaint.awaiting_customer
    assert Message.objects.filter(complaint=complaint, kind=MessageKind.REPLY).get().body == (
        "Edited by me."
    )
    types = list(ComplaintEvent.objects.filter(complaint=complaint).values_list("type", flat=True))
    assert EventType.MESSAGE_ADDED in types and EventType.AWAITING_CUSTOMER in types


def test_a_refused_hold_undoes_the_reply(supervisor, agent, make_complaint, root_causes):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    from tests.conftest import resolve

    resolve(fresh(complaint), agent)
    macro = macros.macro_save(actor=supervisor, fields=fields(puts_on_hold=True))
    before = Message.objects.filter(complaint=complaint).count()

    with pytest.raises(TransitionNotAllowed, match="only open complaints"):
        macros.macro_use(complaint=fresh(complaint), actor=agent, macro_id=macro.pk)

    assert Message.objects.filter(complaint=complaint).count() == before


def test_acknowledging_needs_what_happens_next(supervisor, agent, make_complaint):
    complaint = make_complaint()
    macro = macros.macro_save(actor=supervisor, fields=fields(next_steps=""))

    with pytest.raises(ValidationFailed, match="says nothing of what happens next"):
        macros.macro_use(complaint=fresh(complaint), actor=agent, macro_id=macro.pk)
    assert fresh(complaint).state == State.RECEIVED


def test_an_archived_another_teams_or_someone_elses_macro_is_refused(
    supervisor, agent, other_team, make_complaint
):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    archived = macros.macro_save(actor=supervisor, fields=fields(name="Old"))
    macros.macro_archive(actor=supervisor, macro_id=archived.pk)
    theirs = macros.macro_save(
        actor=supervisor,
        fields=fields(name="Delivery", visibility=MacroVisibility.TEAM, team=other_team),
    )
    personal = macros.macro_save(
        actor=supervisor, fields=fields(name="Mine", visibility=MacroVisibility.PERSONAL)
    )

    with pytest.raises(ValidationFailed, match="was archived"):
        macros.macro_use(complaint=fresh(complaint), actor=agent, macro_id=archived.pk)
    for macro in (theirs, personal):
        with pytest.raises(PermissionDenied, match="is not offered on"):
            macros.macro_use(complaint=fresh(complaint), actor=agent, macro_id=macro.pk)
    assert not Message.objects.filter(complaint=complaint, kind=MessageKind.REPLY).exists()


def test_a_complaint_that_changed_state_since_the_page_is_refused(
    supervisor, agent, make_complaint, customer_user
):
    complaint = make_complaint()
    macro = macros.macro_save(actor=supervisor, fields=fields())
    complaint_withdraw(complaint=fresh(complaint), actor=customer_user, reason="Sorted")

    with pytest.raises(Conflict, match="changed while you were looking"):
        macros.macro_use(
            complaint=complaint,
            actor=agent,
            macro_id=macro.pk,
            body="Hello",
            next_steps="Soon",
            expected_state=State.RECEIVED,
        )
    with pytest.raises(TransitionNotAllowed, match="withdrawn"):
        macros.macro_use(complaint=complaint, actor=agent, macro_id=macro.pk, body="Hello")


# -- category and root cause -------------------------------------------------------------


def test_a_macro_naming_a_category_moves_the_complaint_in_the_same_transaction(
    supervisor, agent, make_complaint
):
    from escalation.models import Clock

    category = Category.objects.create(name="Card payments", slug="card-payments")
    complaint = make_complaint()
    acknowledge(complaint, agent)
    macro = macros.macro_save(actor=supervisor, fields=fields(category=category))

    # The agent may not move complaints by hand, but the supervisor's macro does.
    macros.macro_use(complaint=fresh(complaint), actor=agent, macro_id=macro.pk)

    assert fresh(complaint).category == category
    event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.CATEGORY_CHANGED)
    assert event.actor == agent
    assert event.parameters["macro"] == {"id": macro.pk, "name": "Looking into it"}
    assert event.parameters["after"] == {"id": category.pk, "name": "Card payments"}
    # Re-planned from its start (the Standard policy matches every category: same target).
    resolve_clock = Clock.objects.get(complaint=complaint, kind="resolve", regulatory_profile="")
    assert resolve_clock.started_at == complaint.received_at

    # Used again on a complaint already in that category: nothing to move.
    macros.macro_use(complaint=fresh(complaint), actor=agent, macro_id=macro.pk)
    assert ComplaintEvent.objects.filter(type=EventType.CATEGORY_CHANGED).count() == 1


def test_a_macro_whose_category_was_retired_sends_nothing(supervisor, agent, make_complaint):
    category = Category.objects.create(name="Card payments", slug="card-payments")
    complaint = make_complaint()
    acknowledge(complaint, agent)
    macro = macros.macro_save(actor=supervisor, fields=fields(category=category))
    Category.objects.filter(pk=category.pk).update(is_active=False)

    with pytest.raises(ValidationFailed) as refused:
        macros.macro_use(complaint=fresh(complaint), actor=agent, macro_id=macro.pk)

    assert "category" in refused.value.details
    # All or nothing: the reply went back with the refused move.
    assert not Message.objects.filter(complaint=complaint, kind=MessageKind.REPLY).exists()
    assert fresh(complaint).category is None


def test_a_macro_naming_a_root_cause_suggests_it_and_tells_nobody(
    supervisor, agent, make_complaint, root_causes
):
    from notifications.models import Outbox

    complaint = make_complaint()
    acknowledge(complaint, agent)
    macro = macros.macro_save(
        actor=supervisor, fields=fields(root_cause=root_causes["billing.refund-delay"])
    )

    macros.macro_use(complaint=fresh(complaint), actor=agent, macro_id=macro.pk)

    event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.ROOT_CAUSE_SUGGESTED)
    assert event.parameters["root_cause"] == "billing.refund-delay"
    assert event.parameters["macro"]["name"] == "Looking into it"
    outbox = Outbox.objects.get(event_type="complaint.root_cause_suggested")
    assert (outbox.audience["users"], outbox.audience["teams"], outbox.audience["customer"]) == (
        [],
        [],
        None,
    )
    # Suggested, not recorded: causes are recorded when resolving.
    assert not fresh(complaint).root_causes.exists()
