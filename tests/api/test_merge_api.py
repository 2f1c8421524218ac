"""POST /api/complaints/{reference}/merge/: the same merge as the desk's, through the service.

Personas: ``agent`` works the Billing team's complaints; ``other_agent`` the Delivery team's.
"""

import pytest
from rest_framework.test import APIClient

from notifications.models import EmailDelivery, Outbox
from recovery.models import Complaint, Message
from tests.conftest import api_client
from tests.notifications.shipped_templates import ensure_default_templates
from tests.recovery.test_merge import deliver_everything

pytestmark = pytest.mark.django_db


def merge_url(reference: str) -> str:
    return f"/api/complaints/{reference}/merge/"


def test_merging_answers_with_the_survivor_and_withdraws_the_duplicate(make_complaint, agent):
    ensure_default_templates()
    survivor, duplicate = make_complaint(), make_complaint()
    deliver_everything()

    answer = api_client(agent).post(
        merge_url(survivor.reference),
        {"duplicate": duplicate.reference.lower(), "reason": "Same order."},
        format="json",
    )

    assert answer.status_code == 200, answer.json()
    assert answer.json()["reference"] == survivor.reference
    merged = Complaint.objects.get(pk=duplicate.pk)
    assert (merged.state, merged.duplicate_of_id) == ("withdrawn", survivor.pk)
    assert Message.objects.filter(complaint=survivor, merged_from=duplicate).count() == 1
    deliver_everything()
    assert list(
        EmailDelivery.objects.filter(kind="complaints_merged").values_list(
            "complaint_id", flat=True
        )
    ) == [survivor.pk]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, "duplicate"),
        ({"duplicate": "RDR-2026-000001"}, 400, "reason"),
        ({"duplicate": "x" * 33, "reason": "Same."}, 400, "duplicate"),
        ({"duplicate": "RDR-1999-999999", "reason": "Same."}, 404, None),
        ({"duplicate": "SELF", "reason": "Same."}, 400, "duplicate"),
        ({"duplicate": "OTHER", "reason": "Same.", "extra": 1}, 400, "extra"),
    ],
)
def test_bad_requests_are_refused_precisely(make_complaint, agent, body, status, field):
    survivor, other = make_complaint(), make_complaint()
    body = {
        **body,
        **(
            {"duplicate": {"SELF": survivor.reference, "OTHER": other.reference}[body["duplicate"]]}
            if body.get("duplicate") in ("SELF", "OTHER")
            else {}
        ),
    }

    answer = api_client(agent).post(merge_url(survivor.reference), body, format="json")

    assert answer.status_code == status, answer.json()
    if field:
        assert field in answer.json()["details"], answer.json()
    assert not Complaint.objects.filter(state="withdrawn").exists()
    assert not Outbox.objects.filter(event_type="complaint.duplicate_merged").exists()


def test_a_merged_duplicate_merged_again_is_a_conflict(make_complaint, agent):
    survivor, other, duplicate = make_complaint(), make_complaint(), make_complaint()
    client = api_client(agent)
    body = {"duplicate": duplicate.reference, "reason": "Same."}
    assert client.post(merge_url(survivor.reference), body, format="json").status_code == 200

    again = client.post(merge_url(other.reference), body, format="json")

    assert again.status_code == 409
    assert "already merged" in again.json()["message"]


def test_another_teams_complaint_is_not_merged(make_complaint, agent, other_team):
    survivor = make_complaint()
    elsewhere = make_complaint(routed_to=other_team)

    answer = api_client(agent).post(
        merge_url(survivor.reference),
        {"duplicate": elsewhere.reference, "reason": "Same."},
        format="json",
    )

    assert answer.status_code == 403
    assert Complaint.objects.get(pk=elsewhere.pk).state == "received"


def test_the_customer_may_not_merge_their_own_complaints(make_complaint, customer_user):
    survivor, duplicate = make_complaint(), make_complaint()

    answer = api_client(customer_user).post(
        merge_url(survivor.reference),
        {"duplicate": duplicate.reference, "reason": "Same."},
        format="json",
    )

    assert answer.status_code == 403
    assert APIClient().post(merge_url(survivor.reference), {}, format="json").status_code == 401
