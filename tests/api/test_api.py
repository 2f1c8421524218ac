"""The REST API: intake, idempotency, the queue, detail, transitions, messages, auth, docs.

Every error answer has the shape ``{"error", "message", "details"}`` and a message a person
can act on; these tests read the messages as well as the status codes.
"""

import re

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone
from rest_framework.test import APIClient

from recovery.models import Complaint, Customer, IdempotencyKey, State
from tests.conftest import acknowledge, api_client, close_loop, resolve
from tests.factories import CategoryFactory, RootCauseFactory, UserFactory

pytestmark = pytest.mark.django_db

COMPLAINTS = "/api/complaints/"


def detail_url(reference: str) -> str:
    return f"{COMPLAINTS}{reference}/"


def transitions_url(reference: str) -> str:
    return f"{COMPLAINTS}{reference}/transitions/"


def messages_url(reference: str) -> str:
    return f"{COMPLAINTS}{reference}/messages/"


def assert_error(response, status: int, error: str) -> dict:
    """The one error shape, with a message that is not empty."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == error
    assert isinstance(body["message"], str) and body["message"].strip()
    assert isinstance(body["details"], dict)
    return body


NEW_COMPLAINT = {"subject": "Charged twice", "description": "Two charges for one order."}


# -- intake -----------------------------------------------------------------------------------


def test_customer_submits_a_complaint(customer_user):
    answer = api_client(customer_user).post(COMPLAINTS, NEW_COMPLAINT, format="json")

    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert re.fullmatch(r"RDR-\d{4}-\d{6}", body["reference"])
    assert answer["Location"] == detail_url(body["reference"])
    assert "Idempotent-Replayed" not in answer
    assert body["state"] == State.RECEIVED
    assert body["customer"]["id"] == customer_user.customer.pk
    assert body["channel"] == "api"
    assert [e["type"] for e in body["timeline"]] == ["received"]
    assert [(m["kind"], m["body"]) for m in body["messages"]] == [
        ("original", "Two charges for one order.")
    ]
    assert body["allowed_transitions"] == ["withdraw"]


@pytest.mark.parametrize("filer", ["agent", "customer_user"])
def test_the_answer_to_an_intake_is_what_a_read_of_the_complaint_answers(filer, team, request):
    """The answer is built from what intake wrote, not read back: byte for byte what the
    complaint's read answers, the timeline's parameters with their keys in the order the
    database keeps them, and no staff-only event (routed) for a customer."""
    user = request.getfixturevalue(filer)
    client = api_client(user)
    body = {**NEW_COMPLAINT, "description": "Two charges.\nOne order, \u00e9t\u00e9 2024."}
    if filer == "agent":
        body |= {"customer": {"name": "New Person", "email": "new@example.com"}}
        body |= {"team": team.slug}

    answer = client.post(COMPLAINTS, body, format="json")

    assert answer.status_code == 201, answer.json()
    read = client.get(answer["Location"])
    assert read.status_code == 200
    assert answer.content == read.content
    timeline = [event["type"] for event in answer.json()["timeline"]]
    assert timeline == (["received", "routed"] if filer == "agent" else ["received"])


def test_staff_must_say_who_the_customer_is(agent):
    answer = api_client(agent).post(COMPLAINTS, NEW_COMPLAINT, format="json")

    body = assert_error(answer, 400, "validation_failed")
    assert "customer" in body["message"].lower()
    assert "customer" in body["details"]
    assert not Complaint.objects.exists()


def test_staff_intake_matches_the_customer_by_email_in_any_case(agent, customer_user):
    answer = api_client(agent).post(
        COMPLAINTS,
        {**NEW_COMPLAINT, "customer": {"name": "Someone", "email": "CUSTOMER@Example.COM"}},
        format="json",
    )

    assert answer.status_code == 201, answer.json()
    assert answer.json()["customer"]["id"] == customer_user.customer.pk
    assert Customer.objects.count() == 1


def test_staff_intake_creates_a_new_customer(agent):
    answer = api_client(agent).post(
        COMPLAINTS,
        {**NEW_COMPLAINT, "customer": {"name": "New Person", "email": "new@example.com"}},
        format="json",
    )

    assert answer.status_code == 201, answer.json()
    customer = Customer.objects.get(email="new@example.com")
    assert answer.json()["customer"] == {
        "id": customer.pk,
        "name": "New Person",
        "email": "new@example.com",
    }
    # Staff did not write the customer's words; the original message has no staff author.
    assert answer.json()["messages"][0]["author"] is None


def test_category_routes_to_its_default_team(customer_user, team):
    CategoryFactory(slug="cards", name="Cards", default_team=team)

    answer = api_client(customer_user).post(
        COMPLAINTS, {**NEW_COMPLAINT, "category": "cards"}, format="json"
    )

    assert answer.status_code == 201, answer.json()
    assert answer.json()["category"] == {"slug": "cards", "name": "Cards"}
    assert answer.json()["team"] == {"slug": team.slug, "name": team.name}


def test_staff_may_route_to_a_team_but_customers_may_not(agent, customer_user, other_team):
    staff_answer = api_client(agent).post(
        COMPLAINTS,
        {**NEW_COMPLAINT, "team": other_team.slug, "customer": {"name": "A", "phone": "123"}},
        format="json",
    )
    customer_answer = api_client(customer_user).post(
        COMPLAINTS, {**NEW_COMPLAINT, "team": other_team.slug}, format="json"
    )

    assert staff_answer.status_code == 201, staff_answer.json()
    assert staff_answer.json()["team"]["slug"] == other_team.slug
    body = assert_error(customer_answer, 403, "permission_denied")
    assert "Only staff may route a complaint to a team." in body["message"]


def test_someone_who_is_neither_staff_nor_customer_cannot_submit(outsider):
    answer = api_client(outsider).post(COMPLAINTS, NEW_COMPLAINT, format="json")

    assert_error(answer, 403, "permission_denied")
    assert not Complaint.objects.exists()


# -- idempotent intake ------------------------------------------------------------------------


def test_retry_with_the_same_key_replays_the_first_complaint(customer_user):
    client = api_client(customer_user)

    first = client.post(COMPLAINTS, NEW_COMPLAINT, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    retry = client.post(COMPLAINTS, NEW_COMPLAINT, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == 201, first.json()
    assert retry.status_code == 200, retry.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["reference"] == first.json()["reference"]
    assert retry["Location"] == first["Location"]
    assert Complaint.objects.count() == 1


def test_a_replay_takes_no_reference_number(customer_user):
    """The key is looked for in the statement that numbers the complaint: a replay (or a
    conflict) leaves no gap."""
    client = api_client(customer_user)
    first = client.post(COMPLAINTS, NEW_COMPLAINT, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    client.post(COMPLAINTS, NEW_COMPLAINT, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    client.post(
        COMPLAINTS, {**NEW_COMPLAINT, "subject": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    second = client.post(COMPLAINTS, NEW_COMPLAINT, format="json", HTTP_IDEMPOTENCY_KEY="k-2")

    numbers = [int(answer.json()["reference"].rsplit("-", 1)[1]) for answer in (first, second)]
    assert numbers[1] == numbers[0] + 1


def test_same_key_with_a_different_body_is_a_conflict(customer_user):
    client = api_client(customer_user)
    first = client.post(COMPLAINTS, NEW_COMPLAINT, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    other = client.post(
        COMPLAINTS,
        {**NEW_COMPLAINT, "subject": "Something else"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )

    body = assert_error(other, 409, "conflict")
    assert "k-1" in body["message"]
    assert "Use a new key" in body["message"]
    assert body["details"] == {"complaint": first.json()["reference"]}
    assert Complaint.objects.count() == 1


def test_keys_are_scoped_to_the_client(customer_user, other_customer_user):
    mine = api_client(customer_user).post(
        COMPLAINTS, NEW_COMPLAINT, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    theirs = api_client(other_customer_user).post(
        COMPLAINTS, NEW_COMPLAINT, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["reference"] != theirs.json()["reference"]


def test_idempotency_key_of_255_characters_is_accepted(customer_user):
    answer = api_client(customer_user).post(
        COMPLAINTS, NEW_COMPLAINT, format="json", HTTP_IDEMPOTENCY_KEY="k" * 255
    )

    assert answer.status_code == 201, answer.json()
    assert IdempotencyKey.objects.get().key == "k" * 255


def test_idempotency_key_over_255_characters_is_refused(customer_user):
    answer = api_client(customer_user).post(
        COMPLAINTS, NEW_COMPLAINT, format="json", HTTP_IDEMPOTENCY_KEY="k" * 256
    )

    body = assert_error(answer, 400, "validation_failed")
    assert "256 characters; at most 255" in body["message"]
    assert "Idempotency-Key" in body["details"]
    assert not Complaint.objects.exists()


# -- the queue ----------------------------------------------------------------------------------


@pytest.fixture
def queue(make_complaint, customer_user, other_customer_user, agent, team, other_team):
    """Four complaints: three of ``customer_user`` (one acknowledged), one of the other."""
    first = make_complaint(subject="First")
    second = make_complaint(subject="Second", routed_to=other_team)
    third = make_complaint(subject="Third")
    acknowledge(third, agent)
    theirs = make_complaint(by=other_customer_user, subject="Theirs")
    return {"first": first, "second": second, "third": third, "theirs": theirs}


def references(answer) -> set[str]:
    assert answer.status_code == 200, answer.json()
    return {row["reference"] for row in answer.json()["results"]}


def test_a_manager_lists_everything_newest_first(queue, manager):
    answer = api_client(manager).get(COMPLAINTS)

    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 4
    assert [row["subject"] for row in body["results"]] == ["Theirs", "Third", "Second", "First"]


def test_an_agent_lists_only_their_teams_complaints(queue, agent):
    # The other team's complaint is behind the access policy (recovery.access).
    assert references(api_client(agent).get(COMPLAINTS)) == {
        queue["first"].reference,
        queue["third"].reference,
        queue["theirs"].reference,
    }


def test_list_filters_by_state_and_team(queue, manager, other_team):
    client = api_client(manager)

    assert references(client.get(COMPLAINTS, {"state": "acknowledged"})) == {
        queue["third"].reference
    }
    assert references(client.get(COMPLAINTS, {"team": other_team.slug})) == {
        queue["second"].reference
    }
    assert references(client.get(COMPLAINTS, {"state": ["received", "acknowledged"]})) == {
        c.reference for c in queue.values()
    }
    assert references(client.get(COMPLAINTS, {"team": "billing", "state": "received"})) == {
        queue["first"].reference,
        queue["theirs"].reference,
    }


def test_list_filters_by_time_window(queue, manager):
    later = timezone.now() + timezone.timedelta(hours=1)
    client = api_client(manager)

    assert references(client.get(COMPLAINTS, {"received_after": later.isoformat()})) == set()
    assert len(references(client.get(COMPLAINTS, {"received_before": later.isoformat()}))) == len(
        queue
    )


def test_list_is_paginated(queue, manager):
    client = api_client(manager)

    first_page = client.get(COMPLAINTS, {"page_size": 3}).json()
    second_page = client.get(COMPLAINTS, {"page_size": 3, "page": 2}).json()

    assert first_page["count"] == 4
    assert len(first_page["results"]) == 3
    assert first_page["previous"] is None
    assert "page=2" in first_page["next"]
    assert len(second_page["results"]) == 1
    assert second_page["next"] is None
    seen = {r["reference"] for r in first_page["results"] + second_page["results"]}
    assert seen == {c.reference for c in queue.values()}


def test_customers_list_only_their_own_complaints(queue, customer_user, other_customer_user):
    mine = references(api_client(customer_user).get(COMPLAINTS))
    theirs = references(api_client(other_customer_user).get(COMPLAINTS))

    assert mine == {queue[k].reference for k in ("first", "second", "third")}
    assert theirs == {queue["theirs"].reference}


def test_customer_filter_cannot_widen_what_a_customer_sees(queue, customer_user):
    other = queue["theirs"].customer_id

    assert references(api_client(customer_user).get(COMPLAINTS, {"customer": other})) == set()


def test_someone_without_a_role_lists_nothing(queue, outsider):
    answer = api_client(outsider).get(COMPLAINTS)

    assert answer.json()["count"] == 0


# -- detail ---------------------------------------------------------------------------------------


def test_detail_of_another_customers_complaint_is_not_found(make_complaint, other_customer_user):
    complaint = make_complaint()

    answer = api_client(other_customer_user).get(detail_url(complaint.reference))

    body = assert_error(answer, 404, "not_found")
    assert complaint.reference in body["message"]


def test_detail_of_an_unknown_reference_is_not_found(agent):
    answer = api_client(agent).get(detail_url("RDR-1999-000001"))

    body = assert_error(answer, 404, "not_found")
    assert "RDR-1999-000001" in body["message"]


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/",
        "/api/nope/",
        "/api/recoveries/abc/decision/",
        "/api/complaints/RDR-2026-000043/nope/",
    ],
)
def test_an_unknown_api_address_answers_the_json_not_found(agent, path, debug, settings):
    # DEBUG on (``./redress run``) must not answer with Django's HTML page of every pattern.
    settings.DEBUG = debug

    answer = api_client(agent).get(path)

    assert answer["Content-Type"].startswith("application/json")
    body = assert_error(answer, 404, "not_found")
    assert path in body["message"]


def test_an_unknown_api_address_answers_a_post_the_same():
    # Checked as a browser would be: no CSRF page in place of the API's answer.
    answer = APIClient(enforce_csrf_checks=True).post("/api/nope/", {}, format="json")

    assert_error(answer, 404, "not_found")


def test_detail_lists_what_the_viewer_may_do(
    make_complaint, agent, supervisor, customer_user, root_causes
):
    complaint = make_complaint()

    def allowed(user):
        return api_client(user).get(detail_url(complaint.reference)).json()["allowed_transitions"]

    assert allowed(agent) == ["acknowledge", "withdraw"]
    assert allowed(customer_user) == ["withdraw"]
    acknowledge(complaint, agent)
    resolve(complaint, agent)
    assert allowed(agent) == ["close_loop"]
    assert allowed(supervisor) == ["close_loop", "reopen"]


def test_a_supervisor_reopens_a_loop_closed_complaint_and_an_agent_may_not(
    make_complaint, agent, supervisor, root_causes
):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    resolve(complaint, agent)
    close_loop(Complaint.objects.get(pk=complaint.pk), agent)
    body = {"transition": "reopen", "reason": "The customer answered: still not refunded."}

    assert_error(
        api_client(agent).post(transitions_url(complaint.reference), body, format="json"),
        403,
        "permission_denied",
    )
    assert (
        api_client(agent).get(detail_url(complaint.reference)).json()["allowed_transitions"] == []
    )
    assert api_client(supervisor).get(detail_url(complaint.reference)).json()[
        "allowed_transitions"
    ] == ["reopen"]
    answer = api_client(supervisor).post(transitions_url(complaint.reference), body, format="json")

    assert answer.status_code == 200, answer.content
    assert (answer.json()["state"], answer.json()["reopen_count"]) == ("acknowledged", 1)
    assert answer.json()["loop_closed_at"] is None


def test_internal_notes_are_hidden_from_customers(make_complaint, agent, customer_user):
    complaint = make_complaint()
    note = api_client(agent).post(
        messages_url(complaint.reference),
        {"body": "Customer is a known chargeback risk.", "internal": True},
        format="json",
    )
    assert note.status_code == 201, note.json()

    staff_view = api_client(agent).get(detail_url(complaint.reference)).json()
    customer_view = api_client(customer_user).get(detail_url(complaint.reference)).json()

    assert "Customer is a known chargeback risk." in [m["body"] for m in staff_view["messages"]]
    assert "note_added" in [e["type"] for e in staff_view["timeline"]]
    assert all(m["direction"] != "internal" for m in customer_view["messages"])
    assert "chargeback" not in str(customer_view)
    # Not even the fact that a note was written is the customer's to see.
    assert "note_added" not in [e["type"] for e in customer_view["timeline"]]


# -- transitions ------------------------------------------------------------------------------------


def test_transition_answers_with_the_updated_complaint(make_complaint, agent):
    complaint = make_complaint()

    answer = api_client(agent).post(
        transitions_url(complaint.reference),
        {
            "transition": "acknowledge",
            "message": f"Your reference is {complaint.reference}.",
            "next_steps": "We will reply within 5 days.",
            "expected_state": "received",
        },
        format="json",
    )

    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["state"] == "acknowledged"
    assert body["acknowledged_at"] is not None
    assert [e["type"] for e in body["timeline"]] == ["received", "routed", "acknowledged"]
    assert body["timeline"][-1]["actor"]["username"] == agent.username
    assert body["allowed_transitions"] == ["resolve", "withdraw"]


def test_transition_from_the_wrong_state_is_409(make_complaint, agent):
    complaint = make_complaint()

    answer = api_client(agent).post(
        transitions_url(complaint.reference),
        {"transition": "close_loop", "what_we_found": "x", "what_we_did": "y"},
        format="json",
    )

    body = assert_error(answer, 409, "transition_not_allowed")
    assert body["message"] == (
        f"Cannot close loop {complaint.reference}: it is received. "
        "Allowed from received: acknowledge, withdraw."
    )
    assert body["details"] == {
        "state": "received",
        "allowed_transitions": ["acknowledge", "withdraw"],
    }


def test_transition_from_a_final_state_says_none_is_allowed(make_complaint, customer_user):
    complaint = make_complaint()
    client = api_client(customer_user)
    withdrawn = client.post(
        transitions_url(complaint.reference),
        {"transition": "withdraw", "reason": "Sorted."},
        format="json",
    )
    assert withdrawn.status_code == 200, withdrawn.json()

    again = client.post(
        transitions_url(complaint.reference),
        {"transition": "withdraw", "reason": "Again."},
        format="json",
    )

    body = assert_error(again, 409, "transition_not_allowed")
    assert "it is withdrawn" in body["message"]
    assert "none (final state)" in body["message"]


def test_expected_state_mismatch_is_409(make_complaint, agent):
    complaint = make_complaint()
    acknowledge(complaint, agent)

    answer = api_client(agent).post(
        transitions_url(complaint.reference),
        {"transition": "withdraw", "reason": "Duplicate.", "expected_state": "received"},
        format="json",
    )

    body = assert_error(answer, 409, "conflict")
    assert "it is now acknowledged, not received" in body["message"]
    assert "Reload" in body["message"]
    assert Complaint.objects.get(pk=complaint.pk).state == State.ACKNOWLEDGED


def test_customer_may_not_acknowledge_is_403(make_complaint, customer_user):
    complaint = make_complaint()

    answer = api_client(customer_user).post(
        transitions_url(complaint.reference),
        {"transition": "acknowledge", "message": complaint.reference, "next_steps": "x"},
        format="json",
    )

    body = assert_error(answer, 403, "permission_denied")
    assert body["message"] == f"You may not acknowledge {complaint.reference}."
    assert Complaint.objects.get(pk=complaint.pk).state == State.RECEIVED


def test_other_team_may_not_transition_is_403(make_complaint, other_agent):
    complaint = make_complaint()

    answer = api_client(other_agent).post(
        transitions_url(complaint.reference),
        {"transition": "withdraw", "reason": "Not ours."},
        format="json",
    )

    assert_error(answer, 403, "permission_denied")


def test_state_and_permission_are_checked_before_the_payload(make_complaint, customer_user):
    """Someone who cannot take the step is told so, not asked to fill in the form."""
    complaint = make_complaint()

    answer = api_client(customer_user).post(
        transitions_url(complaint.reference), {"transition": "acknowledge"}, format="json"
    )

    assert_error(answer, 403, "permission_denied")


def test_missing_transition_fields_are_400_and_named(make_complaint, agent):
    complaint = make_complaint()

    answer = api_client(agent).post(
        transitions_url(complaint.reference), {"transition": "acknowledge"}, format="json"
    )

    body = assert_error(answer, 400, "validation_failed")
    assert set(body["details"]) == {"message", "next_steps"}
    assert "message: This field is required." in body["message"]
    assert "next_steps: This field is required." in body["message"]


def test_acknowledgement_without_the_reference_is_400(make_complaint, agent):
    complaint = make_complaint()

    answer = api_client(agent).post(
        transitions_url(complaint.reference),
        {"transition": "acknowledge", "message": "Thanks.", "next_steps": "We will reply."},
        format="json",
    )

    body = assert_error(answer, 400, "validation_failed")
    assert body["message"] == "The acknowledgement must name the complaint's reference."
    assert complaint.reference in body["details"]["message"][0]


def test_resolve_with_unknown_root_cause_is_400(make_complaint, agent, root_causes):
    complaint = make_complaint()
    acknowledge(complaint, agent)

    answer = api_client(agent).post(
        transitions_url(complaint.reference),
        {
            "transition": "resolve",
            "outcome": "upheld",
            "summary": "Refunded.",
            "root_causes": ["billing.not-a-cause"],
        },
        format="json",
    )

    body = assert_error(answer, 400, "validation_failed")
    assert "Unknown root cause codes: billing.not-a-cause." in body["message"]
    assert "root_causes" in body["details"]


def test_unknown_transition_is_400_and_lists_the_choices(make_complaint, agent):
    complaint = make_complaint()

    answer = api_client(agent).post(
        transitions_url(complaint.reference), {"transition": "escalate"}, format="json"
    )

    body = assert_error(answer, 400, "validation_failed")
    assert body["message"] == (
        "Unknown transition 'escalate'; "
        "choose one of: acknowledge, resolve, close_loop, reopen, withdraw."
    )
    assert body["details"] == {
        "transition": ["Choose one of: acknowledge, resolve, close_loop, reopen, withdraw."]
    }


def test_transition_on_another_customers_complaint_is_404(make_complaint, other_customer_user):
    complaint = make_complaint()

    answer = api_client(other_customer_user).post(
        transitions_url(complaint.reference),
        {"transition": "withdraw", "reason": "Not mine."},
        format="json",
    )

    assert_error(answer, 404, "not_found")
    assert Complaint.objects.get(pk=complaint.pk).state == State.RECEIVED


# -- messages -------------------------------------------------------------------------------------


def test_customer_and_staff_write_on_a_complaint(make_complaint, agent, customer_user):
    complaint = make_complaint()

    from_customer = api_client(customer_user).post(
        messages_url(complaint.reference), {"body": "Any news?"}, format="json"
    )
    from_agent = api_client(agent).post(
        messages_url(complaint.reference), {"body": "  Looking into it.  "}, format="json"
    )

    assert from_customer.status_code == 201, from_customer.json()
    assert from_customer.json()["direction"] == "inbound"
    assert from_customer.json()["kind"] == "reply"
    assert from_agent.status_code == 201, from_agent.json()
    assert from_agent.json()["direction"] == "outbound"
    assert from_agent.json()["body"] == "Looking into it."
    timeline = [e.type for e in complaint.events.all()]
    assert timeline == ["received", "routed", "message_added", "message_added"]


def test_customer_cannot_post_internal_notes(make_complaint, customer_user):
    complaint = make_complaint()

    answer = api_client(customer_user).post(
        messages_url(complaint.reference), {"body": "Psst.", "internal": True}, format="json"
    )

    body = assert_error(answer, 403, "permission_denied")
    assert body["message"] == f"You may not add internal notes to {complaint.reference}."
    assert complaint.messages.count() == 1


def test_other_team_cannot_write_on_a_complaint(make_complaint, other_agent):
    complaint = make_complaint()

    answer = api_client(other_agent).post(
        messages_url(complaint.reference), {"body": "Hello."}, format="json"
    )

    assert_error(answer, 403, "permission_denied")


def test_withdrawn_complaint_takes_no_messages(make_complaint, customer_user):
    complaint = make_complaint()
    client = api_client(customer_user)
    client.post(
        transitions_url(complaint.reference),
        {"transition": "withdraw", "reason": "Sorted."},
        format="json",
    )

    answer = client.post(
        messages_url(complaint.reference), {"body": "One more thing"}, format="json"
    )

    body = assert_error(answer, 409, "transition_not_allowed")
    assert body["message"] == f"{complaint.reference} was withdrawn; it takes no more messages."
    assert body["details"] == {"state": "withdrawn", "allowed_transitions": []}


# -- root causes ------------------------------------------------------------------------------------


def test_root_causes_hide_retired_codes_unless_asked(agent, root_causes):
    RootCauseFactory(
        code="billing.legacy",
        name="Legacy",
        parent=root_causes["billing"],
        retired_at=timezone.now(),
    )
    client = api_client(agent)

    active = client.get("/api/root-causes/").json()
    everything = client.get("/api/root-causes/", {"include_retired": "1"}).json()

    assert [c["code"] for c in active] == [
        "billing",
        "billing.duplicate-charge",
        "billing.refund-delay",
    ]
    assert {c["code"]: c["active"] for c in everything}["billing.legacy"] is False
    duplicate = next(c for c in everything if c["code"] == "billing.duplicate-charge")
    assert duplicate["path"] == "Billing > Duplicate charge"
    assert duplicate["parent"] == "billing"


def test_root_causes_are_for_staff_only(customer_user, root_causes):
    answer = api_client(customer_user).get("/api/root-causes/")

    body = assert_error(answer, 403, "permission_denied")
    assert "taxonomy" in body["message"]


# -- authentication -----------------------------------------------------------------------------------


@pytest.fixture
def password_user(customer_user):
    customer_user.set_password("correct horse battery")
    customer_user.save()
    return customer_user


def test_token_from_good_credentials_opens_the_api(password_user):
    answer = APIClient().post(
        "/api/auth/token/",
        {"username": password_user.username, "password": "correct horse battery"},
        format="json",
    )

    assert answer.status_code == 200, answer.json()
    token = answer.json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(COMPLAINTS).status_code == 200


def test_a_token_request_opens_no_browser_session(password_user):
    answer = APIClient().post(
        "/api/auth/token/",
        {"username": password_user.username, "password": "correct horse battery"},
        format="json",
    )

    assert answer.status_code == 200, answer.json()
    assert "sessionid" not in answer.cookies
    assert not Session.objects.exists()


def test_each_token_request_issues_a_new_token_and_both_work(password_user):
    # Only a hash is kept, so the same token cannot be handed out twice: each client (or
    # script) gets its own, revocable on its own (docs/api.md).
    credentials = {"username": password_user.username, "password": "correct horse battery"}

    first = APIClient().post("/api/auth/token/", credentials, format="json").json()
    second = APIClient().post("/api/auth/token/", credentials, format="json").json()

    assert first["token"] != second["token"]
    assert set(first) == {"token", "expiry"}
    for token in (first["token"], second["token"]):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert client.get(COMPLAINTS).status_code == 200


def test_token_with_bad_credentials_is_400(password_user):
    answer = APIClient().post(
        "/api/auth/token/",
        {"username": password_user.username, "password": "wrong"},
        format="json",
    )

    body = assert_error(answer, 400, "validation_failed")
    assert body["message"] == "Unable to log in with the username and password given."


def test_token_for_an_inactive_user_is_400(password_user):
    password_user.is_active = False
    password_user.save()

    answer = APIClient().post(
        "/api/auth/token/",
        {"username": password_user.username, "password": "correct horse battery"},
        format="json",
    )

    assert_error(answer, 400, "validation_failed")


@pytest.mark.parametrize(
    ("payload", "missing"),
    [({}, {"username", "password"}), ({"username": "x"}, {"password"})],
)
def test_token_with_missing_fields_is_400(db, payload, missing):
    answer = APIClient().post("/api/auth/token/", payload, format="json")

    body = assert_error(answer, 400, "validation_failed")
    assert set(body["details"]) == missing
    for field in missing:
        assert f"{field}: This field is required." in body["message"]


def test_a_wrong_token_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    answer = client.get(COMPLAINTS)

    body = assert_error(answer, 401, "authentication_failed")
    assert "token" in body["message"].lower()


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", COMPLAINTS),
        ("post", COMPLAINTS),
        ("get", detail_url("RDR-2026-000001")),
        ("post", transitions_url("RDR-2026-000001")),
        ("post", messages_url("RDR-2026-000001")),
        ("get", "/api/root-causes/"),
    ],
)
def test_unauthenticated_requests_are_401(db, method, url):
    answer = getattr(APIClient(), method)(url, {}, format="json" if method == "post" else None)

    body = assert_error(answer, 401, "not_authenticated")
    assert body["message"] == "Authentication credentials were not provided."
    # 401 must say how to authenticate.
    assert answer["WWW-Authenticate"] == "Token"


def test_a_session_login_works_too(customer_user):
    client = APIClient()
    client.force_login(customer_user)

    assert client.get(COMPLAINTS).status_code == 200


# -- schema and docs ----------------------------------------------------------------------------------


def test_openapi_schema_is_served(db):
    answer = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert answer.status_code == 200
    schema = answer.json()
    assert schema["info"]["title"] == "Redress API"
    for path in (
        "/api/complaints/",
        "/api/complaints/{reference}/",
        "/api/complaints/{reference}/transitions/",
        "/api/complaints/{reference}/messages/",
        "/api/root-causes/",
        "/api/auth/token/",
        "/api/regulatory-profiles/",
        "/api/regulatory-profiles/{code}/",
        "/api/complaints/{reference}/written-response/",
        "/api/complaints/{reference}/delay-notification/",
        "/api/complaints/{reference}/provisional-credit/",
    ):
        assert path in schema["paths"]


CDN_HOSTS = re.compile(r"cdn|jsdelivr|unpkg|cdnjs|googleapis", re.IGNORECASE)


def test_api_docs_are_served_without_a_cdn(db):
    answer = APIClient().get("/api/docs/")

    assert answer.status_code == 200
    html = answer.content.decode()
    assert "<html" in html.lower()
    external = [u for u in re.findall(r"""(?:src|href)=["']([^"']+)""", html) if "//" in u]
    assert external == [], external
    assert not CDN_HOSTS.search(html), CDN_HOSTS.search(html)


def test_docs_assets_are_served_by_the_app(db):
    html = APIClient().get("/api/docs/").content.decode()

    assets = re.findall(r"""src=["'](/[^"']+\.js)""", html)
    assert assets, "the docs page loads its scripts from this app"


def test_a_user_without_a_role_gets_a_token_but_sees_nothing(db):
    UserFactory(username="plain")
    answer = APIClient().post(
        "/api/auth/token/", {"username": "plain", "password": "pw"}, format="json"
    )

    assert answer.status_code == 200, answer.json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {answer.json()['token']}")
    assert client.get(COMPLAINTS).json()["count"] == 0
