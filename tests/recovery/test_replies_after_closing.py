"""A customer writing on a resolved or loop-closed complaint: the marker, its queue, who is
told, what clears it, and the insights that count it as a possible repeat.

Personas: ``agent`` resolves and is assigned (the last handler); ``supervisor`` may reopen;
``customer_user`` owns the complaints.
"""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from insights import selectors as insight_selectors
from insights.params import Scope
from notifications.ingest import ingest
from notifications.models import InboundStatus, Outbox
from recovery.models import (
    STAFF_ONLY_EVENT_TYPES,
    Complaint,
    ComplaintEvent,
    EventType,
    State,
)
from recovery.services import lifecycle
from recovery.services.messages import customer_message_add, message_add
from tests.conftest import acknowledge, api_client, close_loop, resolve
from tests.insights.insights_fixtures import at, customer
from tests.insights.insights_fixtures import complaint as stored_complaint


@pytest.fixture
def resolved(make_complaint, agent, root_causes):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    Complaint.objects.filter(pk=complaint.pk).update(assignee=agent)
    resolve(Complaint.objects.get(pk=complaint.pk), agent)
    return Complaint.objects.select_related("customer").get(pk=complaint.pk)


def _late_reply_events(complaint):
    return ComplaintEvent.objects.filter(
        complaint=complaint, type=EventType.CUSTOMER_REPLIED_AFTER_CLOSING
    )


@pytest.mark.django_db
def test_an_emailed_reply_to_a_resolved_complaint_marks_it_and_tells_its_last_handler(
    resolved, agent
):
    mail = EmailMessage()
    mail["From"] = resolved.customer.email
    mail["To"] = "complaints@redress.invalid"
    mail["Subject"] = f"Re: {resolved.reference}"
    mail["Message-ID"] = "<late-reply@mail.example.org>"
    mail.set_content("The refund still has not arrived.")

    inbound = ingest(mail.as_bytes(), source="test")

    assert inbound.status == InboundStatus.ACCEPTED
    resolved.refresh_from_db()
    assert resolved.state == State.RESOLVED  # a marker, not a transition
    assert resolved.customer_replied_at is not None
    [event] = _late_reply_events(resolved)
    assert EventType.CUSTOMER_REPLIED_AFTER_CLOSING in STAFF_ONLY_EVENT_TYPES
    row = Outbox.objects.get(payload__timeline_event_id=event.pk)
    assert agent.pk in row.audience["users"]
    assert row.audience["customer"] is None
    # Told once: the message's own event, on the timeline too, tells no member of staff.
    added = ComplaintEvent.objects.get(complaint=resolved, type=EventType.MESSAGE_ADDED)
    told = Outbox.objects.get(payload__timeline_event_id=added.pk).audience
    assert (told["users"], told["teams"]) == ([], [])


@pytest.mark.django_db
def test_an_out_of_office_answer_is_a_note_nobody_is_told_of(resolved, agent):
    mail = EmailMessage()
    mail["From"] = resolved.customer.email
    mail["To"] = "complaints@redress.invalid"
    mail["Subject"] = f"Automatic reply: {resolved.reference}"
    mail["Auto-Submitted"] = "auto-replied"
    mail["Message-ID"] = "<ooo@mail.example.org>"
    mail.set_content("I am away until Monday.")

    ingest(mail.as_bytes(), source="test")

    note = ComplaintEvent.objects.get(complaint=resolved, type=EventType.NOTE_ADDED)
    told = Outbox.objects.get(payload__timeline_event_id=note.pk).audience
    assert (told["users"], told["teams"]) == ([], [])
    assert not _late_reply_events(resolved).exists()


@pytest.mark.django_db
def test_a_portal_message_on_a_loop_closed_complaint_marks_it(resolved, agent, customer_user):
    close_loop(resolved, agent)

    response = api_client(customer_user).post(
        f"/api/complaints/{resolved.reference}/messages/",
        {"body": "Thanks, but it happened again today."},
        format="json",
    )

    assert response.status_code == 201, response.content
    resolved.refresh_from_db()
    assert resolved.state == State.LOOP_CLOSED
    assert resolved.customer_replied_at is not None
    assert _late_reply_events(resolved).count() == 1
    # The staff API lists it under its filter.
    listed = api_client(agent).get("/api/complaints/", {"customer_replied": "true"}).json()
    assert [row["reference"] for row in listed["results"]] == [resolved.reference]


@pytest.mark.django_db
def test_a_reply_on_an_open_complaint_is_no_late_reply(make_complaint, agent):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    complaint.refresh_from_db()

    customer_message_add(complaint=complaint, body="Any news?")

    complaint.refresh_from_db()
    assert complaint.customer_replied_at is None
    assert not _late_reply_events(complaint).exists()


@pytest.mark.django_db
def test_answering_the_customer_clears_the_marker_and_a_note_does_not(resolved, agent):
    customer_message_add(complaint=resolved, body="Still waiting.")
    resolved.refresh_from_db()

    message_add(complaint=resolved, actor=agent, body="Checking now.", internal=True)
    resolved.refresh_from_db()
    assert resolved.customer_replied_at is not None

    message_add(complaint=resolved, actor=agent, body="The refund left us today.")
    resolved.refresh_from_db()
    assert resolved.customer_replied_at is None
    assert resolved.state == State.RESOLVED


@pytest.mark.django_db
def test_reopening_clears_the_marker(resolved, supervisor):
    customer_message_add(complaint=resolved, body="It is not fixed.")
    resolved.refresh_from_db()

    lifecycle.complaint_reopen(complaint=resolved, actor=supervisor, reason="Customer wrote back")

    resolved.refresh_from_db()
    assert resolved.state == State.ACKNOWLEDGED
    assert resolved.customer_replied_at is None


@pytest.mark.django_db
def test_reopening_a_loop_closed_complaint_clears_the_marker(resolved, agent, supervisor):
    close_loop(resolved, agent)
    customer_message_add(complaint=Complaint.objects.get(pk=resolved.pk), body="Still broken.")
    resolved.refresh_from_db()
    assert resolved.customer_replied_at is not None

    lifecycle.complaint_reopen(complaint=resolved, actor=supervisor, reason="Customer wrote back")

    resolved.refresh_from_db()
    assert resolved.state == State.ACKNOWLEDGED
    assert resolved.customer_replied_at is None


@pytest.mark.django_db
def test_the_desk_queue_filter_shows_late_replies(resolved, agent, make_complaint):
    other = make_complaint(subject="Another one")
    customer_message_add(complaint=resolved, body="Hello again.")
    client = Client()
    client.force_login(agent)

    page = client.get(reverse("desk:team-queue"), {"state": "customer_replied"})

    assert page.status_code == 200
    text = page.content.decode()
    assert resolved.reference in text
    assert other.reference not in text
    complaint_page = client.get(reverse("desk:complaint", args=[resolved.reference]))
    assert "Customer replied after closing" in complaint_page.content.decode()


@pytest.mark.usefixtures("insight_path")
@pytest.mark.django_db
def test_late_replies_count_as_possible_repeats():
    once = customer("Una")
    done = {"resolved_at": at(2026, 2, 20)}
    february = stored_complaint(received=at(2026, 2, 10), who=once, **done)
    stored_complaint(received=at(2026, 2, 11), who=customer("Otto"), **done)
    with time_machine.travel(at(2026, 3, 4), tick=False):
        customer_message_add(complaint=february, body="It broke again.")
        customer_message_add(complaint=february, body="And again.")
    march = Scope(start=date(2026, 3, 1), end=date(2026, 3, 31))

    payload = insight_selectors.repeat_complaints(march, within_days=30)

    assert payload["complaints"] == 0  # no new complaint in March...
    assert payload["repeat_complaints"] == 0
    assert payload["replied_after_closing"] == 1  # ...but one customer came back
    assert payload["possible_repeats"] == 1
    february_only = Scope(start=date(2026, 2, 1), end=date(2026, 2, 28))
    assert (
        insight_selectors.repeat_complaints(february_only, within_days=30)["replied_after_closing"]
        == 0
    )
    other_channel = Scope(start=date(2026, 3, 1), end=date(2026, 3, 31), channel="email")
    assert insight_selectors.replied_after_closing(other_channel) == 0
