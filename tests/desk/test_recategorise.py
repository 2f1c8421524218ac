"""Changing a complaint's category from its page, without a browser: offered to staff who
may correct details, every refusal said on the form (never a 500), and the timeline says
from which category to which.

Personas: ``supervisor`` (of Billing) may change it; ``agent`` works Billing but may not.
"""

import pytest

from recovery.models import Category, Complaint, ComplaintEvent, EventType
from recovery.services.lifecycle import complaint_withdraw
from tests.desk.conftest import signed_in
from tests.desk.test_timeline_words import timeline_lines

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def billing(db):
    return Category.objects.create(name="Billing", slug="billing")


def url(complaint) -> str:
    return f"/desk/complaints/{complaint.reference}/category/"


def fresh(complaint) -> Complaint:
    return Complaint.objects.get(pk=complaint.pk)


def test_a_supervisor_moves_a_complaint_and_the_timeline_says_so(
    supervisor, make_complaint, category, billing
):
    complaint = make_complaint()
    client = signed_in(supervisor)
    page = client.get(f"/desk/complaints/{complaint.reference}/").content.decode()
    assert "Change category" in page
    assert f'<option value="{billing.pk}">Billing</option>' in page

    answer = client.post(
        url(complaint),
        {"recategorise-category": billing.pk, "recategorise-reason": "Card fee, not a payment"},
    )

    assert answer.status_code == 302
    assert fresh(complaint).category == billing
    client.post(url(complaint), {"recategorise-category": category.pk})
    lines = "\n".join(timeline_lines(client, complaint))
    assert "Category changed: no category → Billing" in lines
    assert "Category changed: Billing → Card payments" in lines


def test_an_agent_is_neither_offered_the_form_nor_let_through(agent, make_complaint, billing):
    complaint = make_complaint()
    client = signed_in(agent)

    assert (
        "Change category"
        not in client.get(f"/desk/complaints/{complaint.reference}/").content.decode()
    )
    answer = client.post(url(complaint), {"recategorise-category": billing.pk})

    assert answer.status_code == 403
    assert fresh(complaint).category is None


@pytest.mark.parametrize(
    ("posted", "said"),
    [
        ({}, "Choose the new category."),
        ({"recategorise-category": "billing"}, "Choose a category from the list."),
        ({"recategorise-category": "999999"}, "Choose a category from the list."),
        ({"recategorise-category": "{billing}", "recategorise-reason": "x" * 501}, "at most 500"),
    ],
)
def test_bad_input_is_said_on_the_form(supervisor, make_complaint, billing, posted, said):
    complaint = make_complaint()
    posted = {k: v.replace("{billing}", str(billing.pk)) for k, v in posted.items()}

    answer = signed_in(supervisor).post(url(complaint), posted)

    assert answer.status_code == 400
    assert said in answer.content.decode()
    assert fresh(complaint).category is None


def test_an_inactive_category_is_not_offered_nor_taken(supervisor, make_complaint):
    retired = Category.objects.create(name="Retired", slug="retired", is_active=False)
    complaint = make_complaint()
    client = signed_in(supervisor)

    assert "Retired" not in client.get(f"/desk/complaints/{complaint.reference}/").content.decode()
    answer = client.post(url(complaint), {"recategorise-category": retired.pk})

    assert answer.status_code == 400
    assert fresh(complaint).category is None


def test_the_same_category_and_a_withdrawn_complaint_are_refused_with_the_services_words(
    supervisor, make_complaint, customer_user, billing
):
    complaint = make_complaint()
    client = signed_in(supervisor)
    client.post(url(complaint), {"recategorise-category": billing.pk})

    again = client.post(url(complaint), {"recategorise-category": billing.pk})
    assert again.status_code == 400
    assert f"{complaint.reference} is already in Billing." in again.content.decode()

    complaint_withdraw(complaint=fresh(complaint), actor=customer_user, reason="Sorted")
    page = client.get(f"/desk/complaints/{complaint.reference}/").content.decode()
    assert "Change category" not in page
    late = client.post(
        url(complaint),
        {"recategorise-category": Category.objects.create(name="Other", slug="other").pk},
    )
    assert late.status_code == 409
    assert "is withdrawn; its category can no longer change" in late.content.decode()
    assert ComplaintEvent.objects.filter(type=EventType.CATEGORY_CHANGED).count() == 1


def test_a_get_goes_back_to_the_complaint(supervisor, make_complaint):
    complaint = make_complaint()
    answer = signed_in(supervisor).get(url(complaint))
    assert answer.status_code == 302
    assert answer["Location"] == f"/desk/complaints/{complaint.reference}/"


@pytest.mark.postgresql(reason="the page's reads come along as JSON arrays")
def test_the_page_with_the_category_form_costs_what_it_did(
    supervisor, make_complaint, category, billing, settings
):
    from tests.desk.test_complaint_page_budget import PAGE_BUDGET, page_statements

    settings.REDRESS_CONFIGURATION_CACHE = True
    complaint = make_complaint()
    client = signed_in(supervisor)
    page_statements(client, complaint)  # warm: the session and the configuration

    sent, html = page_statements(client, complaint)

    assert len(sent) == PAGE_BUDGET, sent
    assert f'<option value="{billing.pk}">Billing</option>' in html
