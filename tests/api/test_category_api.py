"""POST /api/complaints/{reference}/category/: the same move as the desk's, through
``recovery.services.categories``.

Personas: ``supervisor`` (of Billing) may move its complaints; ``agent`` works Billing but
may not correct details; ``other_agent`` works Delivery.
"""

import pytest

from escalation.models import Clock
from recovery.models import Category, Complaint, ComplaintEvent, EventType
from recovery.services.lifecycle import complaint_withdraw
from tests.conftest import api_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def billing(db):
    return Category.objects.create(name="Billing", slug="billing")


def category_url(reference: str) -> str:
    return f"/api/complaints/{reference}/category/"


def test_moving_answers_with_the_complaint_in_its_new_category(make_complaint, supervisor, billing):
    complaint = make_complaint(regulatory_profile="uk_fca_disp", jurisdiction="GB")
    statutory = list(
        Clock.objects.filter(complaint=complaint).exclude(regulatory_profile="").values()
    )

    answer = api_client(supervisor).post(
        category_url(complaint.reference),
        {"category": "billing", "reason": "Card fee"},
        format="json",
    )

    assert answer.status_code == 200, answer.json()
    assert answer.json()["category"]["slug"] == "billing"
    assert Complaint.objects.get(pk=complaint.pk).category == billing
    event = ComplaintEvent.objects.get(type=EventType.CATEGORY_CHANGED)
    assert (event.actor, event.parameters["reason"]) == (supervisor, "Card fee")
    assert (
        list(Clock.objects.filter(complaint=complaint).exclude(regulatory_profile="").values())
        == statutory
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, "category"),
        ({"category": "no-such-category"}, 400, "category"),
        ({"category": "not a slug!"}, 400, "category"),
        ({"category": "billing", "reason": "x" * 501}, 400, "reason"),
        ({"category": "billing", "extra": 1}, 400, "extra"),
        ({"category": "retired"}, 400, "category"),
    ],
)
def test_bad_requests_are_refused_precisely(
    make_complaint, supervisor, billing, body, status, field
):
    Category.objects.create(name="Retired", slug="retired", is_active=False)
    complaint = make_complaint()

    answer = api_client(supervisor).post(category_url(complaint.reference), body, format="json")

    assert answer.status_code == status, answer.json()
    assert field in answer.json()["details"], answer.json()
    assert Complaint.objects.get(pk=complaint.pk).category is None


def test_an_agent_is_refused_before_the_payload_and_an_outsider_never_sees_it(
    make_complaint, agent, other_agent
):
    complaint = make_complaint()

    assert (
        api_client(agent).post(category_url(complaint.reference), {}, format="json").status_code
        == 403
    )
    assert api_client(other_agent).post(
        category_url(complaint.reference), {"category": "billing"}, format="json"
    ).status_code in (403, 404)


def test_a_withdrawn_complaint_is_a_conflict(make_complaint, supervisor, customer_user, billing):
    complaint = make_complaint()
    complaint_withdraw(complaint=complaint, actor=customer_user, reason="Sorted")

    answer = api_client(supervisor).post(
        category_url(complaint.reference), {"category": "billing"}, format="json"
    )

    assert answer.status_code == 409, answer.json()
    assert "its category can no longer change" in answer.json()["message"]
