"""The board that acts, without a browser: each card names the deadlines missed and by how
much; take, assign, move team and escalate from a card (allowed, refused with a message on
the board, each with its timeline event); the approval cards' context; the approvals count
in the header.

Personas: ``supervisor`` (of Billing, the complaints' team) hands work out; ``agent`` and
``colleague`` work Billing; ``other_agent`` works Delivery (``other_team``); ``manager`` sees
every team.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalation.models import Clock, ClockKind, ClockState, Escalation
from recovery import selectors as recovery_selectors
from recovery.models import ApprovalLimit, Complaint, ComplaintEvent, EventType, RecoveryAction
from recovery.models.remedies import ANY_CURRENCY, RecoveryStatus
from recovery.services import remedies
from recovery.services.lifecycle import complaint_withdraw
from recovery.services.sla import complaint_assign
from tests.conftest import acknowledge, resolve
from tests.desk.conftest import signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 3, 18, 10, 0, tzinfo=UTC)  # a Wednesday


def text_of(response) -> str:
    return response.content.decode()


def breach(complaint, *, ago=timedelta(hours=1), kind=ClockKind.ACKNOWLEDGE, statutory=None):
    """Put the complaint's ``kind`` clocks (only the statutory or internal one, if said) past
    due by ``ago``: the board lists it as breached."""
    clocks = Clock.objects.filter(complaint=complaint, kind=kind)
    if statutory is not None:
        clocks = (
            clocks.exclude(regulatory_profile="")
            if statutory
            else clocks.filter(regulatory_profile="")
        )
    assert clocks.exists(), f"{complaint.reference} has no {kind} clock"
    now = timezone.now()
    clocks.update(
        state=ClockState.RUNNING,
        started_at=now - ago - timedelta(days=1),
        warn_at=now - ago - timedelta(hours=1),
        due_at=now - ago,
    )
    Complaint.objects.filter(pk=complaint.pk).update(next_deadline_at=now - ago)
    return complaint


def card(html: str, reference: str) -> str:
    start = html.index(f'id="card-{reference}"')
    return html[start : html.index("</li>\n", html.index('class="card-actions"', start))]


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


# -- which deadline was missed, and by how much --------------------------------------------


def test_a_card_names_the_missed_deadline_and_by_how_much(supervisor, make_complaint, frozen):
    complaint = breach(make_complaint(), ago=timedelta(days=2, hours=3))

    html = text_of(signed_in(supervisor).get("/desk/board/"))

    assert "Acknowledge — internal — overdue by 2 d 3 h" in card(html, complaint.reference)


def test_a_statutory_deadline_shows_beside_the_firms_tighter_target(
    supervisor, make_complaint, frozen
):
    complaint = make_complaint(regulatory_profile="uk_fca_disp", jurisdiction="GB-ENG")
    breach(complaint, kind=ClockKind.RESOLVE, statutory=False, ago=timedelta(days=2, hours=3))
    breach(complaint, kind=ClockKind.RESOLVE, statutory=True, ago=timedelta(hours=5))

    shown = card(text_of(signed_in(supervisor).get("/desk/board/")), complaint.reference)

    internal = "Resolve — internal — overdue by 2 d 3 h"
    statutory = "Resolve — statutory — overdue by 5 h"
    assert internal in shown and statutory in shown
    assert shown.index(internal) < shown.index(statutory)  # side by side, the target first
    assert 'title="Statutory · DISP 1.6.2R (UK FCA DISP)"' in shown


def test_an_at_risk_card_says_how_long_is_left(supervisor, make_complaint, frozen):
    complaint = make_complaint()
    Clock.objects.filter(complaint=complaint, kind=ClockKind.ACKNOWLEDGE).update(
        warn_at=NOW - timedelta(minutes=10), due_at=NOW + timedelta(hours=1, minutes=20)
    )

    shown = card(text_of(signed_in(supervisor).get("/desk/board/")), complaint.reference)

    assert "Acknowledge — internal — due in 1 h 20 min" in shown


def test_the_cards_deadlines_cost_one_query_however_many_cards(supervisor, make_complaint):
    client = signed_in(supervisor)
    breach(make_complaint())
    client.get("/desk/board/")  # warm: session, permissions
    with CaptureQueriesContext(connection) as one:
        client.get("/desk/board/")
    for _ in range(10):
        breach(make_complaint())
    with CaptureQueriesContext(connection) as eleven:
        html = text_of(client.get("/desk/board/"))

    assert html.count("Acknowledge — internal — overdue by") == 11
    assert len(one) == len(eleven), [q["sql"] for q in eleven]


# -- take ------------------------------------------------------------------------------------


def test_a_supervisor_takes_a_card_and_returns_to_the_board(supervisor, make_complaint):
    complaint = breach(make_complaint())
    client = signed_in(supervisor)

    answer = client.post(
        f"/desk/board/{complaint.reference}/take/", {"seen_assignee": "", "board_team": "billing"}
    )

    assert answer.status_code == 302
    assert answer["Location"] == "/desk/board/?team=billing"
    complaint.refresh_from_db()
    assert complaint.assignee == supervisor
    event = ComplaintEvent.objects.filter(complaint=complaint, type=EventType.ASSIGNED).get()
    assert event.actor == supervisor
    assert event.parameters["assignee_id"] == supervisor.pk
    assert f"{complaint.reference} is yours." in text_of(client.get(answer["Location"]))


def test_an_agent_may_take_from_the_board_and_lands_on_the_complaint(agent, make_complaint):
    complaint = breach(make_complaint())

    answer = signed_in(agent).post(
        f"/desk/board/{complaint.reference}/take/", {"seen_assignee": ""}
    )

    assert answer.status_code == 302
    assert answer["Location"] == f"/desk/complaints/{complaint.reference}/"
    assert Complaint.objects.get(pk=complaint.pk).assignee == agent


def test_taking_a_card_someone_took_meanwhile_is_refused_on_the_board(
    supervisor, agent, make_complaint
):
    complaint = breach(make_complaint())
    client = signed_in(supervisor)
    html = text_of(client.get("/desk/board/"))
    assert 'name="seen_assignee" value=""' in card(html, complaint.reference)
    complaint_assign(complaint=complaint, assignee=agent, actor=agent)  # the agent took it

    answer = client.post(f"/desk/board/{complaint.reference}/take/", {"seen_assignee": ""})

    assert answer.status_code == 409
    body = text_of(answer)
    assert "changed hands while you were looking: it is now assigned to" in body
    assert 'role="alert"' in card(body, complaint.reference)
    assert Complaint.objects.get(pk=complaint.pk).assignee == agent
    assert ComplaintEvent.objects.filter(complaint=complaint, type=EventType.ASSIGNED).count() == 1


def test_another_teams_agent_cannot_take_a_card(other_agent, make_complaint):
    complaint = breach(make_complaint())

    answer = signed_in(other_agent).post(f"/desk/board/{complaint.reference}/take/", {})

    assert answer.status_code == 403
    assert Complaint.objects.get(pk=complaint.pk).assignee is None
    assert not ComplaintEvent.objects.filter(complaint=complaint, type=EventType.ASSIGNED).exists()


def test_a_closed_complaint_is_not_taken(supervisor, agent, make_complaint):
    complaint = breach(make_complaint())
    complaint_withdraw(complaint=complaint, actor=agent, reason="Customer asked us to stop.")

    answer = signed_in(supervisor).post(f"/desk/board/{complaint.reference}/take/", {})

    assert answer.status_code == 409
    assert "only open complaints are taken" in text_of(answer)
    assert Complaint.objects.get(pk=complaint.pk).assignee is None


def test_opening_an_actions_address_goes_to_the_board(supervisor, make_complaint):
    complaint = breach(make_complaint())

    answer = signed_in(supervisor).get(f"/desk/board/{complaint.reference}/escalate/")

    assert answer.status_code == 302
    assert answer["Location"] == "/desk/board/"


# -- assign to a colleague --------------------------------------------------------------------


def test_a_supervisor_assigns_a_card_to_someone_on_its_team(
    supervisor, agent, colleague, other_agent, make_complaint
):
    complaint = breach(make_complaint())
    client = signed_in(supervisor)
    shown = card(text_of(client.get("/desk/board/")), complaint.reference)
    assert f'<option value="{colleague.pk}"' in shown
    assert f'<option value="{other_agent.pk}"' not in shown  # Delivery's agent is not offered

    answer = client.post(
        f"/desk/board/{complaint.reference}/assign/",
        {"assignee": colleague.pk, "reason": "She knows the customer"},
    )

    assert answer.status_code == 302
    complaint.refresh_from_db()
    assert complaint.assignee == colleague
    event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.ASSIGNED)
    assert event.actor == supervisor
    assert event.parameters["reason"] == "She knows the customer"


def test_assigning_to_someone_off_the_team_is_refused(supervisor, other_agent, make_complaint):
    complaint = breach(make_complaint())

    answer = signed_in(supervisor).post(
        f"/desk/board/{complaint.reference}/assign/", {"assignee": other_agent.pk}
    )

    assert answer.status_code == 400
    assert "Choose a member of the Billing team." in text_of(answer)
    assert Complaint.objects.get(pk=complaint.pk).assignee is None


def test_an_agent_may_not_assign_from_the_board(agent, colleague, make_complaint):
    complaint = breach(make_complaint())

    answer = signed_in(agent).post(
        f"/desk/board/{complaint.reference}/assign/", {"assignee": colleague.pk}
    )

    assert answer.status_code == 403
    assert f"You may not assign {complaint.reference}." in text_of(answer)
    assert Complaint.objects.get(pk=complaint.pk).assignee is None


# -- move team ------------------------------------------------------------------------------


def test_a_supervisor_moves_a_card_to_another_team(supervisor, manager, other_team, make_complaint):
    complaint = breach(make_complaint())
    client = signed_in(supervisor)

    answer = client.post(
        f"/desk/board/{complaint.reference}/move/",
        {"team": other_team.slug, "reason": "A delivery problem", "board_team": ""},
    )

    assert answer.status_code == 302
    assert answer["Location"] == "/desk/board/"
    complaint.refresh_from_db()
    assert complaint.team == other_team
    event = ComplaintEvent.objects.filter(complaint=complaint, type=EventType.ROUTED).latest("id")
    assert event.actor == supervisor
    assert event.parameters["by"] == "moved"
    assert event.parameters["previous_team"] == "Billing"
    assert event.parameters["team"] == "Delivery"
    # The timeline says it in words (to whom may see it: it is out of the supervisor's teams).
    page = text_of(signed_in(manager).get(f"/desk/complaints/{complaint.reference}/"))
    assert "Moved from Billing to Delivery: A delivery problem" in page


def test_moving_to_the_team_it_is_in_is_refused(supervisor, team, make_complaint):
    complaint = breach(make_complaint())

    answer = signed_in(supervisor).post(
        f"/desk/board/{complaint.reference}/move/", {"team": team.slug}
    )

    assert answer.status_code == 400
    assert "is already in the Billing team&#x27;s queue" in text_of(answer)


def test_an_agent_may_not_move_a_card(agent, other_team, make_complaint):
    complaint = breach(make_complaint())

    answer = signed_in(agent).post(
        f"/desk/board/{complaint.reference}/move/", {"team": other_team.slug}
    )

    assert answer.status_code == 403
    assert Complaint.objects.get(pk=complaint.pk).team.slug == "billing"
    assert not ComplaintEvent.objects.filter(
        complaint=complaint, type=EventType.ROUTED, parameters__by="moved"
    ).exists()


# -- escalate -------------------------------------------------------------------------------


def test_a_supervisor_escalates_a_card_with_a_reason(supervisor, make_complaint):
    complaint = breach(make_complaint())

    answer = signed_in(supervisor).post(
        f"/desk/board/{complaint.reference}/escalate/", {"reason": "Third call this week"}
    )

    assert answer.status_code == 302
    complaint.refresh_from_db()
    assert complaint.escalation_level == 1
    escalation = Escalation.objects.get(complaint=complaint)
    assert escalation.manual and escalation.reason == "Third call this week"
    event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.ESCALATED)
    assert event.actor == supervisor


def test_escalating_without_a_reason_says_so_on_the_board(supervisor, make_complaint):
    complaint = breach(make_complaint())

    answer = signed_in(supervisor).post(f"/desk/board/{complaint.reference}/escalate/", {})

    assert answer.status_code == 400
    shown = card(text_of(answer), complaint.reference)
    assert "Give a reason for the escalation." in shown
    assert '<details class="action" open>' in shown
    assert not Escalation.objects.filter(complaint=complaint).exists()


def test_an_agent_may_not_escalate_from_the_board(agent, make_complaint):
    complaint = breach(make_complaint())

    answer = signed_in(agent).post(
        f"/desk/board/{complaint.reference}/escalate/", {"reason": "Please"}
    )

    assert answer.status_code == 403
    assert not ComplaintEvent.objects.filter(complaint=complaint, type=EventType.ESCALATED).exists()


def test_escalating_a_complaint_closed_meanwhile_is_a_conflict(supervisor, agent, make_complaint):
    complaint = breach(make_complaint())
    complaint_withdraw(complaint=complaint, actor=agent, reason="Customer asked us to stop.")

    answer = signed_in(supervisor).post(
        f"/desk/board/{complaint.reference}/escalate/", {"reason": "Late"}
    )

    assert answer.status_code == 409
    assert "only open complaints escalate" in text_of(answer)


# -- two supervisors on one board: a card changed meanwhile -------------------------------


@pytest.fixture
def second_supervisor(groups, team):
    """Billing's other supervisor, looking at the same board."""
    from recovery import roles
    from tests.factories import UserFactory

    user = UserFactory(username="second_supervisor")
    user.groups.add(groups[roles.SUPERVISOR])
    team.members.add(user)
    return user


def seen_event_of(html: str, reference: str) -> str:
    shown = card(html, reference)
    start = shown.index('name="seen_event" value="') + len('name="seen_event" value="')
    return shown[start : shown.index('"', start)]


def test_assigning_a_card_another_supervisor_assigned_meanwhile_is_a_conflict(
    supervisor, second_supervisor, agent, colleague, make_complaint
):
    complaint = breach(make_complaint())
    mine, theirs = signed_in(supervisor), signed_in(second_supervisor)
    seen = seen_event_of(text_of(mine.get("/desk/board/")), complaint.reference)
    their_seen = seen_event_of(text_of(theirs.get("/desk/board/")), complaint.reference)
    assert seen == their_seen == str(ComplaintEvent.objects.order_by("-id").first().pk)
    assert (
        theirs.post(
            f"/desk/board/{complaint.reference}/assign/",
            {"assignee": agent.pk, "seen_event": their_seen},
        ).status_code
        == 302
    )

    answer = mine.post(
        f"/desk/board/{complaint.reference}/assign/",
        {"assignee": colleague.pk, "seen_event": seen},
    )

    assert answer.status_code == 409
    body = text_of(answer)
    shown = card(body, complaint.reference)
    assert "changed while you were looking: assigned by" in shown
    assert "second_supervisor" in shown and 'role="alert"' in shown
    assert Complaint.objects.get(pk=complaint.pk).assignee == agent
    assert ComplaintEvent.objects.filter(complaint=complaint, type=EventType.ASSIGNED).count() == 1
    # The board answered is read afresh: the card shows the new assignee, and acting on it
    # again from there goes through.
    fresh = seen_event_of(body, complaint.reference)
    assert int(fresh) > int(seen)
    again = mine.post(
        f"/desk/board/{complaint.reference}/assign/",
        {"assignee": colleague.pk, "seen_event": fresh},
    )
    assert again.status_code == 302
    assert Complaint.objects.get(pk=complaint.pk).assignee == colleague


def test_escalating_a_card_escalated_meanwhile_is_a_conflict_not_a_second_level(
    supervisor, second_supervisor, make_complaint
):
    complaint = breach(make_complaint())
    seen = seen_event_of(text_of(signed_in(supervisor).get("/desk/board/")), complaint.reference)
    url = f"/desk/board/{complaint.reference}/escalate/"
    first = signed_in(second_supervisor).post(url, {"reason": "Late", "seen_event": seen})
    assert first.status_code == 302

    answer = signed_in(supervisor).post(url, {"reason": "Also late", "seen_event": seen})

    assert answer.status_code == 409
    assert "changed while you were looking: escalated by" in text_of(answer)
    assert Complaint.objects.get(pk=complaint.pk).escalation_level == 1
    assert Escalation.objects.filter(complaint=complaint).count() == 1


def test_moving_a_card_moved_meanwhile_is_a_conflict(
    supervisor, second_supervisor, manager, other_team, make_complaint
):
    from recovery.models import Team

    complaint = breach(make_complaint())
    seen = seen_event_of(text_of(signed_in(supervisor).get("/desk/board/")), complaint.reference)
    third = Team.objects.create(name="Refunds", slug="refunds")
    url = f"/desk/board/{complaint.reference}/move/"
    assert (
        signed_in(second_supervisor)
        .post(url, {"team": other_team.slug, "seen_event": seen})
        .status_code
        == 302
    )

    answer = signed_in(manager).post(url, {"team": third.slug, "seen_event": seen})

    assert answer.status_code == 409
    assert "changed while you were looking: routed to a team by" in text_of(answer)
    assert Complaint.objects.get(pk=complaint.pk).team == other_team


def test_a_note_or_message_since_does_not_make_the_card_stale(
    supervisor, agent, colleague, make_complaint
):
    from recovery.services.messages import message_add

    complaint = breach(make_complaint())
    seen = seen_event_of(text_of(signed_in(supervisor).get("/desk/board/")), complaint.reference)
    message_add(complaint=complaint, actor=agent, body="Called the customer.", internal=True)

    answer = signed_in(supervisor).post(
        f"/desk/board/{complaint.reference}/assign/",
        {"assignee": colleague.pk, "seen_event": seen},
    )

    assert answer.status_code == 302
    assert Complaint.objects.get(pk=complaint.pk).assignee == colleague


def test_a_malformed_seen_event_is_a_precise_400(supervisor, colleague, make_complaint):
    complaint = breach(make_complaint())

    answer = signed_in(supervisor).post(
        f"/desk/board/{complaint.reference}/assign/",
        {"assignee": colleague.pk, "seen_event": "yesterday"},
    )

    assert answer.status_code == 400
    assert f"{complaint.reference}: Enter a whole number." in text_of(answer)
    assert Complaint.objects.get(pk=complaint.pk).assignee is None


# -- approval cards ---------------------------------------------------------------------------


def _awaiting(complaint, agent, amount="200.00", currency="GBP") -> RecoveryAction:
    action = remedies.recovery_propose(
        complaint=complaint, actor=agent, type="goodwill", amount=amount, currency=currency
    )
    assert action.status == RecoveryStatus.AWAITING_APPROVAL
    return action


def test_an_approval_card_shows_what_the_decision_needs(
    agent, supervisor, make_complaint, root_causes, frozen
):
    earlier = resolve(acknowledge(make_complaint(), agent), agent)
    remedies.recovery_propose(
        complaint=earlier, actor=agent, type="goodwill", amount="30.00", currency="GBP"
    )
    last_year = remedies.recovery_propose(
        complaint=earlier, actor=agent, type="goodwill", amount="40.00", currency="GBP"
    )
    RecoveryAction.objects.filter(pk=last_year.pk).update(proposed_at=NOW - timedelta(days=120))
    complaint = resolve(
        acknowledge(make_complaint(), agent),
        agent,
        causes=("billing.duplicate-charge", "billing.refund-delay"),
    )
    _awaiting(complaint, agent)

    html = text_of(signed_in(supervisor).get("/desk/approvals/"))

    assert "<dt>Outcome</dt><dd>Upheld</dd>" in html
    assert "Duplicate charge; Refund delayed" in html  # names, the primary first
    assert "billing.duplicate-charge" not in html  # never the codes
    assert "30.00 GBP" in html  # this year: the 40 of last November is not counted
    assert earlier.reference in html  # the customer's earlier recoveries
    assert "Goodwill gesture 40.00 GBP" in html


def test_approval_cards_cost_the_same_queries_for_one_card_or_five(
    agent, supervisor, make_complaint, root_causes
):
    client = signed_in(supervisor)
    _awaiting(resolve(acknowledge(make_complaint(), agent), agent), agent)
    client.get("/desk/approvals/")  # warm
    with CaptureQueriesContext(connection) as one:
        client.get("/desk/approvals/")
    for _ in range(4):
        _awaiting(resolve(acknowledge(make_complaint(), agent), agent), agent)
    with CaptureQueriesContext(connection) as five:
        assert text_of(client.get("/desk/approvals/")).count('class="decision-context"') == 5

    assert len(one) == len(five), [q["sql"] for q in five]


# -- the approvals count in the header ---------------------------------------------------------


def test_the_header_counts_the_approvals_waiting_for_me(
    agent, supervisor, manager, make_complaint, root_causes
):
    complaint = acknowledge(make_complaint(), agent)
    _awaiting(complaint, agent, amount="200.00")  # a supervisor's to decide
    _awaiting(complaint, agent, amount="900.00")  # above a supervisor: a manager's

    def count_shown(user) -> str:
        html = text_of(signed_in(user).get("/desk/"))
        start = html.index('id="approvals-count">') + len('id="approvals-count">')
        return html[start : html.index("<", start)]

    assert count_shown(supervisor) == "1"
    assert count_shown(manager) == "2"
    assert 'id="approvals-count"' not in text_of(signed_in(agent).get("/desk/"))


def test_the_header_count_costs_one_query(agent, supervisor, make_complaint, root_causes):
    _awaiting(acknowledge(make_complaint(), agent), agent)
    client = signed_in(supervisor)
    client.get("/desk/")  # warm

    with CaptureQueriesContext(connection) as queries:
        client.get("/desk/")

    counts = [q["sql"] for q in queries if "recovery_recoveryaction" in q["sql"]]
    assert len(counts) == 1, counts


@pytest.mark.parametrize(
    "limits",
    [
        {},  # no limit row: no authority at all
        {("supervisors", "GBP"): Decimal("200.00")},  # exactly at the limit is within it
        {("supervisors", "GBP"): Decimal("199.99")},
        {("supervisors", ANY_CURRENCY): None},  # unlimited in every currency
        {("supervisors", "EUR"): None},  # unlimited, in another currency
    ],
)
def test_the_count_agrees_with_the_approvals_queue(agent, supervisor, make_complaint, limits):
    complaint = acknowledge(make_complaint(), agent)
    _awaiting(complaint, agent, amount="200.00", currency="GBP")
    _awaiting(complaint, agent, amount="120.00", currency="EUR")
    ApprovalLimit.objects.filter(role="supervisors").delete()
    for (role, currency), amount in limits.items():
        ApprovalLimit.objects.create(role=role, currency=currency, amount=amount)

    assert recovery_selectors.approvals_waiting_count(supervisor) == len(
        recovery_selectors.approvals_queue(supervisor)
    )
