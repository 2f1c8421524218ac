"""Merging a duplicate from the agent's complaint page: the form, its confirmation, and the
two pages afterwards (``desk.merge``). Without JavaScript: plain posts.

Personas: ``agent`` works the Billing team's complaints; ``customer_user`` filed them.
"""

import re

import pytest

from recovery.models import Complaint
from recovery.services import intake
from recovery.services import messages as message_services
from tests.desk.conftest import signed_in

pytestmark = pytest.mark.django_db


def merge_url(complaint) -> str:
    return f"/desk/complaints/{complaint.reference}/merge/"


def page(client, complaint) -> str:
    return client.get(f"/desk/complaints/{complaint.reference}/").content.decode()


def test_merging_asks_to_confirm_then_merges_and_both_pages_link_each_other(
    make_complaint, agent, customer_user
):
    survivor = make_complaint(subject="Charged twice")
    duplicate = make_complaint(subject="Double charge on my card")
    message_services.message_add(complaint=duplicate, actor=customer_user, body="Hello again")
    client = signed_in(agent)
    assert f'action="{merge_url(survivor)}"' in page(client, survivor)

    first = client.post(
        merge_url(survivor),
        {"merge-duplicate": f"  {duplicate.reference.lower()} ", "merge-reason": "Same order."},
    )

    # Nothing merged yet: both complaints side by side, and the button that merges.
    assert first.status_code == 200
    confirm = first.content.decode()
    assert f"Merge {duplicate.reference} into {survivor.reference}?" in confirm
    assert "Double charge on my card" in confirm and "Charged twice" in confirm
    assert 'name="merge-confirm" value="on"' in confirm
    assert Complaint.objects.get(pk=duplicate.pk).state == "received"

    done = client.post(
        merge_url(survivor),
        {
            "merge-duplicate": duplicate.reference,
            "merge-reason": "Same order.",
            "merge-confirm": "on",
        },
        follow=True,
    )

    assert done.redirect_chain == [(f"/desk/complaints/{survivor.reference}/", 302)]
    survivor_page = done.content.decode()
    assert f"{duplicate.reference} was merged into {survivor.reference}" in survivor_page
    link = f'<a href="/desk/complaints/{duplicate.reference}/">{duplicate.reference}</a>'
    assert f"{link} merged into this complaint" in survivor_page
    # The duplicate's message is in the survivor's conversation, saying where it came from.
    assert "Hello again" in survivor_page
    assert f"copied from {link}" in survivor_page

    duplicate_page = page(client, duplicate)
    back = f'<a href="/desk/complaints/{survivor.reference}/">{survivor.reference}</a>'
    assert f"as a duplicate of {back}" in duplicate_page
    assert 'id="merged-into"' in duplicate_page
    # A withdrawn complaint offers no merge.
    assert f'action="{merge_url(duplicate)}"' not in duplicate_page


@pytest.mark.parametrize(
    ("fields", "status", "said"),
    [
        ({}, 400, "Give the duplicate&#x27;s reference."),
        ({"merge-duplicate": "RDR-1999-000001", "merge-reason": "x"}, 404, "No complaint"),
        ({"merge-duplicate": "SELF", "merge-reason": "x"}, 400, "cannot be merged into itself"),
        ({"merge-duplicate": "THEIRS", "merge-reason": "x"}, 409, "different customers"),
        ({"merge-duplicate": "OTHER", "merge-reason": ""}, 400, "Say why the two are one"),
    ],
)
def test_refusals_are_said_on_the_form_with_the_status_the_api_gives(
    make_complaint, agent, other_customer_user, fields, status, said
):
    survivor, other = make_complaint(), make_complaint()
    theirs = make_complaint(by=other_customer_user)
    named = {"SELF": survivor, "OTHER": other, "THEIRS": theirs}
    if fields.get("merge-duplicate") in named:
        fields = {**fields, "merge-duplicate": named[fields["merge-duplicate"]].reference}

    for confirm in ({}, {"merge-confirm": "on"}):
        answer = signed_in(agent).post(merge_url(survivor), {**fields, **confirm})

        assert answer.status_code == status
        html = answer.content.decode()
        assert said in html
        assert re.search(r'<details class="action" id="merge" open>', html)
    assert not Complaint.objects.filter(state="withdrawn").exists()


def test_an_already_merged_duplicate_is_a_conflict(make_complaint, agent):
    survivor, other, duplicate = make_complaint(), make_complaint(), make_complaint()
    client = signed_in(agent)
    fields = {"merge-duplicate": duplicate.reference, "merge-reason": "Same."}
    client.post(merge_url(survivor), {**fields, "merge-confirm": "on"})

    answer = client.post(merge_url(other), fields)

    assert answer.status_code == 409
    assert "already merged into another one" in answer.content.decode()


def test_a_get_goes_back_to_the_complaint(make_complaint, agent):
    complaint = make_complaint()
    answer = signed_in(agent).get(merge_url(complaint))
    assert answer.status_code == 302
    assert answer["Location"] == f"/desk/complaints/{complaint.reference}/"


def test_the_duplicates_tracking_page_points_to_the_survivors(make_complaint, agent, client):
    from notifications.replay import tracking_token

    survivor, duplicate = make_complaint(), make_complaint()
    signed_in(agent).post(
        merge_url(survivor),
        {"merge-duplicate": duplicate.reference, "merge-reason": "Same.", "merge-confirm": "on"},
    )

    tracked = client.get(f"/track/{tracking_token(duplicate.pk)}/").content.decode()

    assert f"we joined it to your complaint {survivor.reference}" in tracked
    assert f'href="/track/{tracking_token(survivor.pk)}/"' in tracked


def test_a_provisional_customers_complaint_is_merged_and_both_timelines_say_it_moved(
    make_complaint, agent, customer_user
):
    survivor = make_complaint()
    duplicate = make_complaint(
        by=agent,
        customer=intake.CustomerDetails(name="Customer", email="customer@example.com"),
        address_proven=False,
    )
    client = signed_in(agent)
    fields = {"merge-duplicate": duplicate.reference, "merge-reason": "She phoned; same card."}

    asked = client.post(merge_url(survivor), fields)

    assert asked.status_code == 200
    assert (
        f"{duplicate.reference}'s customer is provisional (a record made for this one "
        f"complaint), so {duplicate.reference} moves to the customer of {survivor.reference}."
    ) in asked.content.decode()
    done = client.post(merge_url(survivor), {**fields, "merge-confirm": "on"})
    assert done.status_code == 302
    assert Complaint.objects.get(pk=duplicate.pk).customer_id == survivor.customer_id
    link = f'<a href="/desk/complaints/{duplicate.reference}/">{duplicate.reference}</a>'
    said = f"; {link} moved from its provisional customer record to the other complaint"
    assert said in page(client, survivor)
    assert said in page(client, duplicate)
