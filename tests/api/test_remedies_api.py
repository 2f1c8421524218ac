"""The recovery API: offer, approvals queue, decide, deliver; bad input gets a precise 4xx."""

import pytest

from recovery.models import RecoveryAction
from tests.conftest import acknowledge, api_client


@pytest.fixture
def complaint(make_complaint, agent):
    return acknowledge(make_complaint(), agent)


def url(complaint):
    return f"/api/complaints/{complaint.reference}/recoveries/"


def test_offer_route_decide_and_deliver(complaint, agent, supervisor):
    agent_client = api_client(agent)
    offered = agent_client.post(
        url(complaint), {"type": "refund", "amount": "75.00", "currency": "gbp"}, format="json"
    )
    assert offered.status_code == 201, offered.content
    body = offered.json()
    assert (body["status"], body["amount"], body["currency"]) == (
        "awaiting_approval",
        "75.00",
        "GBP",
    )
    queue = api_client(supervisor).get("/api/recoveries/awaiting-approval/").json()
    assert [row["id"] for row in queue] == [body["id"]]
    decided = api_client(supervisor).post(
        f"/api/recoveries/{body['id']}/decision/",
        {"decision": "approve", "reason": "Fair for two failed deliveries."},
        format="json",
    )
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    again = api_client(supervisor).post(
        f"/api/recoveries/{body['id']}/decision/",
        {"decision": "decline", "reason": "late"},
        format="json",
    )
    assert again.status_code == 409
    delivered = agent_client.post(f"/api/recoveries/{body['id']}/delivery/", {}, format="json")
    assert delivered.json()["status"] == "delivered"
    overview = agent_client.get(url(complaint)).json()
    assert overview["totals"] == [
        {"currency": "GBP", "type": "refund", "total": "75.00", "count": 1}
    ]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"type": "refund", "amount": 12.5}, "currency"),
        ({"type": "refund", "amount": True, "currency": "GBP"}, "amount"),
        ({"type": "refund", "amount": ["1"], "currency": "GBP"}, "amount"),
        ({"type": "refund", "amount": "1e400", "currency": "GBP"}, "amount"),
        ({"type": "refund", "amount": "10", "currency": "GBPX"}, "currency"),
        ({"type": "wish"}, "type"),
        ({"type": "apology", "colour": "red"}, "colour"),
        ({"type": "apology", "description": "x" * 5001}, "description"),
    ],
)
def test_bad_offers_get_400_naming_the_field(complaint, agent, payload, field):
    response = api_client(agent).post(url(complaint), payload, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body.get("details", body)
    assert not RecoveryAction.objects.exists()


def test_outsiders_and_customers(complaint, other_agent, customer_user, outsider, agent):
    assert (
        api_client(other_agent).post(url(complaint), {"type": "apology"}, format="json").status_code
        == 403
    )
    assert api_client(customer_user).get(url(complaint)).status_code == 403
    assert api_client(outsider).get(url(complaint)).status_code in (403, 404)
    assert api_client().get(url(complaint)).status_code in (401, 403)
    assert api_client(agent).get("/api/recoveries/awaiting-approval/").status_code == 403
    assert (
        api_client(agent)
        .post(
            "/api/recoveries/424242/decision/",
            {"decision": "approve", "reason": "x"},
            format="json",
        )
        .status_code
        == 404
    )


def test_decision_payload_is_checked(complaint, agent, supervisor):
    action = (
        api_client(agent)
        .post(url(complaint), {"type": "refund", "amount": "99", "currency": "GBP"}, format="json")
        .json()
    )
    missing = api_client(supervisor).post(
        f"/api/recoveries/{action['id']}/decision/", {"decision": "approve"}, format="json"
    )
    assert missing.status_code == 400 and "reason" in missing.json()["details"]
    wrong = api_client(supervisor).post(
        f"/api/recoveries/{action['id']}/decision/",
        {"decision": "maybe", "reason": "x"},
        format="json",
    )
    assert wrong.status_code == 400
