"""Mail threaded onto a complaint by anyone but its customer is held, and staff review it.

Personas (tests/conftest.py): ``customer_user`` filed the complaint (customer@example.com);
``agent`` works it (Billing); ``other_agent`` works another team's queue; ``outsider`` has no
role. ``Mallory`` (mallory@example.net) is a stranger who got hold of the thread's
Message-IDs or its reference and writes into it.
"""

from datetime import timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from common.errors import Conflict, PermissionDenied
from notifications.inbound_review import (
    held_email_accept,
    held_email_discard,
    held_email_open_as_complaint,
)
from notifications.ingest import ingest, ingest_message
from notifications.models import (
    EmailDelivery,
    InboundAttachment,
    InboundEmail,
    InboundStatus,
    MessageTemplateKind,
    Outbox,
)
from notifications.replay import tracking_token
from recovery import selectors as recovery_selectors
from recovery.models import (
    STAFF_ONLY_EVENT_TYPES,
    Complaint,
    ComplaintEvent,
    CustomerContact,
    EventType,
    Message,
    MessageDirection,
)
from tests.conftest import acknowledge

CUSTOMER = "customer@example.com"
MALLORY = "mallory@example.net"
TRUSTED_SERVER = "mx.redress.example"
SECRET = "a-long-random-shared-secret"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def complaint(make_complaint, agent):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    complaint.refresh_from_db()
    return complaint


@pytest.fixture
def ours(complaint) -> EmailDelivery:
    """The acknowledgement we emailed the customer, as delivery records it."""
    outbox = Outbox.objects.filter(complaint_id=complaint.pk).order_by("-id").first()
    return EmailDelivery.objects.create(
        outbox=outbox,
        complaint_id=complaint.pk,
        recipient=CUSTOMER,
        kind=MessageTemplateKind.ACKNOWLEDGEMENT,
        subject=f"We have received your complaint {complaint.reference}",
        body_text="We have it.",
        rfc_message_id=make_msgid(idstring=complaint.reference, domain="redress.invalid"),
        status="sent",
    )


def _mail(
    *,
    sender: str | Address = f"Mallory <{MALLORY}>",
    subject: str = "Re: your complaint",
    body: str = "Please pay the refund into account 12345678 instead.",
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
    attachment: bytes | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "complaints@redress.invalid"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="mail.example.net")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(
            attachment, maintype="application", subtype="pdf", filename="details.pdf"
        )
    return message.as_bytes()


def _track(complaint: Complaint) -> str:
    page = Client().get(f"/track/{tracking_token(complaint.pk)}/")
    assert page.status_code == 200
    return page.content.decode()


def _messages(complaint: Complaint) -> list[str]:
    return list(complaint.messages.order_by("id").values_list("body", flat=True))


def _events(complaint: Complaint, event_type: str) -> list[ComplaintEvent]:
    return list(complaint.events.filter(type=event_type).order_by("id"))


# --- what is held --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_stranger_answering_our_email_is_held_off_the_complaint_and_its_tracking_page(
    complaint, ours, agent, customer_user
):
    before = _messages(complaint)

    result = ingest_message(
        _mail(in_reply_to=ours.rfc_message_id, attachment=b"%PDF-1.4 fake"), source="test"
    )

    inbound = result.inbound
    assert inbound.status == InboundStatus.HELD
    assert result.reference == ""
    assert inbound.held_complaint_id == complaint.pk
    assert inbound.complaint_id is None
    assert inbound.message_id is None
    assert inbound.reason.startswith(
        f"held for review: {MALLORY} is not {complaint.reference}'s customer nor a contact of"
    )
    assert f"answers our email {ours.rfc_message_id}" in inbound.reason
    # Nothing reached the complaint: no message, no message event, no clock change.
    assert _messages(complaint) == before
    assert not Message.objects.filter(body__contains="12345678").exists()
    assert not _events(complaint, EventType.MESSAGE_ADDED)
    # The attachment is kept with the held email for the reviewer.
    assert InboundAttachment.objects.get(email=inbound).filename == "details.pdf"
    # Staff are told on the timeline; the customer is not.
    [held] = _events(complaint, EventType.EMAIL_HELD)
    assert EventType.EMAIL_HELD in STAFF_ONLY_EVENT_TYPES
    assert held.parameters["inbound_email_id"] == inbound.pk
    assert held.parameters["sender"] == MALLORY
    told = Outbox.objects.get(payload__timeline_event_id=held.pk)
    assert told.audience["customer"] is None
    assert told.audience["teams"] == [complaint.team_id]
    as_customer = recovery_selectors.complaint_detail(
        reference=complaint.reference, user=customer_user
    )
    assert EventType.EMAIL_HELD not in {event.type for event in as_customer.events.all()}
    page = _track(complaint)
    assert "12345678" not in page
    assert "held" not in page.lower()


@pytest.mark.django_db
def test_the_customers_own_message_id_in_a_strangers_reply_does_not_let_it_in(
    make_complaint, customer_user
):
    """The tester's case: In-Reply-To carries the Message-ID of the customer's own email."""
    first = ingest(
        _mail(sender=CUSTOMER, subject="My parcel never arrived", body="It never came."),
        source="test",
    )
    complaint = Complaint.objects.get(pk=first.complaint_id)

    from_customer = ingest(
        _mail(sender=CUSTOMER, body="I forgot: order 4411.", in_reply_to=first.rfc_message_id),
        source="test",
    )
    from_mallory = ingest(
        _mail(body="Refund me instead.", in_reply_to=first.rfc_message_id), source="test"
    )

    assert from_customer.status == InboundStatus.ACCEPTED
    assert from_customer.complaint_id == complaint.pk
    assert from_mallory.status == InboundStatus.HELD
    assert from_mallory.held_complaint_id == complaint.pk
    assert _messages(complaint) == ["It never came.", "I forgot: order 4411."]
    assert "Refund me instead." not in _track(complaint)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sender", "held"),
    [
        # The display name is anyone's to write; only the address counts.
        pytest.param(Address("customer@example.com", addr_spec=MALLORY), True, id="name-spoof"),
        pytest.param(Address("Customer", addr_spec=MALLORY), True, id="stranger"),
        pytest.param(Address("Mallory", addr_spec="Customer@EXAMPLE.com"), False, id="case"),
        pytest.param(Address("", addr_spec=CUSTOMER), False, id="customer"),
    ],
)
def test_the_sender_is_compared_by_address_whatever_its_case_and_name(
    complaint, ours, sender, held
):
    inbound = ingest(_mail(sender=sender, in_reply_to=ours.rfc_message_id), source="test")

    assert inbound.status == (InboundStatus.HELD if held else InboundStatus.ACCEPTED)
    assert complaint.messages.filter(body__contains="12345678").exists() is not held


@pytest.mark.django_db
def test_a_stranger_quoting_a_reference_in_the_subject_is_held_too(complaint):
    before = _messages(complaint)

    inbound = ingest(_mail(subject=f"Re: {complaint.reference}"), source="test")

    assert inbound.status == InboundStatus.HELD
    assert inbound.held_complaint_id == complaint.pk
    assert f"(subject names {complaint.reference})" in inbound.reason
    assert _messages(complaint) == before
    assert Complaint.objects.count() == 1


# --- what is trusted: Authentication-Results --------------------------------------------


def _results(server: str, dmarc: str) -> dict[str, str]:
    return {
        "Authentication-Results": (
            f"{server}; spf=pass smtp.mailfrom=example.com; "
            f"dkim=pass header.d=example.com; dmarc={dmarc} (p=reject) header.from=example.com"
        )
    }


@pytest.mark.django_db
def test_a_dmarc_failure_from_the_customers_own_address_is_held(complaint, ours, settings):
    settings.REDRESS_INBOUND_AUTHSERV_IDS = [TRUSTED_SERVER]

    inbound = ingest(
        _mail(
            sender=CUSTOMER,
            in_reply_to=ours.rfc_message_id,
            headers=_results(TRUSTED_SERVER, "fail"),
        ),
        source="test",
    )

    assert inbound.status == InboundStatus.HELD
    assert inbound.authentication == {
        "authserv_id": TRUSTED_SERVER,
        "spf": "pass",
        "dkim": "pass",
        "dmarc": "fail",
    }
    assert f"DMARC failed for {CUSTOMER} ({TRUSTED_SERVER})" in inbound.reason


@pytest.mark.django_db
def test_results_from_a_server_we_do_not_trust_are_neither_recorded_nor_obeyed(
    complaint, ours, settings
):
    settings.REDRESS_INBOUND_AUTHSERV_IDS = [TRUSTED_SERVER]
    # Written by the sender, or by a server on the way: anyone can add such a header.
    forged = _results("mx.elsewhere.example", "fail")

    inbound = ingest(
        _mail(sender=CUSTOMER, in_reply_to=ours.rfc_message_id, headers=forged), source="test"
    )

    assert inbound.status == InboundStatus.ACCEPTED
    assert inbound.authentication == {}


@pytest.mark.django_db
def test_the_trusted_servers_results_are_recorded_on_an_accepted_message(complaint, ours, settings):
    settings.REDRESS_INBOUND_AUTHSERV_IDS = ["MX.Redress.Example"]
    raw = _mail(
        sender=CUSTOMER, in_reply_to=ours.rfc_message_id, headers=_results(TRUSTED_SERVER, "pass")
    )

    inbound = ingest(raw, source="test")

    assert inbound.status == InboundStatus.ACCEPTED
    assert inbound.authentication["dmarc"] == "pass"
    assert inbound.authentication["authserv_id"] == TRUSTED_SERVER


# --- the three actions ---------------------------------------------------------------------


@pytest.fixture
def held(complaint, ours) -> InboundEmail:
    inbound = ingest(
        _mail(sender=Address("Sam Doe", addr_spec="Sam@Example.org"), in_reply_to=ours.rfc_message_id,
              body="I am writing for my mother, who asked me to.\n\n> quoted history"),
        source="test",
    )  # fmt: skip
    assert inbound.status == InboundStatus.HELD
    return inbound


@pytest.mark.django_db
def test_accepting_adds_the_message_as_the_customers_and_authorises_the_address(
    complaint, ours, held, agent
):
    reviewed = held_email_accept(inbound_id=held.pk, actor=agent)

    assert reviewed.status == InboundStatus.ACCEPTED
    assert (reviewed.complaint_id, reviewed.held_complaint_id) == (complaint.pk, complaint.pk)
    assert reviewed.reviewed_by == agent
    assert reviewed.reviewed_at is not None
    message = Message.objects.get(pk=reviewed.message_id)
    assert message.complaint == complaint
    assert message.direction == MessageDirection.INBOUND
    assert message.body == "I am writing for my mother, who asked me to."
    contact = CustomerContact.objects.get()
    assert (contact.customer, contact.email) == (complaint.customer, "sam@example.org")
    assert (contact.authorised_by, contact.complaint) == (agent, complaint)
    [event] = _events(complaint, EventType.HELD_EMAIL_ACCEPTED)
    assert event.actor == agent
    assert event.parameters["contact_authorised"] is True
    assert EventType.HELD_EMAIL_ACCEPTED in STAFF_ONLY_EVENT_TYPES
    # On the tracking page now, as the customer's side of the conversation, under its writer.
    page = _track(complaint)
    assert "I am writing for my mother" in page
    assert "Sam Doe &lt;sam@example.org&gt;" in page
    # The next email from that address goes straight on.
    again = ingest(
        _mail(sender="sam@example.org", body="Any news?", in_reply_to=ours.rfc_message_id),
        source="test",
    )
    assert again.status == InboundStatus.ACCEPTED
    assert _messages(complaint)[-1] == "Any news?"


@pytest.mark.django_db
def test_accepting_an_email_cut_of_its_quote_keeps_its_whole_text(complaint, held, agent):
    assert held.full_text == ""  # nothing went onto a complaint yet

    reviewed = held_email_accept(inbound_id=held.pk, actor=agent)

    reviewed.refresh_from_db()
    assert Message.objects.get(pk=reviewed.message_id).body == (
        "I am writing for my mother, who asked me to."
    )
    assert reviewed.full_text == "I am writing for my mother, who asked me to.\n\n> quoted history"
    assert reviewed.reason.endswith(
        "accepted as the customer's message; quoted text cut from the reply; the full text "
        "is kept with the email"
    )


@pytest.mark.django_db
def test_an_accepted_email_keeps_the_reviewers_reason_its_sender_and_when_it_came(
    complaint, held, agent, time_machine
):
    # Reviewed three hours after it came in.
    time_machine.move_to(held.received_at + timedelta(hours=3), tick=False)

    reviewed = held_email_accept(
        inbound_id=held.pk, actor=agent, reason="  Her son; she said so on the phone  "
    )

    [event] = _events(complaint, EventType.HELD_EMAIL_ACCEPTED)
    assert event.parameters["reviewer_reason"] == "Her son; she said so on the phone"
    assert event.parameters["reason"] == (
        "Her son; she said so on the phone (sam@example.org may write for the customer from now on)"
    )
    assert "(Her son; she said so on the phone)" in reviewed.reason
    message = Message.objects.get(pk=reviewed.message_id)
    assert message.written_by == "Sam Doe <sam@example.org>"
    assert message.created_at == held.received_at
    # Shown as Sam's, when Sam wrote it: on the tracking page (not "You") and on the desk.
    tracking = _track(complaint)
    assert "Sam Doe &lt;sam@example.org&gt;" in tracking
    assert held.received_at.strftime("%H:%M") in tracking
    desk_page = _desk(agent).get(f"/desk/complaints/{complaint.reference}/").content.decode()
    assert "<strong><bdi>Sam Doe &lt;sam@example.org&gt;</bdi></strong>" in desk_page
    assert "Her son; she said so on the phone" in desk_page
    # And in the API's messages.
    api = APIClient()
    api.force_authenticate(agent)
    detail = api.get(f"/api/complaints/{complaint.reference}/").json()
    [accepted] = [m for m in detail["messages"] if m["id"] == message.pk]
    assert accepted["written_by"] == "Sam Doe <sam@example.org>"


@pytest.mark.django_db
def test_the_desk_passes_the_reason_typed_for_an_acceptance(complaint, held, agent):
    url = f"/desk/complaints/{complaint.reference}/held-email/"

    answer = _desk(agent).post(
        url, {"held-inbound": held.pk, "held-decision": "accept", "held-reason": "Her son"}
    )

    assert answer.status_code == 302
    [event] = _events(complaint, EventType.HELD_EMAIL_ACCEPTED)
    assert event.parameters["reviewer_reason"] == "Her son"


@pytest.mark.django_db
def test_a_discard_from_the_desk_must_say_why(complaint, held, agent):
    url = f"/desk/complaints/{complaint.reference}/held-email/"

    answer = _desk(agent).post(url, {"held-inbound": held.pk, "held-decision": "discard"})

    assert answer.status_code == 400
    assert "Say why the email is discarded." in answer.content.decode()
    held.refresh_from_db()
    assert held.status == InboundStatus.HELD


@pytest.mark.django_db
def test_opening_as_a_new_complaint_leaves_the_held_on_complaint_alone(complaint, held, agent):
    before = _messages(complaint)

    reviewed = held_email_open_as_complaint(inbound_id=held.pk, actor=agent)

    opened = Complaint.objects.select_related("customer").get(pk=reviewed.complaint_id)
    assert opened != complaint
    assert opened.customer.email == "sam@example.org"
    assert opened.customer.name == "Sam Doe"
    assert opened.events.get(type=EventType.RECEIVED).actor == agent
    assert reviewed.status == InboundStatus.ACCEPTED
    assert reviewed.message_id == opened.messages.get().pk
    assert _messages(complaint) == before
    assert not CustomerContact.objects.exists()
    [event] = _events(complaint, EventType.HELD_EMAIL_OPENED)
    assert event.parameters["new_reference"] == opened.reference
    assert event.actor == agent


@pytest.mark.django_db
def test_discarding_keeps_the_email_stored_and_out_of_every_complaint(complaint, held, agent):
    before = _messages(complaint)

    reviewed = held_email_discard(inbound_id=held.pk, actor=agent, reason="  Not the customer  ")

    assert reviewed.status == InboundStatus.DISCARDED
    assert reviewed.complaint_id is None
    assert InboundEmail.objects.filter(pk=held.pk).exists()
    assert _messages(complaint) == before
    assert Complaint.objects.count() == 1
    [event] = _events(complaint, EventType.HELD_EMAIL_DISCARDED)
    assert event.parameters["reason"] == "Not the customer"
    assert "discarded (Not the customer)" in reviewed.reason


ACTIONS = [
    pytest.param(held_email_accept, id="accept"),
    pytest.param(held_email_open_as_complaint, id="open"),
    pytest.param(held_email_discard, id="discard"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("persona", ["customer_user", "outsider", "other_agent"])
def test_only_staff_who_work_the_complaint_may_review(request, complaint, held, action, persona):
    actor = request.getfixturevalue(persona)
    messages_before = Message.objects.count()

    with pytest.raises(PermissionDenied):
        action(inbound_id=held.pk, actor=actor)

    held.refresh_from_db()
    assert held.status == InboundStatus.HELD
    assert Message.objects.count() == messages_before
    assert Complaint.objects.count() == 1
    assert not CustomerContact.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("action", ACTIONS)
def test_an_email_is_reviewed_once(complaint, held, agent, supervisor, action):
    held_email_discard(inbound_id=held.pk, actor=supervisor)

    with pytest.raises(Conflict, match="reviewed already: discarded after review"):
        action(inbound_id=held.pk, actor=agent)


# --- the desk ------------------------------------------------------------------------------


def _desk(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_complaint_page_shows_a_held_email_with_its_three_actions(complaint, held, agent):
    page = _desk(agent).get(f"/desk/complaints/{complaint.reference}/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "Emails held for review" in html
    assert "sam@example.org" in html
    assert "I am writing for my mother" in html
    for decision in ("accept", "open", "discard"):
        assert f'name="held-decision" value="{decision}"' in html
    assert f'name="held-inbound" value="{held.pk}"' in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("decision", "status"),
    [("accept", InboundStatus.ACCEPTED), ("open", InboundStatus.ACCEPTED),
     ("discard", InboundStatus.DISCARDED)],
)  # fmt: skip
def test_each_action_works_from_the_desk(complaint, held, agent, decision, status):
    url = f"/desk/complaints/{complaint.reference}/held-email/"

    answer = _desk(agent).post(
        url, {"held-inbound": held.pk, "held-decision": decision, "held-reason": "checked"}
    )

    assert answer.status_code == 302
    held.refresh_from_db()
    assert held.status == status
    again = _desk(agent).get(f"/desk/complaints/{complaint.reference}/").content.decode()
    assert "Emails held for review" not in again


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["customer_user", "outsider", "other_agent"])
def test_the_desk_refuses_a_review_by_anyone_who_does_not_work_the_complaint(
    request, complaint, held, persona
):
    url = f"/desk/complaints/{complaint.reference}/held-email/"

    answer = _desk(request.getfixturevalue(persona)).post(
        url, {"held-inbound": held.pk, "held-decision": "accept"}
    )

    assert answer.status_code == 403
    held.refresh_from_db()
    assert held.status == InboundStatus.HELD


@pytest.mark.django_db
def test_a_review_cannot_reach_an_email_held_on_another_complaint(
    complaint, held, agent, make_complaint
):
    other = make_complaint(subject="Another matter")

    answer = _desk(agent).post(
        f"/desk/complaints/{other.reference}/held-email/",
        {"held-inbound": held.pk, "held-decision": "accept"},
    )

    assert answer.status_code == 404
    held.refresh_from_db()
    assert held.status == InboundStatus.HELD


# --- the webhook: the same ingest path -----------------------------------------------------


@pytest.mark.django_db
def test_a_strangers_reply_posted_to_the_webhook_is_held_and_reviewed_like_any(
    complaint, ours, agent, settings
):
    settings.REDRESS_INBOUND_SECRET = SECRET

    response = APIClient().post(
        "/api/inbound-email/",
        data=_mail(in_reply_to=ours.rfc_message_id),
        content_type="message/rfc822",
        HTTP_X_REDRESS_INBOUND_SECRET=SECRET,
    )

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "held"
    assert body["reference"] == ""
    assert "12345678" not in _track(complaint)
    held_email_discard(inbound_id=body["id"], actor=agent)
    assert InboundEmail.objects.get(pk=body["id"]).status == InboundStatus.DISCARDED
