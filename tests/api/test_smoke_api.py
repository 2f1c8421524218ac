import pytest

from recovery.models import RoutingRule
from tests.conftest import api_client


@pytest.mark.django_db
def test_intake_then_full_lifecycle_over_the_api(customer_user, agent, root_causes):
    # Routed by its words to the agent's team, whose queue it is worked from.
    RoutingRule.objects.create(name="Charges", team=agent.teams.get(), keywords=["charges"])
    created = api_client(customer_user).post(
        "/api/complaints/",
        {"subject": "Charged twice", "description": "Two charges for one order."},
        format="json",
    )
    assert created.status_code == 201, created.json()
    reference = created.json()["reference"]
    assert reference.startswith("RDR-")
    client = api_client(agent)
    steps = [
        {
            "transition": "acknowledge",
            "message": f"Thanks, your reference is {reference}.",
            "next_steps": "We will reply within 5 days.",
        },
        {
            "transition": "resolve",
            "outcome": "upheld",
            "summary": "Refunded.",
            "root_causes": ["billing.duplicate-charge"],
        },
        {
            "transition": "close_loop",
            "what_we_found": "A gateway retry.",
            "what_we_did": "Refunded you.",
            "what_will_change": "No more retries.",
        },
    ]
    for step in steps:
        answer = client.post(f"/api/complaints/{reference}/transitions/", step, format="json")
        assert answer.status_code == 200, answer.json()
    body = api_client(customer_user).get(f"/api/complaints/{reference}/").json()
    assert body["state"] == "loop_closed"
    assert [e["type"] for e in body["timeline"]] == [
        "received",
        "acknowledged",
        "resolved",
        "loop_closed",
        "survey_sent",
    ]
