"""The desk's reply and note forms sent again: their one-time token writes one message.

Personas (tests/conftest.py): ``agent`` answers the complaint from the desk; a double click
on "Send reply", or back and resend, posts one rendering of the form again.
"""

import re

import pytest

from notifications.models import Outbox
from recovery.models import Message, MessageDirection, MessageKind, State
from tests.desk.conftest import signed_in
from tests.recovery.test_concurrency import lock_complaint, race

pytestmark = pytest.mark.django_db(transaction=True)

# A double click, back and resend, a refresh: each posts one rendering of the form again.
RESUBMITS = 3

FORMS = {
    # form name: (direction of what it writes, text)
    "reply": (MessageDirection.OUTBOUND, "We have refunded the fare."),
    "note": (MessageDirection.INTERNAL, "Refund approved by finance."),
}


def page_of(complaint) -> str:
    return f"/desk/complaints/{complaint.reference}/"


def form_token(page, name: str) -> str:
    (token,) = re.findall(rf'name="{name}-submission" value="([^"]+)"', page.content.decode())
    return token


def written(complaint, direction) -> list[str]:
    return list(
        Message.objects.filter(complaint=complaint, direction=direction)
        .order_by("id")
        .values_list("body", flat=True)
    )


def told(complaint) -> int:
    """Notifications written of the complaint's messages and notes (the outbox rows; a
    reply's email to the customer is sent from its row)."""
    return Outbox.objects.filter(
        complaint_id=complaint.pk,
        event_type__in=("complaint.message_added", "complaint.note_added"),
    ).count()


@pytest.mark.parametrize("name", FORMS)
def test_the_same_form_posted_again_writes_once_and_says_already_sent(agent, make_complaint, name):
    complaint = make_complaint()
    direction, text = FORMS[name]
    client = signed_in(agent)
    url = page_of(complaint)
    data = {f"{name}-body": text, f"{name}-submission": form_token(client.get(url), name)}
    before, told_before = written(complaint, direction), told(complaint)

    answers = [client.post(f"{url}{name}/", data) for _ in range(RESUBMITS)]

    # Every post is answered as the first was: back to the complaint's page.
    assert [a.status_code for a in answers] == [302] * RESUBMITS
    assert {a["Location"] for a in answers} == {url}
    assert written(complaint, direction) == [*before, text]
    assert told(complaint) == told_before + 1
    page = client.get(url).content.decode()
    assert "Already sent" in page
    # The page after it offers a fresh form, for the next message.
    assert form_token(client.get(url), name) != data[f"{name}-submission"]


@pytest.mark.parametrize("name", FORMS)
def test_a_form_posted_twice_at_once_writes_once(agent, make_complaint, name):
    complaint = make_complaint()
    direction, text = FORMS[name]
    url = page_of(complaint)
    data = {f"{name}-body": text, f"{name}-submission": form_token(signed_in(agent).get(url), name)}
    before, told_before = written(complaint, direction), told(complaint)
    clients = [signed_in(agent) for _ in range(RESUBMITS)]

    outcomes = race(
        [lambda c=c: c.post(f"{url}{name}/", data) for c in clients],
        behind=lock_complaint(complaint),
    )

    assert [o.error for o in outcomes] == [None] * RESUBMITS
    assert [o.value.status_code for o in outcomes] == [302] * RESUBMITS
    assert written(complaint, direction) == [*before, text]
    assert told(complaint) == told_before + 1


def test_the_same_reply_form_sent_with_other_words_writes_nothing_and_says_why(
    agent, make_complaint
):
    complaint = make_complaint()
    client = signed_in(agent)
    url = page_of(complaint)
    token = form_token(client.get(url), "reply")
    first = {"reply-body": "First.", "reply-submission": token}
    assert client.post(f"{url}reply/", first).status_code == 302
    before = written(complaint, MessageDirection.OUTBOUND)

    again = client.post(f"{url}reply/", {"reply-body": "Second.", "reply-submission": token})

    assert again.status_code == 409
    assert "sent already" in again.content.decode()
    assert written(complaint, MessageDirection.OUTBOUND) == before
    # What they wrote is kept, under a fresh token that sends it as a new message.
    fresh = form_token(again, "reply")
    assert fresh != token
    assert "Second." in again.content.decode()
    resend = {"reply-body": "Second.", "reply-submission": fresh}
    assert client.post(f"{url}reply/", resend).status_code == 302
    assert written(complaint, MessageDirection.OUTBOUND) == [*before, "Second."]


def test_two_renderings_of_the_form_send_two_replies(agent, make_complaint):
    complaint = make_complaint()
    client = signed_in(agent)
    url = page_of(complaint)
    before = written(complaint, MessageDirection.OUTBOUND)

    for _ in range(2):  # the same words, meant twice: two renderings of the form
        data = {"reply-body": "On it.", "reply-submission": form_token(client.get(url), "reply")}
        assert client.post(f"{url}reply/", data).status_code == 302

    assert written(complaint, MessageDirection.OUTBOUND) == [*before, "On it.", "On it."]


def acknowledgements(complaint) -> int:
    return Message.objects.filter(complaint=complaint, kind=MessageKind.ACKNOWLEDGEMENT).count()


def acknowledge_form(client, complaint) -> dict:
    return {
        "acknowledge-expected_state": State.RECEIVED,
        "acknowledge-message": f"We have your complaint {complaint.reference}.",
        "acknowledge-next_steps": "We will reply within 5 days.",
        "acknowledge-submission": form_token(client.get(page_of(complaint)), "acknowledge"),
    }


def test_the_acknowledgement_posted_again_sends_once_and_says_already_sent(agent, make_complaint):
    complaint = make_complaint()
    client = signed_in(agent)
    data = acknowledge_form(client, complaint)

    answers = [client.post(f"{page_of(complaint)}acknowledge/", data) for _ in range(RESUBMITS)]

    assert [a.status_code for a in answers] == [302] * RESUBMITS
    assert acknowledgements(complaint) == 1
    assert "Already sent" in client.get(page_of(complaint)).content.decode()


def test_the_acknowledgement_posted_twice_at_once_sends_once(agent, make_complaint):
    complaint = make_complaint()
    data = acknowledge_form(signed_in(agent), complaint)
    clients = [signed_in(agent) for _ in range(RESUBMITS)]

    outcomes = race(
        [lambda c=c: c.post(f"{page_of(complaint)}acknowledge/", data) for c in clients],
        behind=lock_complaint(complaint),
    )

    assert [o.error for o in outcomes] == [None] * RESUBMITS
    assert [o.value.status_code for o in outcomes] == [302] * RESUBMITS
    assert acknowledgements(complaint) == 1
