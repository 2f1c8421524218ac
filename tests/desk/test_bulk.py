"""Bulk actions from a queue, without a browser: the selection's limits and mistakes said
precisely (nothing done), each complaint through its own service with its own timeline
event, a refusal on its row undoing nothing of the others, and the result shown by a GET
that never does it again.

Personas: ``supervisor`` (of Billing) hands work out; ``agent`` works Billing;
``other_agent`` works Delivery (``other_team``).
"""

import pytest

from desk.bulk_forms import BULK_LIMIT
from escalation.models import Escalation
from recovery.models import Complaint, ComplaintEvent, EventType, Macro, Message, MessageKind
from recovery.services import macros
from recovery.services.lifecycle import complaint_withdraw
from tests.conftest import acknowledge
from tests.desk.conftest import signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def post(client, references, **data):
    return client.post(
        "/desk/bulk/", {"complaints": references, "back": "/desk/team/", **data}, follow=True
    )


def rows_of(response) -> dict[str, str]:
    """Each complaint's row of the result: reference -> its text."""
    import re

    html = response.content.decode()
    found = re.findall(
        r'<tr data-reference="([^"]+)" class="(done|refused)">(.*?)</tr>', html, re.S
    )
    return {
        reference: f"{state}: {re.sub(r'<[^>]+>', ' ', text)}" for reference, state, text in found
    }


def test_a_supervisor_assigns_a_selection_each_with_its_event_and_one_refused(
    supervisor, agent, make_complaint, customer_user
):
    complaints = [make_complaint(subject=f"Spike {n}") for n in range(4)]
    complaint_withdraw(complaint=complaints[2], actor=customer_user, reason="Sorted")
    client = signed_in(supervisor)

    answer = post(
        client,
        [c.reference for c in complaints],
        action="assign",
        assignee=agent.username,
        reason="Spike of duplicate charges",
    )

    assert answer.status_code == 200
    assert answer.redirect_chain[-1][0] == "/desk/bulk/"
    rows = rows_of(answer)
    assert list(rows) == [c.reference for c in complaints]
    assert "Assign: 3 done, 1 refused." in answer.content.decode()
    assert rows[complaints[2].reference].startswith("refused:")
    assert "is withdrawn; only open complaints are handed out." in rows[complaints[2].reference]
    for complaint in complaints[:2] + complaints[3:]:
        assert rows[complaint.reference].startswith("done:")
        assert Complaint.objects.get(pk=complaint.pk).assignee_id == agent.pk
        event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.ASSIGNED)
        assert event.actor_id == supervisor.pk
    assert Complaint.objects.get(pk=complaints[2].pk).assignee_id is None


def test_reloading_the_result_shows_it_again_and_does_nothing(supervisor, agent, make_complaint):
    complaint = make_complaint()
    client = signed_in(supervisor)
    post(client, [complaint.reference], action="assign", assignee="me")

    again = client.get("/desk/bulk/")

    assert rows_of(again) == {complaint.reference: rows_of(again)[complaint.reference]}
    assert ComplaintEvent.objects.filter(complaint=complaint, type=EventType.ASSIGNED).count() == 1


@pytest.mark.parametrize(
    ("references", "message"),
    [
        ([], "Select at least one complaint"),
        (["RDR-2026-000001", "<script>"], "is not a complaint reference"),
        (
            [f"RDR-2026-{n:06d}" for n in range(BULK_LIMIT + 1)],
            "At most 200 complaints at once: you selected 201",
        ),
    ],
)
def test_a_selection_that_is_empty_malformed_or_too_large_does_nothing(
    supervisor, make_complaint, references, message
):
    complaint = make_complaint()
    client = signed_in(supervisor)

    answer = (
        post(client, [*references, complaint.reference], action="hold")
        if references
        else post(client, [], action="hold")
    )

    assert answer.status_code == 400
    assert message in answer.content.decode()
    assert not Complaint.objects.get(pk=complaint.pk).awaiting_customer


def test_the_same_complaint_twice_is_done_once(supervisor, make_complaint):
    complaint = make_complaint()
    client = signed_in(supervisor)

    answer = post(client, [complaint.reference, complaint.reference], action="hold")

    assert list(rows_of(answer)) == [complaint.reference]
    assert (
        ComplaintEvent.objects.filter(complaint=complaint, type=EventType.AWAITING_CUSTOMER).count()
        == 1
    )


def test_each_action_says_what_it_needs(supervisor, make_complaint):
    complaint = make_complaint()
    client = signed_in(supervisor)
    cases = {
        "assign": ({"assignee": ""}, "Say whom to assign them to"),
        "move": ({}, "Choose the team to move them to"),
        "escalate": ({"reason": "  "}, "Give the reason for escalating"),
        "macro": ({}, "Choose the macro to send"),
    }
    for action, (extra, message) in cases.items():
        answer = post(client, [complaint.reference], action=action, **extra)
        assert answer.status_code == 400, action
        assert message in answer.content.decode(), action
    answer = post(client, [complaint.reference], action="assign", assignee="nobody-here")
    assert "Nobody on the staff is called nobody-here" in answer.content.decode()
    answer = post(client, [complaint.reference], action="delete")
    assert answer.status_code == 400


def test_an_agent_may_not_hand_out_move_or_escalate_in_bulk(agent, make_complaint):
    complaint = make_complaint()
    client = signed_in(agent)

    for action, extra in (
        ("assign", {"assignee": "me"}),
        ("move", {"team": complaint.team_id}),
        ("escalate", {"reason": "x"}),
    ):
        answer = post(client, [complaint.reference], action=action, **extra)
        assert answer.status_code == 403, action
    assert Complaint.objects.get(pk=complaint.pk).assignee_id is None


@pytest.mark.parametrize(
    ("action", "extra", "refusal"),
    [
        ("assign", {"assignee": "me"}, "You may not assign complaints."),
        ("move", {"team": "team"}, "You may not move complaints to another team."),
        ("escalate", {"reason": "x"}, "You may not escalate complaints."),
    ],
)
def test_a_refused_bulk_action_is_said_in_a_sentence_of_its_own(
    agent, make_complaint, action, extra, refusal
):
    complaint = make_complaint()
    if extra.get("team") == "team":
        extra = {"team": complaint.team_id}

    answer = post(signed_in(agent), [complaint.reference], action=action, **extra)

    assert answer.status_code == 403
    assert f"<p>{refusal}</p>" in answer.content.decode()


def test_the_bar_offers_only_the_macros_the_agent_may_use_on_the_queue(
    agent, supervisor, other_agent, make_complaint, team, other_team
):
    ours = make_complaint()
    acknowledge(ours, agent)
    for name, visibility, macro_team in (
        ("Everyone's macro", "everyone", None),
        ("Billing team macro", "team", team),
        ("Delivery team macro", "team", other_team),
    ):
        macros.macro_save(
            actor=supervisor,
            fields=macros.MacroFields(
                name=name, body="We are on it.", visibility=visibility, team=macro_team
            ),
        )
    for name, owner in (("Agent's own macro", agent), ("Someone else's macro", other_agent)):
        Macro.objects.create(name=name, body="We are on it.", visibility="personal", owner=owner)
    html = signed_in(agent).get("/desk/team/").content.decode()

    offered = html.split('id="bulk-macro"', 1)[1].split("</select>", 1)[0]
    assert "Everyone&#x27;s macro" in offered and "Billing team macro" in offered
    assert "Agent&#x27;s own macro" in offered
    assert "Delivery team macro" not in offered and "Someone else" not in offered
    # What it offers works on the agent's complaints.
    billing = next(pk for pk, name in macros_offered(html) if name == "Billing team macro")
    rows = rows_of(post(signed_in(agent), [ours.reference], action="macro", macro=billing))
    assert rows[ours.reference].startswith("done"), rows


def macros_offered(html: str) -> list[tuple[int, str]]:
    import re

    chooser = html.split('id="bulk-macro"', 1)[1].split("</select>", 1)[0]
    return [(int(pk), name) for pk, name in re.findall(r'<option value="(\d+)">([^<]+)<', chooser)]


def test_an_agent_holds_their_teams_complaints_and_is_told_of_another_teams(
    agent, make_complaint, other_team
):
    ours = make_complaint()
    theirs = make_complaint(routed_to=other_team)
    client = signed_in(agent)

    rows = rows_of(post(client, [ours.reference, theirs.reference], action="hold", reason="Docs"))

    assert rows[ours.reference].startswith("done:")
    assert rows[theirs.reference].startswith("refused:")
    assert Complaint.objects.get(pk=ours.pk).awaiting_customer
    assert not Complaint.objects.get(pk=theirs.pk).awaiting_customer
    # A second hold is said, not silently done again.
    again = rows_of(post(client, [ours.reference], action="hold"))
    assert "already on hold" in again[ours.reference]


def test_a_supervisor_moves_and_escalates_in_bulk(supervisor, make_complaint, other_team):
    complaints = [make_complaint() for _ in range(2)]
    client = signed_in(supervisor)

    moved = rows_of(
        post(client, [c.reference for c in complaints], action="escalate", reason="Media interest")
    )
    assert all(text.startswith("done:") for text in moved.values())
    assert Escalation.objects.filter(complaint__in=complaints, manual=True).count() == 2

    rows = rows_of(
        post(client, [c.reference for c in complaints], action="move", team=other_team.pk)
    )
    assert all(text.startswith("done:") for text in rows.values())
    assert set(
        Complaint.objects.filter(pk__in=[c.pk for c in complaints]).values_list("team", flat=True)
    ) == {other_team.pk}


def test_a_macro_in_bulk_replies_to_each_and_refuses_one_it_cannot_acknowledge(
    supervisor, agent, make_complaint
):
    answered = [make_complaint() for _ in range(2)]
    for complaint in answered:
        acknowledge(complaint, agent)
    unacknowledged = make_complaint()
    macro = macros.macro_save(
        actor=supervisor,
        fields=macros.MacroFields(
            name="Outage", body="Dear {customer_name}, about {reference}: the outage is over."
        ),
    )
    client = signed_in(agent)

    rows = rows_of(
        post(
            client,
            [answered[0].reference, unacknowledged.reference, answered[1].reference],
            action="macro",
            macro=macro.pk,
        )
    )

    for complaint in answered:
        assert rows[complaint.reference].startswith("done:")
        reply = Message.objects.get(complaint=complaint, kind=MessageKind.REPLY)
        assert (
            reply.body
            == f"Dear {complaint.customer.name}, about {complaint.reference}: the outage is over."
        )
    assert "says nothing of what happens next" in rows[unacknowledged.reference]
    assert not Message.objects.filter(complaint=unacknowledged, kind=MessageKind.REPLY).exists()


def test_the_queue_offers_the_bar_and_a_box_per_row(agent, make_complaint, supervisor):
    complaint = make_complaint()
    macros.macro_save(
        actor=supervisor,
        fields=macros.MacroFields(name="Personal one", body="Hi", visibility="personal"),
    )
    html = signed_in(agent).get("/desk/team/").content.decode()

    assert 'id="bulk-form"' in html
    assert f'name="complaints" value="{complaint.reference}" form="bulk-form"' in html
    # An agent is offered what they may do, and nobody else's personal macro.
    assert 'value="hold"' in html and 'value="assign"' not in html
    assert "Personal one" not in html


def test_the_way_back_is_only_ever_a_desk_page(supervisor, make_complaint):
    complaint = make_complaint()
    client = signed_in(supervisor)

    for back in ("https://evil.example/", "//evil.example/desk/", "javascript:alert(1)"):
        answer = client.post(
            "/desk/bulk/",
            {"complaints": [complaint.reference], "action": "hold", "back": back},
            follow=True,
        )
        assert back not in answer.content.decode()
        assert 'href="/desk/"' in answer.content.decode()


def test_bulk_assign_to_someone_outside_the_complaints_team_is_refused_on_each_row(
    supervisor, agent, other_agent, make_complaint, other_team
):
    complaints = [make_complaint(subject=f"Charged twice {n}") for n in range(2)]
    client = signed_in(supervisor)

    answer = post(
        client, [c.reference for c in complaints], action="assign", assignee=other_agent.username
    )

    assert "Assign: 0 done, 2 refused." in answer.content.decode()
    rows = rows_of(answer)
    for complaint in complaints:
        assert "other_agent does not work in the Billing team." in rows[complaint.reference]
        assert Complaint.objects.get(pk=complaint.pk).assignee_id is None
        assert not ComplaintEvent.objects.filter(complaint=complaint, type=EventType.ASSIGNED)


def test_a_reference_out_of_reach_is_told_apart_from_one_that_is_not_worked(
    agent, supervisor, make_complaint, other_team
):
    theirs = make_complaint(routed_to=other_team)
    missing = "RDR-9999-000001"
    client = signed_in(supervisor)

    rows = rows_of(post(client, [theirs.reference, missing], action="assign", assignee="me"))

    # Another team's complaint and one that does not exist read the same to someone who may
    # not see it: the answer does not confirm that it exists, nor say whose it is.
    assert rows[missing] == rows[theirs.reference].replace(theirs.reference, missing)
    assert f"No complaint you may work on has the reference {missing}." in rows[missing]
    assert "Delivery" not in rows[theirs.reference]
    assert Complaint.objects.get(pk=theirs.pk).assignee_id is None


def test_a_manager_is_told_a_reference_does_not_exist(manager, make_complaint):
    missing = "RDR-9999-000001"

    rows = rows_of(post(signed_in(manager), [missing], action="assign", assignee="me"))

    assert "There is no complaint RDR-9999-000001." in rows[missing]
