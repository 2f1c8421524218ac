"""The public complaint form sent twice: its one-time token files one complaint."""

import re

import pytest
from django.test import Client

from notifications.models import Outbox
from recovery.models import Complaint, IdempotencyKey
from recovery.services.tracking_links import complaint_of_link
from tests.recovery.test_concurrency import lock_reference_counter, race

pytestmark = pytest.mark.django_db(transaction=True)


def submission_token(page) -> str:
    (token,) = re.findall(r'name="submission" value="([^"]+)"', page.content.decode())
    return token


def test_a_complaint_form_sent_twice_at_once_files_one_complaint(groups):
    # A double-click: two POSTs of one rendering of the form, its one-time token in both.
    token = submission_token(Client().get("/"))
    data = {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "description": "I was charged twice for one order.",
        "website": "",
        "submission": token,
    }
    before = Complaint.objects.count()

    outcomes = race(
        [lambda: Client().post("/", data), lambda: Client().post("/", data)],
        behind=lock_reference_counter(),
    )

    assert [o.error for o in outcomes] == [None, None]
    assert [o.value.status_code for o in outcomes] == [302, 302]
    # Both answer with the one complaint's confirmation page (its link is signed with the
    # time, so compare the complaints the links open, not the links).
    opened = {complaint_of_link(o.value["Location"].split("/")[-2]).pk for o in outcomes}
    assert len(opened) == 1
    assert Complaint.objects.count() == before + 1


# A double click and a refresh on a slow connection: more than two posts can meet.
SIMULTANEOUS_POSTS = 4


def test_several_identical_posts_at_once_file_one_complaint_and_one_receipt(groups):
    token = submission_token(Client().get("/"))
    data = {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "description": "I was charged twice for one order.",
        "website": "",
        "submission": token,
    }
    before = Complaint.objects.count()

    outcomes = race(
        [lambda: Client().post("/", data) for _ in range(SIMULTANEOUS_POSTS)],
        behind=lock_reference_counter(),
    )

    assert [o.error for o in outcomes] == [None] * SIMULTANEOUS_POSTS
    assert [o.value.status_code for o in outcomes] == [302] * SIMULTANEOUS_POSTS
    opened = {complaint_of_link(o.value["Location"].split("/")[-2]).pk for o in outcomes}
    assert len(opened) == 1
    assert Complaint.objects.count() == before + 1
    # The key is the database's: one row, and one received event (so one receipt).
    assert IdempotencyKey.objects.filter(key=f"portal-form:{token}").count() == 1
    assert (
        Outbox.objects.filter(complaint_id=opened.pop(), event_type="complaint.received").count()
        == 1
    )


def test_the_same_form_sent_again_with_other_words_files_nothing_and_says_why(groups):
    token = submission_token(Client().get("/"))
    data = {"name": "Ada", "email": "ada@example.com", "description": "First."}
    client = Client()
    assert client.post("/", {**data, "submission": token}).status_code == 302
    before = Complaint.objects.count()

    again = client.post("/", {**data, "description": "Second.", "submission": token})

    assert again.status_code == 409
    assert "already sent" in again.content.decode()
    assert submission_token(again) != token
    assert Complaint.objects.count() == before
