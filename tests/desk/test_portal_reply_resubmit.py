"""The tracking page's reply form sent again: its one-time token writes one message.

Personas (tests/conftest.py): ``customer_user`` filed the complaint and writes to us from
its tracking page, with no login (the signed link is the key).
"""

import re

import pytest
from django.test import Client

from notifications.models import Outbox
from recovery.models import Message, MessageDirection
from recovery.services.tracking_links import tracking_token
from tests.recovery.test_concurrency import lock_complaint, race

pytestmark = pytest.mark.django_db(transaction=True)

# A double click, back and resubmit, a refresh: each posts one rendering of the form again.
RESUBMITS = 3


def reply_token(page) -> str:
    (token,) = re.findall(r'name="submission" value="([^"]+)"', page.content.decode())
    return token


def customer_messages(complaint) -> list[str]:
    return list(
        Message.objects.filter(complaint=complaint, direction=MessageDirection.INBOUND)
        .order_by("id")
        .values_list("body", flat=True)
    )


def told(complaint) -> int:
    """Notifications written of the customer's messages (the outbox rows)."""
    return Outbox.objects.filter(
        complaint_id=complaint.pk, event_type="complaint.message_added"
    ).count()


@pytest.fixture
def page_url(make_complaint):
    complaint = make_complaint()
    return complaint, f"/track/{tracking_token(complaint)}/"


def test_the_same_reply_form_posted_again_adds_one_message(page_url):
    complaint, url = page_url
    client = Client()
    data = {"body": "Any news on my refund?", "submission": reply_token(client.get(url))}
    before, told_before = customer_messages(complaint), told(complaint)

    answers = [client.post(f"{url}reply/", data) for _ in range(RESUBMITS)]

    # Every post gets what the first got: back to the page, saying the message was sent.
    assert [a.status_code for a in answers] == [302] * RESUBMITS
    assert {a["Location"] for a in answers} == {url}
    assert customer_messages(complaint) == [*before, "Any news on my refund?"]
    assert told(complaint) == told_before + 1
    # The page after it offers a fresh form, for the next message.
    assert reply_token(client.get(url)) != data["submission"]


def test_a_reply_form_posted_twice_at_once_adds_one_message(page_url):
    complaint, url = page_url
    data = {"body": "Any news on my refund?", "submission": reply_token(Client().get(url))}
    before, told_before = customer_messages(complaint), told(complaint)

    outcomes = race(
        [lambda: Client().post(f"{url}reply/", data) for _ in range(RESUBMITS)],
        behind=lock_complaint(complaint),
    )

    assert [o.error for o in outcomes] == [None] * RESUBMITS
    assert [o.value.status_code for o in outcomes] == [302] * RESUBMITS
    assert customer_messages(complaint) == [*before, "Any news on my refund?"]
    assert told(complaint) == told_before + 1


def test_the_same_reply_form_sent_again_with_other_words_adds_nothing_and_says_why(page_url):
    complaint, url = page_url
    client = Client()
    token = reply_token(client.get(url))
    assert client.post(f"{url}reply/", {"body": "First.", "submission": token}).status_code == 302
    before = customer_messages(complaint)

    again = client.post(f"{url}reply/", {"body": "Second.", "submission": token})

    assert again.status_code == 409
    assert "sent already" in again.content.decode()
    assert customer_messages(complaint) == before
    # What they wrote is kept, under a fresh token that sends it as a new message.
    fresh = reply_token(again)
    assert fresh != token
    assert "Second." in again.content.decode()
    assert client.post(f"{url}reply/", {"body": "Second.", "submission": fresh}).status_code == 302
    assert customer_messages(complaint) == [*before, "Second."]


def test_two_different_forms_send_two_messages(page_url):
    complaint, url = page_url
    client = Client()
    before = customer_messages(complaint)

    for body in ("One.", "One."):  # the same words, meant twice: two renderings of the form
        data = {"body": body, "submission": reply_token(client.get(url))}
        assert client.post(f"{url}reply/", data).status_code == 302

    assert customer_messages(complaint) == [*before, "One.", "One."]
