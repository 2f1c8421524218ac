"""The agent desk and the supervisor board without a browser: who may open what, every
form's messages, services' errors shown on the form (never a 500), escaping, and a queue
page that costs the same number of queries however many rows it shows."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalation.models import Clock, ClockKind
from escalation.services.sweeper import sweep
from notifications.delivery import deliver
from notifications.models import EmailDelivery, Notification, Outbox
from recovery.models import (
    Complaint,
    ComplaintEvent,
    EventType,
    Message,
    MessageDirection,
    RecoveryAction,
    RoutingRule,
    State,
)
from recovery.models.remedies import RecoveryStatus
from recovery.services import lifecycle, remedies
from recovery.services.lifecycle import complaint_withdraw
from recovery.services.messages import customer_message_add, message_add
from tests.conftest import AS_ROUTED, acknowledge, close_loop, resolve
from tests.desk.conftest import signed_in
from tests.factories import RootCauseFactory
from tests.notifications.shipped_templates import ensure_default_templates

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('owned')</script>"
ESCAPED = "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;"


def text_of(response) -> str:
    return response.content.decode()


def page_of(complaint) -> str:
    return f"/desk/complaints/{complaint.reference}/"


# -- who may open what ---------------------------------------------------------------------

DESK_PAGES = [
    "/desk/",
    "/desk/team/",
    "/desk/unassigned/",
    "/desk/notifications/",
    "/desk/board/",
    "/desk/approvals/",
]


@pytest.mark.parametrize("path", DESK_PAGES)
def test_signed_out_visitors_are_sent_to_sign_in(db, path):
    answer = Client().get(path)

    assert answer.status_code == 302
    assert answer["Location"] == f"/desk/login/?next={path}"


@pytest.mark.parametrize("path", DESK_PAGES)
def test_customers_and_people_without_a_role_cannot_open_the_desk(customer_user, outsider, path):
    for user in (customer_user, outsider):
        answer = signed_in(user).get(path)
        assert answer.status_code == 403
        assert "The desk is for complaints staff" in text_of(answer)


def test_a_customer_cannot_open_even_their_own_complaint_on_the_desk(customer_user, make_complaint):
    complaint = make_complaint()

    answer = signed_in(customer_user).get(page_of(complaint))

    assert answer.status_code == 403
    assert complaint.description not in text_of(answer)


def test_the_board_and_approvals_are_for_supervisors(agent):
    for path in ("/desk/board/", "/desk/approvals/"):
        answer = signed_in(agent).get(path)
        assert answer.status_code == 403
        assert "This page is for supervisors." in text_of(answer)


def test_an_agent_of_another_team_cannot_open_or_act_on_a_complaint(other_agent, make_complaint):
    complaint = make_complaint()
    client = signed_in(other_agent)

    page = client.get(page_of(complaint))
    assert page.status_code == 403
    assert "belongs to the Billing team" in text_of(page)
    assert complaint.description not in text_of(page)

    acted = client.post(
        f"{page_of(complaint)}acknowledge/",
        {
            "acknowledge-message": f"About {complaint.reference}",
            "acknowledge-next_steps": "Soon",
        },
    )
    assert acted.status_code == 403
    assert client.post(f"{page_of(complaint)}note/", {"note-body": "x"}).status_code == 403
    complaint.refresh_from_db()
    assert complaint.state == State.RECEIVED
    assert not Message.objects.filter(complaint=complaint, kind="note").exists()


def test_an_unknown_reference_is_not_found(agent):
    client = signed_in(agent)

    assert client.get("/desk/complaints/RDR-1999-000001/").status_code == 404
    # A NUL is refused for the whole URL before any view (config/nul_in_path.py).
    assert client.get("/desk/complaints/RDR%00/").status_code == 400
    assert client.post("/desk/complaints/NOPE/reply/", {"reply-body": "x"}).status_code == 404


def test_the_login_page_signs_staff_in_and_out(agent):
    client = Client()
    page = client.get("/desk/login/")
    assert page.status_code == 200
    assert '<label for="id_username">' in text_of(page)

    wrong = client.post("/desk/login/", {"username": "agent", "password": "nope"})
    assert wrong.status_code == 200
    assert "Please enter a correct username and password" in text_of(wrong)

    signed = client.post("/desk/login/", {"username": "agent", "password": "pw"})
    assert signed.status_code == 302
    assert signed["Location"] == "/desk/"
    assert client.get("/desk/").status_code == 200

    assert client.post("/desk/logout/").status_code == 302
    assert client.get("/desk/").status_code == 302


def test_desk_forms_need_their_csrf_token(agent, make_complaint):
    complaint = make_complaint()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(agent)

    answer = strict.post(f"{page_of(complaint)}reply/", {"reply-body": "Hello"})

    assert answer.status_code == 403
    assert not Message.objects.filter(complaint=complaint, kind="reply").exists()


ACTIONS = [
    "acknowledge",
    "reply",
    "note",
    "hold",
    "resolve",
    "close-loop",
    "reopen",
    "assign",
    "escalate",
    "tracking-link",
    "recovery",
]


@pytest.mark.parametrize("action", ACTIONS)
def test_an_action_url_opened_is_the_complaint_page(agent, make_complaint, action):
    # After a form error the address bar shows the action's URL: a reload or a bookmark
    # must land on the complaint, not on a 405.
    complaint = make_complaint()

    answer = signed_in(agent).get(f"{page_of(complaint)}{action}/")

    assert answer.status_code == 302
    assert answer["Location"] == page_of(complaint)
    assert Client().get(f"{page_of(complaint)}{action}/").status_code == 302  # to sign in
    assert "login" in Client().get(f"{page_of(complaint)}{action}/")["Location"]


def test_a_form_error_page_refreshes_live_from_the_complaint_page(agent, make_complaint):
    complaint = make_complaint()

    answer = signed_in(agent).post(
        f"{page_of(complaint)}acknowledge/",
        {"acknowledge-message": "No reference here.", "acknowledge-next_steps": "Soon"},
    )

    assert answer.status_code == 400
    # live.js fetches this address, not the one in the address bar (the POST-only action).
    assert f'data-refresh-url="{page_of(complaint)}"' in text_of(answer)
    assert signed_in(agent).get(page_of(complaint)).status_code == 200


# -- the complaint page ----------------------------------------------------------------------


def test_the_complaint_page_shows_everything_escaped(agent, make_complaint):
    complaint = make_complaint(
        subject=f"Subject {SCRIPT}", description=f"Story {SCRIPT}", remedy_sought=SCRIPT
    )

    page = signed_in(agent).get(page_of(complaint))

    assert page.status_code == 200
    html = text_of(page)
    assert SCRIPT not in html
    # Heading, story and remedy, each escaped; the original message points to the story
    # rather than repeating it (a long story was shown twice).
    assert f"<bdi>Subject {ESCAPED}</bdi></h1>" in html
    assert f'<div class="story">Story {ESCAPED}</div>' in html
    assert f'<div class="story">{ESCAPED}</div>' in html
    assert html.count(ESCAPED) == 3
    for section in ("The customer's story", "Clocks", "Timeline", "Messages", "Internal notes"):
        assert section in html
    # The acknowledgement comes pre-filled, naming the reference.
    assert f"reference is {complaint.reference}" in html


def test_acknowledging_with_the_form(agent, make_complaint):
    complaint = make_complaint()
    client = signed_in(agent)

    answer = client.post(
        f"{page_of(complaint)}acknowledge/",
        {
            "acknowledge-message": f"We have {complaint.reference}.",
            "acknowledge-next_steps": "We reply within 5 days.",
            "acknowledge-expected_state": "received",
        },
        follow=True,
    )

    assert answer.redirect_chain == [(page_of(complaint), 302)]
    assert "Acknowledged; the customer has been sent your message." in text_of(answer)
    complaint.refresh_from_db()
    assert complaint.state == State.ACKNOWLEDGED


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"acknowledge-next_steps": "Soon"}, 400, "Write the acknowledgement to the customer."),
        (
            {"acknowledge-message": "We have it.", "acknowledge-next_steps": "Soon"},
            400,
            "The acknowledgement must name the complaint&#x27;s reference.",
        ),
        (
            {
                "acknowledge-message": "{reference}",
                "acknowledge-next_steps": "Soon",
                "acknowledge-expected_state": "acknowledged",
            },
            409,
            "changed while you were looking at it",
        ),
        (
            {
                "acknowledge-message": "{reference}",
                "acknowledge-next_steps": "Soon",
                "acknowledge-expected_state": "sideways",
            },
            400,
            "Select a valid choice.",
        ),
    ],
)
def test_an_acknowledgement_that_cannot_be_made_says_why(
    agent, make_complaint, data, status, message
):
    complaint = make_complaint()
    data = {key: value.format(reference=complaint.reference) for key, value in data.items()}

    answer = signed_in(agent).post(f"{page_of(complaint)}acknowledge/", data)

    assert answer.status_code == status
    assert message in text_of(answer)
    complaint.refresh_from_db()
    assert complaint.state == State.RECEIVED


def test_a_step_the_state_does_not_allow_is_a_conflict_with_a_message(agent, make_complaint):
    complaint = make_complaint()

    answer = signed_in(agent).post(
        f"{page_of(complaint)}close-loop/",
        {
            "close_loop-what_we_found": "a",
            "close_loop-what_we_did": "b",
            "close_loop-what_will_change": "c",
        },
    )

    assert answer.status_code == 409
    assert f"Cannot close loop {complaint.reference}: it is received." in text_of(answer)


def test_resolving_needs_an_outcome_a_root_cause_and_a_summary(agent, make_complaint, root_causes):
    complaint = acknowledge(make_complaint(), agent)
    client = signed_in(agent)

    empty = client.post(f"{page_of(complaint)}resolve/", {})
    assert empty.status_code == 400
    for message in ("Choose the outcome.", "Choose the primary root cause.", "Summarise"):
        assert message in text_of(empty)

    unknown = client.post(
        f"{page_of(complaint)}resolve/",
        {
            "resolve-outcome": "upheld",
            "resolve-primary_root_cause": "made.up",
            "resolve-summary": "x",
        },
    )
    assert unknown.status_code == 400
    assert "Choose a root cause from the list." in text_of(unknown)

    done = client.post(
        f"{page_of(complaint)}resolve/",
        {
            "resolve-outcome": "partly_upheld",
            "resolve-primary_root_cause": "billing.duplicate-charge",
            "resolve-contributing_root_causes": ["billing.refund-delay"],
            "resolve-summary": "Refunded one of the two charges.",
        },
    )
    assert done.status_code == 302
    complaint.refresh_from_db()
    assert complaint.state == State.RESOLVED
    assert complaint.outcome == "partly_upheld"
    causes = dict(complaint.root_causes.values_list("root_cause__code", "is_primary"))
    assert causes == {"billing.duplicate-charge": True, "billing.refund-delay": False}


def test_closing_the_loop_comes_pre_filled_from_the_resolution(agent, make_complaint, root_causes):
    complaint = resolve(acknowledge(make_complaint(), agent), agent)

    html = text_of(signed_in(agent).get(page_of(complaint)))

    assert "Refunded the duplicate charge." in html  # what we found: the summary
    assert "(Duplicate charge)" in html  # what will change: the cause, by its name


def test_what_we_did_is_pre_filled_with_the_outcome_and_the_recoveries_given(
    agent, make_complaint, root_causes
):
    complaint = acknowledge(make_complaint(), agent)
    refund = remedies.recovery_propose(
        complaint=complaint,
        actor=agent,
        type="refund",
        amount="20.00",
        currency="GBP",
        description="The second charge, refunded",
    )
    remedies.recovery_deliver(action_id=refund.pk, actor=agent)
    remedies.recovery_propose(complaint=complaint, actor=agent, type="apology")
    declined = remedies.recovery_propose(
        complaint=complaint, actor=agent, type="goodwill", amount="900.00", currency="GBP"
    )
    assert declined.status == RecoveryStatus.AWAITING_APPROVAL  # not given: not said
    resolve(complaint, agent)

    form = signed_in(agent).get(page_of(complaint)).context["forms"]["close_loop"]

    assert form.initial["what_we_did"].strip() == (
        "Upheld. Refund of 20.00 GBP, delivered: The second charge, refunded. Apology, offered."
    )
    # Each pre-filled text ends with a space: typed after it, a new sentence starts apart.
    assert form.initial["what_will_change"].endswith("fixes it. ")


def test_the_loop_closing_pre_fill_says_nothing_internal(agent, make_complaint, root_causes):
    """The customer reads the pre-filled words as written: causes by their names, never the
    taxonomy's path or codes, nor a cause's staff description or a note."""
    root_causes["billing.duplicate-charge"].description = "Staff: see runbook BILL-7"
    root_causes["billing.duplicate-charge"].save(update_fields=["description"])
    # An imported cause named by its code says nothing to a customer: it is left out.
    RootCauseFactory(code="billing.gateway-retry", name="billing.gateway-retry")
    complaint = acknowledge(make_complaint(), agent)
    message_add(complaint=complaint, actor=agent, body="Internal: blame the PSP", internal=True)
    lifecycle.complaint_resolve(
        complaint=complaint,
        actor=agent,
        outcome="upheld",
        summary="Refunded the duplicate charge.",
        root_causes=["billing.refund-delay", "billing.gateway-retry"],
        primary_root_cause="billing.duplicate-charge",
    )
    client = signed_in(agent)

    form = client.get(page_of(complaint)).context["forms"]["close_loop"]

    will_change = form.initial["what_will_change"]
    assert "(Duplicate charge; Refund delayed)" in will_change  # the primary cause first
    prefilled = " ".join(str(value) for value in form.initial.values())
    for internal in ("billing", "Billing >", "BILL-7", "PSP", "gateway-retry"):
        assert internal not in prefilled
    # Sent as pre-filled, the customer's message says the same.
    data = {f"close_loop-{name}": value for name, value in form.initial.items()}
    assert client.post(f"{page_of(complaint)}close-loop/", data).status_code == 302
    sent = Message.objects.get(complaint=complaint, kind="loop_closing")
    assert "billing" not in sent.body.lower()
    assert "Duplicate charge" in sent.body


def test_the_acknowledgement_sent_as_pre_filled_greets_the_customer_once(agent, make_complaint):
    ensure_default_templates()
    complaint = make_complaint()
    client = signed_in(agent)
    form = client.get(page_of(complaint)).context["forms"]["acknowledge"]
    data = {f"acknowledge-{name}": value for name, value in form.initial.items()}

    assert client.post(f"{page_of(complaint)}acknowledge/", data).status_code == 302

    for row in Outbox.objects.filter(complaint_id=complaint.pk, delivered_at__isnull=True):
        deliver(row.pk)
    email = EmailDelivery.objects.get(complaint_id=complaint.pk, kind="acknowledgement")
    name = complaint.customer.name
    assert email.body_text.startswith(f"Dear {name},\n\nThank you for telling us about this")
    assert email.body_text.count("Dear ") == 1
    assert email.body_text.count(name) == 1


def test_no_pre_filled_message_greets_the_customer(agent, supervisor, make_complaint, root_causes):
    """The email's template greets the customer; a greeting in the agent's words doubles it."""
    received = make_complaint()
    resolved = resolve(acknowledge(make_complaint(), agent), agent)
    client = signed_in(supervisor)

    for complaint in (received, resolved):
        page_forms = client.get(page_of(complaint)).context["forms"]
        for kind in ("acknowledge", "resolve", "close_loop", "written_response", "reply"):
            for value in page_forms[kind].initial.values():
                text = str(value)
                assert not text.lstrip().startswith(("Dear", "Hello", "Hi ")), (kind, text)
                assert complaint.customer.name not in text, (kind, text)
    assert page_forms["close_loop"].initial["what_we_found"]  # pre-filled, not vacuous


def test_replies_notes_and_hold(agent, make_complaint):
    complaint = make_complaint()
    client = signed_in(agent)

    assert client.post(f"{page_of(complaint)}reply/", {"reply-body": " "}).status_code == 400
    assert client.post(f"{page_of(complaint)}reply/", {"reply-body": "On it."}).status_code == 302
    assert client.post(f"{page_of(complaint)}note/", {"note-body": SCRIPT}).status_code == 302
    directions = set(Message.objects.filter(complaint=complaint).values_list("kind", "direction"))
    assert ("reply", MessageDirection.OUTBOUND) in directions
    assert ("note", MessageDirection.INTERNAL) in directions
    assert ESCAPED in text_of(client.get(page_of(complaint)))

    held = client.post(f"{page_of(complaint)}hold/", {"hold-awaiting": "1", "hold-reason": "ID"})
    assert held.status_code == 302
    complaint.refresh_from_db()
    assert complaint.awaiting_customer is True
    assert "Take off hold" in text_of(client.get(page_of(complaint)))
    client.post(f"{page_of(complaint)}hold/", {"hold-awaiting": "0"})
    complaint.refresh_from_db()
    assert complaint.awaiting_customer is False


def test_an_agent_takes_a_complaint_but_may_not_give_it_to_someone_else(
    agent, supervisor, make_complaint
):
    complaint = make_complaint()
    client = signed_in(agent)

    assert "Reassign" not in text_of(client.get(page_of(complaint)))
    refused = client.post(f"{page_of(complaint)}assign/", {"assign-assignee": supervisor.pk})
    assert refused.status_code == 403
    assert f"You may not reassign {complaint.reference}." in text_of(refused)

    taken = client.post(f"{page_of(complaint)}assign/", {"assign-assignee": agent.pk})
    assert taken.status_code == 302
    complaint.refresh_from_db()
    assert complaint.assignee == agent


def test_the_complaint_page_does_not_assign_to_another_teams_agent(
    supervisor, other_agent, make_complaint
):
    complaint = make_complaint()

    refused = signed_in(supervisor).post(
        f"{page_of(complaint)}assign/", {"assign-assignee": other_agent.pk}
    )

    assert refused.status_code == 400
    assert "other_agent does not work in the Billing team." in text_of(refused)
    complaint.refresh_from_db()
    assert complaint.assignee is None


def test_a_supervisor_reassigns_and_escalates_by_hand(agent, supervisor, make_complaint):
    complaint = make_complaint()
    client = signed_in(supervisor)

    moved = client.post(
        f"{page_of(complaint)}assign/", {"assign-assignee": agent.pk, "assign-reason": "cover"}
    )
    assert moved.status_code == 302
    no_reason = client.post(f"{page_of(complaint)}escalate/", {"escalate-direction": "up"})
    assert no_reason.status_code == 400
    assert "Give a reason for the escalation." in text_of(no_reason)
    down = client.post(
        f"{page_of(complaint)}escalate/",
        {"escalate-direction": "down", "escalate-reason": "wrong"},
    )
    assert down.status_code == 400
    assert "it cannot go down" in text_of(down)
    up = client.post(
        f"{page_of(complaint)}escalate/", {"escalate-direction": "up", "escalate-reason": "VIP"}
    )
    assert up.status_code == 302
    complaint.refresh_from_db()
    assert complaint.assignee == agent
    assert complaint.escalation_level == 1


# -- reopening -----------------------------------------------------------------------------


def reopen_form_of(complaint) -> str:
    return f'action="{page_of(complaint)}reopen/"'


@pytest.mark.parametrize("closed", [False, True], ids=["resolved", "loop-closed"])
def test_a_supervisor_reopens_a_complaint_the_customer_answered_after_closing(
    agent, supervisor, make_complaint, root_causes, closed
):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    resolve(complaint, agent)
    if closed:
        close_loop(Complaint.objects.get(pk=complaint.pk), agent)
    customer_message_add(complaint=Complaint.objects.get(pk=complaint.pk), body="Not fixed.")
    client = signed_in(supervisor)

    page = client.get(page_of(complaint))
    assert "Customer replied after closing" in text_of(page)
    assert reopen_form_of(complaint) in text_of(page)

    no_reason = client.post(f"{page_of(complaint)}reopen/", {"reopen-reason": "  "})
    assert no_reason.status_code == 400
    assert "Say why the complaint is reopened." in text_of(no_reason)
    state = State.LOOP_CLOSED if closed else State.RESOLVED
    assert Complaint.objects.get(pk=complaint.pk).state == state

    done = client.post(
        f"{page_of(complaint)}reopen/",
        {"reopen-reason": "The refund never arrived.", "reopen-expected_state": state},
    )

    assert done.status_code == 302
    assert done["Location"] == page_of(complaint)
    complaint.refresh_from_db()
    assert (complaint.state, complaint.reopen_count) == (State.ACKNOWLEDGED, 1)
    assert complaint.customer_replied_at is None
    assert (complaint.resolved_at, complaint.loop_closed_at) == (None, None)
    event = complaint.events.latest("id")
    assert (event.type, event.actor) == ("reopened", supervisor)
    assert event.parameters["reason"] == "The refund never arrived."
    after = text_of(client.get(page_of(complaint)))
    assert "Reopened: the complaint is worked again" in after
    assert reopen_form_of(complaint) not in after


def test_an_agent_is_not_offered_reopen_and_is_refused_it(agent, make_complaint, root_causes):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    resolve(complaint, agent)
    client = signed_in(agent)

    assert reopen_form_of(complaint) not in text_of(client.get(page_of(complaint)))
    for data in ({}, {"reopen-reason": "I think it should be."}):
        refused = client.post(f"{page_of(complaint)}reopen/", data)
        assert refused.status_code == 403
        assert f"You may not reopen {complaint.reference}." in text_of(refused)
    complaint.refresh_from_db()
    assert (complaint.state, complaint.reopen_count) == (State.RESOLVED, 0)


def test_reopening_an_open_complaint_is_a_conflict_with_a_message(supervisor, make_complaint):
    complaint = make_complaint()

    answer = signed_in(supervisor).post(
        f"{page_of(complaint)}reopen/", {"reopen-reason": "By mistake."}
    )

    assert answer.status_code == 409
    assert f"Cannot reopen {complaint.reference}: it is received." in text_of(answer)
    assert Complaint.objects.get(pk=complaint.pk).reopen_count == 0


def test_an_agent_cannot_escalate_by_hand(agent, make_complaint):
    complaint = make_complaint()

    answer = signed_in(agent).post(
        f"{page_of(complaint)}escalate/", {"escalate-direction": "up", "escalate-reason": "x"}
    )

    assert answer.status_code == 403
    assert f"You may not escalate {complaint.reference}." in text_of(answer)


def test_the_customers_history_is_on_the_complaint_page(agent, make_complaint, root_causes):
    earlier = resolve(acknowledge(make_complaint(subject="Earlier trouble"), agent), agent)
    complaint = make_complaint(subject="New trouble")

    html = text_of(signed_in(agent).get(page_of(complaint)))

    assert earlier.reference in html
    assert "Earlier trouble" in html
    assert "Upheld" in html


# -- recovery ------------------------------------------------------------------------------


def offer(client, complaint, **fields):
    data = {f"recovery-{key}": value for key, value in fields.items()}
    return client.post(f"{page_of(complaint)}recovery/", data)


def test_an_agent_offers_a_recovery_within_their_limit(agent, make_complaint, root_causes):
    complaint = acknowledge(make_complaint(), agent)
    client = signed_in(agent)

    missing = offer(client, complaint, type="refund")
    assert missing.status_code == 400
    assert "A refund needs an amount and a currency." in text_of(missing)
    bad_amount = offer(client, complaint, type="refund", amount="12.345", currency="GBP")
    assert bad_amount.status_code == 400
    assert "12.345 has too many decimal places: use at most 2, like 25.00." in text_of(bad_amount)

    done = offer(client, complaint, type="refund", amount="20.00", currency="gbp")
    assert done.status_code == 302
    action = RecoveryAction.objects.get(complaint=complaint)
    assert (action.status, action.amount, action.currency) == (
        RecoveryStatus.PROPOSED,
        20,
        "GBP",
    )
    delivered = client.post(f"{page_of(complaint)}recovery/{action.pk}/deliver/", {})
    assert delivered.status_code == 302
    assert RecoveryAction.objects.get(pk=action.pk).status == RecoveryStatus.DELIVERED


def test_a_recovery_above_the_limit_waits_in_the_approvals_queue(
    agent, supervisor, make_complaint, root_causes
):
    complaint = acknowledge(make_complaint(), agent)

    answer = offer(signed_in(agent), complaint, type="goodwill", amount="200.00", currency="GBP")
    assert answer.status_code == 302
    action = RecoveryAction.objects.get(complaint=complaint)
    assert action.status == RecoveryStatus.AWAITING_APPROVAL

    client = signed_in(supervisor)
    queue = client.get("/desk/approvals/")
    assert queue.status_code == 200
    assert complaint.reference in text_of(queue)

    no_reason = client.post(
        f"/desk/approvals/{action.pk}/decide/", {f"decide-{action.pk}-decision": "approve"}
    )
    assert no_reason.status_code == 400
    assert "Say why: the reason goes on the timeline." in text_of(no_reason)

    approved = client.post(
        f"/desk/approvals/{action.pk}/decide/",
        {f"decide-{action.pk}-decision": "approve", f"decide-{action.pk}-reason": "Fair"},
    )
    assert approved.status_code == 302
    action = RecoveryAction.objects.get(pk=action.pk)
    assert action.status == RecoveryStatus.APPROVED
    assert action.decided_by == supervisor

    again = client.post(
        f"/desk/approvals/{action.pk}/decide/",
        {f"decide-{action.pk}-decision": "decline", f"decide-{action.pk}-reason": "Oops"},
    )
    assert again.status_code == 409
    assert "already approved" in text_of(again)


def test_an_agent_cannot_decide_on_a_recovery(other_agent, make_complaint, other_team):
    complaint = acknowledge(make_complaint(routed_to=other_team), other_agent)
    offer(signed_in(other_agent), complaint, type="goodwill", amount="200.00", currency="GBP")
    action = RecoveryAction.objects.get()

    answer = signed_in(other_agent).post(
        f"/desk/approvals/{action.pk}/decide/",
        {f"decide-{action.pk}-decision": "approve", f"decide-{action.pk}-reason": "Mine"},
    )

    assert answer.status_code == 403  # an agent may not decide at all
    assert RecoveryAction.objects.get(pk=action.pk).status == RecoveryStatus.AWAITING_APPROVAL


# -- queues --------------------------------------------------------------------------------


def rows_of(html: str) -> list[str]:
    import re

    return re.findall(r'data-reference="([^"]+)"', html)


def test_the_queues_sort_by_urgency_and_flag_risk(agent, other_agent, make_complaint, other_team):
    now = timezone.now()
    later = make_complaint(subject="Later")
    sooner = make_complaint(subject="Sooner")
    elsewhere = make_complaint(subject="Other team", routed_to=other_team)
    at_risk = make_complaint(subject="At risk")
    for complaint, due in ((later, 30), (sooner, 10), (elsewhere, 1), (at_risk, 20)):
        Clock.objects.filter(complaint=complaint, kind=ClockKind.ACKNOWLEDGE).update(
            due_at=now + timedelta(hours=due), warn_at=now + timedelta(hours=due - 2)
        )
        complaint.next_deadline_at = now + timedelta(hours=due)
        complaint.save(update_fields=["next_deadline_at"])
    Clock.objects.filter(complaint=at_risk).update(warn_at=now - timedelta(minutes=5))
    breached = make_complaint(subject="Breached")
    Clock.objects.filter(complaint=breached, kind=ClockKind.ACKNOWLEDGE).update(
        started_at=now - timedelta(days=2), due_at=now - timedelta(minutes=1)
    )
    sweep(now=now)

    html = text_of(signed_in(agent).get("/desk/team/"))

    # Most urgent first: the breached complaint (whose next running deadline is days away),
    # then the one at risk, then the others by their next deadline; the badges say which.
    assert rows_of(html) == [
        breached.reference,
        at_risk.reference,
        sooner.reference,
        later.reference,
    ]
    assert 'class="badge risk-breached">Breached<' in html
    assert 'class="badge risk-at_risk">At risk<' in html
    assert 'class="badge risk-on_track">On track<' in html

    risky = text_of(signed_in(agent).get("/desk/team/?risk=at_risk"))
    assert rows_of(risky) == [breached.reference, at_risk.reference]
    assert rows_of(text_of(signed_in(agent).get("/desk/team/?risk=breached"))) == [
        breached.reference
    ]


def test_my_queue_holds_what_is_assigned_to_me(agent, make_complaint):
    mine = make_complaint(subject="Mine")
    make_complaint(subject="Not mine")
    signed_in(agent).post(f"{page_of(mine)}assign/", {"assign-assignee": agent.pk})

    assert rows_of(text_of(signed_in(agent).get("/desk/"))) == [mine.reference]


def test_unassigned_lists_the_open_complaints_of_my_teams_that_nobody_has(
    agent, supervisor, other_agent, make_complaint, other_team, customer_user
):
    taken = make_complaint(subject="Taken")
    signed_in(agent).post(f"{page_of(taken)}assign/", {"assign-assignee": agent.pk})
    waiting = make_complaint(subject="Waiting")
    withdrawn = make_complaint(subject="Withdrawn")
    complaint_withdraw(complaint=withdrawn, actor=customer_user, reason="Sorted it out.")
    elsewhere = make_complaint(subject="Elsewhere", routed_to=other_team)

    for user in (agent, supervisor):
        page = signed_in(user).get("/desk/unassigned/")
        assert page.status_code == 200
        assert rows_of(text_of(page)) == [waiting.reference], user
        assert 'aria-current="page">Unassigned</a>' in text_of(page)
    assert rows_of(text_of(signed_in(other_agent).get("/desk/unassigned/"))) == [
        elsewhere.reference
    ]
    # Taken: it leaves the tab.
    signed_in(agent).post(f"{page_of(waiting)}assign/", {"assign-assignee": agent.pk})
    emptied = text_of(signed_in(agent).get("/desk/unassigned/"))
    assert rows_of(emptied) == []
    assert "Every open complaint of your teams has someone working on it." in emptied


def test_the_timeline_says_where_a_complaint_was_routed_and_by_what(agent, make_complaint):
    RoutingRule.objects.create(
        name=f"Refunds {SCRIPT}", team=agent.teams.get(), keywords=["charged"]
    )
    complaint = make_complaint(routed_to=AS_ROUTED)

    html = text_of(signed_in(agent).get(page_of(complaint)))

    assert f"Routed to Billing by rule &#x27;Refunds {ESCAPED}&#x27;" in html


def test_the_queue_searches_references_customers_and_text(agent, make_complaint, customer_user):
    gadget = make_complaint(subject="Broken gadget", description="The hinge snapped.")
    make_complaint(subject="Late parcel", description="It came a week late.")
    client = signed_in(agent)

    def search(text):
        return rows_of(text_of(client.get("/desk/team/", {"q": text})))

    assert search(gadget.reference) == [gadget.reference]
    assert search(gadget.reference.lower()) == [gadget.reference]
    assert search("hinge") == [gadget.reference]
    assert search("GADGET") == [gadget.reference]
    assert len(search(customer_user.customer.email)) == 2
    assert search("nothing like it") == []
    assert "No complaint matches these filters." in text_of(client.get("/desk/team/?q=zzz"))


def test_a_quoted_reference_finds_the_complaint_whatever_its_state(agent, make_complaint):
    # The customer on the phone quotes the reference of a complaint closed last month: the
    # queue's default filter (open complaints) must not answer "no such complaint".
    closed = make_complaint(subject="Refund never arrived")
    complaint_withdraw(complaint=closed, actor=agent, reason="Sorted on the phone")
    make_complaint(subject="Refund never arrived either")
    client = signed_in(agent)

    found = rows_of(text_of(client.get("/desk/team/", {"q": closed.reference})))
    assert found == [closed.reference]
    # Text that is not a reference still searches open complaints only.
    assert closed.reference not in rows_of(text_of(client.get("/desk/team/", {"q": "refund"})))


def test_queue_filters_that_are_wrong_are_ignored_not_fatal(agent, make_complaint):
    make_complaint()

    answer = signed_in(agent).get(
        "/desk/team/", {"state": "sideways", "page": "-3", "q": "x" * 500}
    )

    assert answer.status_code == 200


def test_the_queue_searches_customers_by_name_and_escapes_what_it_shows(
    agent, make_complaint, other_customer_user
):
    mine = make_complaint(subject=f"Refund {SCRIPT}")
    theirs = make_complaint(by=other_customer_user, subject="Lost parcel")
    client = signed_in(agent)

    def search(text):
        return rows_of(text_of(client.get("/desk/team/", {"q": text})))

    assert search("other_CUSTOMER") == [theirs.reference]
    assert sorted(search("custom")) == sorted([mine.reference, theirs.reference])
    html = text_of(client.get("/desk/team/", {"q": "refund"}))
    assert rows_of(html) == [mine.reference]
    assert SCRIPT not in html
    assert ESCAPED in html


def test_the_queue_pages_follow_on_without_gaps_or_repeats(agent, make_complaint):
    now = timezone.now()
    complaints = [make_complaint() for _ in range(52)]
    # Three complaints a deadline: the id orders those that share one, across the page break.
    for number, complaint in enumerate(reversed(complaints)):
        Complaint.objects.filter(pk=complaint.pk).update(
            next_deadline_at=now + timedelta(hours=1 + number // 3)
        )
    expected = [
        c.reference
        for c in Complaint.objects.filter(pk__in=[c.pk for c in complaints]).order_by(
            "next_deadline_at", "id"
        )
    ]
    client = signed_in(agent)

    first = text_of(client.get("/desk/team/"))
    second = text_of(client.get("/desk/team/?page=2"))

    assert rows_of(first) + rows_of(second) == expected
    assert len(rows_of(first)) == 50
    assert 'rel="next"' in first
    assert 'rel="prev"' in second
    assert 'rel="next"' not in second
    assert rows_of(text_of(client.get("/desk/team/?page=3"))) == []


# session, the user (with its groups and own permissions: recovery.auth.session_user), the
# filters' teams and categories (held in memory in production; these tests run without the
# configuration cache), the last event id, the page of rows with their clock flags, the
# capped count, the groups' permissions (the header's links; held in memory outside these
# tests), the bell's unread count, the held-mail count (the header's Held mail link).
QUEUE_QUERIES = 9


def test_the_queue_costs_the_same_queries_for_one_row_or_fifty(agent, make_complaint):
    client = signed_in(agent)
    make_complaint()
    client.get("/desk/team/")  # warm: session, permissions caches

    with CaptureQueriesContext(connection) as one:
        assert len(rows_of(text_of(client.get("/desk/team/")))) == 1
    for _ in range(49):
        make_complaint()
    with CaptureQueriesContext(connection) as fifty:
        assert len(rows_of(text_of(client.get("/desk/team/")))) == 50

    assert len(one) == len(fifty), [q["sql"] for q in fifty]
    assert len(fifty) == QUEUE_QUERIES, [q["sql"] for q in fifty]


def test_the_unassigned_tab_costs_what_the_team_queue_costs(agent, make_complaint):
    client = signed_in(agent)
    make_complaint()
    client.get("/desk/unassigned/")  # warm: session, permissions caches

    with CaptureQueriesContext(connection) as one:
        assert len(rows_of(text_of(client.get("/desk/unassigned/")))) == 1
    for _ in range(49):
        make_complaint()
    with CaptureQueriesContext(connection) as fifty:
        assert len(rows_of(text_of(client.get("/desk/unassigned/?risk=at_risk")))) == 0
        assert len(rows_of(text_of(client.get("/desk/unassigned/")))) == 50

    assert len(one) == QUEUE_QUERIES, [q["sql"] for q in one]
    assert len(fifty) == 2 * QUEUE_QUERIES, [q["sql"] for q in fifty]


def test_every_queue_page_costs_the_same_queries(agent, make_complaint, customer_user):
    complaints = [make_complaint() for _ in range(51)]
    Complaint.objects.filter(pk=complaints[0].pk).update(assignee=agent)
    Clock.objects.filter(complaint=complaints[1]).update(
        warn_at=timezone.now() - timedelta(minutes=5)
    )
    client = signed_in(agent)
    client.get("/desk/team/")  # warm: session, permissions caches
    pages = [
        "/desk/team/",
        "/desk/team/?page=2",
        "/desk/team/?risk=at_risk",
        f"/desk/team/?q={complaints[2].reference}",
        "/desk/team/?q=charged",  # the subject and the description
        f"/desk/team/?q={customer_user.customer.name}",
        f"/desk/team/?q={customer_user.customer.email}",
    ]
    for page in pages:
        with CaptureQueriesContext(connection) as queries:
            assert rows_of(text_of(client.get(page))), page
        assert len(queries) == QUEUE_QUERIES, (page, [q["sql"] for q in queries])

    with CaptureQueriesContext(connection) as queries:
        assert rows_of(text_of(client.get("/desk/"))) == [complaints[0].reference]
    assert len(queries) == QUEUE_QUERIES, [q["sql"] for q in queries]


# -- the board, notifications ---------------------------------------------------------------


def test_the_board_shows_breached_and_at_risk_complaints_by_level_and_team(
    supervisor, make_complaint
):
    now = timezone.now()
    calm = make_complaint(subject="Calm")
    late = make_complaint(subject="Late")
    Clock.objects.filter(complaint=late, kind=ClockKind.ACKNOWLEDGE).update(
        started_at=now - timedelta(days=2), due_at=now - timedelta(minutes=1)
    )
    sweep(now=now)

    html = text_of(signed_in(supervisor).get("/desk/board/"))

    assert late.reference in html
    assert calm.reference not in html
    assert "Breached" in html
    assert "Escalation level 1" in html  # the sweep climbed the ladder's first rung
    assert "Today, by team" in html
    assert '<th scope="row">Billing</th><td>2</td><td>0</td><td>1</td>' in html


def test_the_bell_counts_unread_notifications_and_the_inbox_marks_them_read(
    agent, make_complaint, customer_user
):
    complaint = make_complaint()
    message_add(complaint=complaint, actor=customer_user, body="Any news?")
    for row in Outbox.objects.filter(complaint_id=complaint.pk):
        deliver(row.pk)
    unread = Notification.objects.filter(user=agent, read_at__isnull=True).count()
    assert unread >= 1
    client = signed_in(agent)

    html = text_of(client.get("/desk/notifications/"))
    assert f'<span class="count" id="bell-count">{unread}</span>' in html
    # Each links through the view that marks it read (test_notification_inbox.py).
    first = Notification.objects.filter(user=agent).latest("outbox_id")
    assert f'href="/desk/notifications/{first.pk}/"' in html

    client.post("/desk/notifications/")
    assert '<span class="count" id="bell-count">0</span>' in text_of(client.get("/desk/"))


def test_escalation_request_shows_on_the_timeline(agent, make_complaint):
    complaint = make_complaint()
    ComplaintEvent.objects.create(
        complaint=complaint,
        type=EventType.ESCALATION_REQUESTED,
        parameters={"reason": f"Please {SCRIPT}"},
    )

    html = text_of(signed_in(agent).get(page_of(complaint)))

    assert "Customer asked for escalation" in html
    assert f"Please {ESCAPED}" in html


# -- statutory deadlines beside internal targets ----------------------------------------------


def test_queue_and_complaint_page_show_the_statutory_deadline_beside_the_internal_one(
    agent, make_complaint, time_machine
):
    from datetime import UTC, datetime

    time_machine.move_to(datetime(2026, 3, 20, 23, 30, tzinfo=UTC), tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_disp", jurisdiction="GB-SCT")
    client = signed_in(agent)

    queue = text_of(client.get("/desk/team/"))
    # The soonest deadline is the internal acknowledgement; the legal one is shown beside it.
    assert 'class="statutory"' in queue
    assert "statutory:" in queue

    page = text_of(client.get(page_of(complaint)))
    assert "Internal target" in page
    assert "Statutory · DISP 1.6.2R (UK FCA DISP)" in page
    # Eight weeks from Fri 20 Mar end with Fri 15 May, a local date in Scotland.
    assert "end of Fri 15 May 2026" in page


def test_a_new_york_deadline_shows_its_new_york_date_and_calendar_clocks_no_business_time(
    agent, make_complaint, time_machine
):
    from datetime import UTC, datetime

    time_machine.move_to(datetime(2026, 11, 6, 15, tzinfo=UTC), tick=False)
    complaint = make_complaint(regulatory_profile="us_cfpb", jurisdiction="US-CA")
    client = signed_in(agent)

    # 6 Nov + 15 days ends with Sat 21 Nov in New York, which is 05:00 UTC on the 22nd.
    queue = text_of(client.get("/desk/team/"))
    assert "statutory:</span>" not in queue  # a label, not a badge
    assert "21 Nov 2026</time>" in queue
    page = text_of(client.get(page_of(complaint)))
    assert "end of Sat 21 Nov 2026" in page
    # Calendar-day obligations count elapsed days, not business time; the internal target
    # counts business hours in hours, not 24-hour "days".
    rows = page.split('<tr class="risk-')
    statutory_rows = [r for r in rows if "Statutory ·" in r]
    assert statutory_rows and not any("of business time" in r for r in statutory_rows)
    internal = next(r for r in rows if "Internal target" in r and ">Resolve<" in r)
    # Received Friday 15:00: all 40 business hours of the Standard policy are left.
    assert "(40 h of business time)" in internal


def test_the_complaint_page_names_the_regime_and_what_a_change_changed(
    agent, supervisor, make_complaint, time_machine
):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from recovery.services.regulation import complaint_change_regulation

    time_machine.move_to(datetime(2026, 4, 2, 10, tzinfo=ZoneInfo("Europe/London")), tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_disp", jurisdiction="GB-ENG")
    complaint_change_regulation(
        complaint=complaint, actor=supervisor, jurisdiction="GB-SCT", reason="Edinburgh <b>"
    )

    page = text_of(signed_in(agent).get(page_of(complaint)))
    assert "UK FCA DISP · Scotland (GB-SCT)" in page
    # Scotland works Easter Monday: the summary window closes a day earlier.
    assert (
        "Edinburgh &lt;b&gt; — jurisdiction GB-ENG → GB-SCT; "
        "resolve due 28 May 2026, 22:59 UTC → 28 May 2026, 22:59 UTC; "
        "summary_resolution due 9 Apr 2026, 16:00 UTC → 8 Apr 2026, 16:00 UTC"
    ) in page


# -- the complaint moves away while a form is on its way back ---------------------------------


def _reassigned_away_first(monkeypatch, module, name, complaint, team):
    """Run ``module.name`` only after the complaint was moved to ``team``, as a supervisor
    does in another tab between the desk's access check and the service's own."""
    real = getattr(module, name)

    def moved_then_run(**kwargs):
        Complaint.objects.filter(pk=complaint.pk).update(team=team, assignee=None)
        return real(**kwargs)

    monkeypatch.setattr(module, name, moved_then_run)


def test_an_action_on_a_complaint_reassigned_away_meanwhile_says_so(
    agent, make_complaint, other_team, monkeypatch
):
    from recovery.services import lifecycle

    complaint = make_complaint()
    _reassigned_away_first(monkeypatch, lifecycle, "complaint_acknowledge", complaint, other_team)

    answer = signed_in(agent).post(
        f"{page_of(complaint)}acknowledge/",
        {
            "acknowledge-message": f"We have {complaint.reference}.",
            "acknowledge-next_steps": "We reply within 5 days.",
            "acknowledge-expected_state": "received",
        },
    )

    assert answer.status_code == 403
    page = text_of(answer)
    assert f"{complaint.reference} belongs to the {other_team.name} team" in page
    assert "Nothing was changed" in page
    complaint.refresh_from_db()
    assert complaint.state == State.RECEIVED


def test_a_recovery_offered_on_a_complaint_reassigned_away_meanwhile_says_so(
    agent, make_complaint, other_team, root_causes, monkeypatch
):
    from recovery.services import remedies

    complaint = acknowledge(make_complaint(), agent)
    _reassigned_away_first(monkeypatch, remedies, "recovery_propose", complaint, other_team)

    answer = offer(signed_in(agent), complaint, type="refund", amount="20.00", currency="GBP")

    assert answer.status_code == 403
    assert f"belongs to the {other_team.name} team" in text_of(answer)
    assert not RecoveryAction.objects.filter(complaint=complaint).exists()


def test_the_boards_figures_count_the_complaints_the_reader_may_see(
    supervisor, manager, make_complaint, other_team
):
    make_complaint(subject="Ours")
    make_complaint(subject="Theirs")
    make_complaint(subject="Theirs too", routed_to=other_team)
    Complaint.objects.filter(subject="Theirs").update(team=other_team)

    ours = text_of(signed_in(supervisor).get("/desk/board/"))
    everyone = text_of(signed_in(manager).get("/desk/board/"))

    # The supervisor is on Billing: Delivery's figures are not theirs to see.
    assert '<th scope="row">Billing</th><td>1</td>' in ours
    assert '<th scope="row">Delivery</th>' not in ours
    assert '<th scope="row">Billing</th><td>1</td>' in everyone
    assert '<th scope="row">Delivery</th><td>2</td>' in everyone


# A right-to-left override (U+202E) makes "evil" display as "live" unless isolated.
RLO = "\u202e"


def test_names_and_subjects_on_the_queue_and_board_are_bidi_isolated(supervisor, make_complaint):
    now = timezone.now()
    late = make_complaint(subject=f"{RLO}dnufer")
    late.customer.name = f"{RLO}live"
    late.customer.save(update_fields=["name"])
    Clock.objects.filter(complaint=late, kind=ClockKind.ACKNOWLEDGE).update(
        started_at=now - timedelta(days=2), due_at=now - timedelta(minutes=1)
    )
    sweep(now=now)
    client = signed_in(supervisor)

    for path in ("/desk/team/", "/desk/board/"):
        html = text_of(client.get(path))
        assert f"<bdi>{RLO}dnufer</bdi>" in html, path
        assert f"<bdi>{RLO}live</bdi>" in html, path


def test_names_and_subjects_on_the_complaint_and_approvals_pages_are_bidi_isolated(
    agent, supervisor, make_complaint, root_causes
):
    complaint = acknowledge(make_complaint(subject=f"{RLO}dnufer"), agent)
    complaint.customer.name = f"{RLO}live"
    complaint.customer.save(update_fields=["name"])
    offer(signed_in(agent), complaint, type="goodwill", amount="200.00", currency="GBP")

    page = text_of(signed_in(agent).get(page_of(complaint)))
    assert f"{complaint.reference}: <bdi>{RLO}dnufer</bdi></h1>" in page
    assert f"<bdi>{RLO}live</bdi>'s history" in page
    assert f'<p class="meta"><bdi>{RLO}live</bdi>' in page
    assert RLO not in page.replace(f"<bdi>{RLO}", "")  # none left outside an isolate

    approvals = text_of(signed_in(supervisor).get("/desk/approvals/"))
    assert f" · <bdi>{RLO}live</bdi>" in approvals
    assert RLO not in approvals.replace(f"<bdi>{RLO}", "")


def test_an_imported_complaint_says_why_no_clock_runs_and_how_to_work_it(agent, make_complaint):
    """Imported history is reported on, not worked (docs/import-cfpb.md): its page says so
    instead of the bare "No clocks run", which read as a fault."""
    imported, native = make_complaint(), make_complaint()
    Complaint.objects.filter(pk=imported.pk).update(source="cfpb", external_id="3571115")
    Clock.objects.filter(complaint__in=[imported, native]).delete()
    client = signed_in(agent)

    imported_page = client.get(f"/desk/complaints/{imported.reference}/").content.decode()
    native_page = client.get(f"/desk/complaints/{native.reference}/").content.decode()

    assert "Imported history (CFPB): no clocks run here" in imported_page
    assert "change its regulatory regime" in imported_page
    assert "No clocks run for this complaint." not in imported_page
    assert "No clocks run for this complaint." in native_page
    assert "Imported history" not in native_page
