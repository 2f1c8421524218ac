"""Answers built from what a request holds (recovery.selectors, docs/operations.md "Query
budgets") say exactly what a fresh read says: the relations brought along in the complaint's
row as JSON, a transition's answer from its locked instance, the undelivered emails from
either path, and the outbox rows written with their events in one statement."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIRequestFactory

from api.serializers import ComplaintDetailSerializer
from escalation.services import ladder
from notifications.models import EmailDelivery, EmailStatus, Outbox
from notifications.selectors import undelivered_emails
from recovery import selectors
from recovery.models import Complaint, ComplaintEvent
from tests.conftest import acknowledge, api_client, resolve

TRANSITIONS = {
    "acknowledge": ([], {"message": "We have {reference}.", "next_steps": "A look."}),
    "resolve": (
        ["acknowledge"],
        {"outcome": "upheld", "summary": "Refunded.", "root_causes": ["billing.refund-delay"]},
    ),
    "close_loop": (
        ["acknowledge", "resolve"],
        {"what_we_found": "A bug.", "what_we_did": "Refunded.", "what_will_change": "Checks."},
    ),
    "reopen": (["acknowledge", "resolve"], {"reason": "Charged again."}),
    "withdraw": ([], {"reason": "Withdrawn by the customer."}),
}


def post_transition(client, reference: str, name: str):
    fields = {
        key: value.format(reference=reference) if isinstance(value, str) else value
        for key, value in TRANSITIONS[name][1].items()
    }
    return client.post(
        f"/api/complaints/{reference}/transitions/", {"transition": name, **fields}, format="json"
    )


def without_time_left(shown: dict) -> dict:
    """``seconds_left`` counts down between two reads."""
    for clock in shown["clocks"]:
        clock.pop("seconds_left")
    return shown


@pytest.mark.parametrize("name", list(TRANSITIONS))
def test_a_transitions_answer_is_what_a_read_after_it_shows(
    make_complaint, supervisor, root_causes, name
):
    complaint = make_complaint()
    ladder.complaint_escalate_by_hand(
        complaint=complaint, actor=supervisor, direction="up", reason="Loud."
    )
    client = api_client(supervisor)
    for step in TRANSITIONS[name][0]:
        assert post_transition(client, complaint.reference, step).status_code == 200

    answer = post_transition(client, complaint.reference, name)

    assert answer.status_code == 200, answer.content
    shown = answer.json()
    assert shown["escalations"]
    assert without_time_left(shown) == without_time_left(
        client.get(f"/api/complaints/{complaint.reference}/").json()
    )


def test_the_api_detail_shows_what_the_desks_full_read_holds(
    make_complaint, supervisor, root_causes
):
    """Escalations and root causes (with their parents' names) from the row's JSON, as the
    prefetches of ``complaint_detail`` read them."""
    complaint = make_complaint()
    acknowledge(complaint, supervisor)
    ladder.complaint_escalate_by_hand(
        complaint=Complaint.objects.get(pk=complaint.pk),
        actor=supervisor,
        direction="up",
        reason="Loud.",
    )
    resolve(
        Complaint.objects.get(pk=complaint.pk),
        supervisor,
        causes=("billing.duplicate-charge", "billing.refund-delay"),
    )
    request = APIRequestFactory().get("/")
    request.user = supervisor

    def shown(read) -> bytes:
        data = ComplaintDetailSerializer(read, context={"request": request}).data
        return JSONRenderer().render(without_time_left(data))

    full = selectors.complaint_detail(reference=complaint.reference, user=supervisor)
    api = selectors.complaint_api_detail(reference=complaint.reference, user=supervisor)
    assert hasattr(api, selectors.ROOT_CAUSE_ROWS)
    assert [link.root_cause.path for link in api.root_causes.all()] == [
        "Billing > Duplicate charge",
        "Billing > Refund delayed",
    ]
    assert shown(api) == shown(full)


def test_undelivered_emails_brought_in_the_row_are_those_read_on_their_own(
    make_complaint, supervisor
):
    """Instants with and without microseconds, and with trailing zeros, survive the JSON."""
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    outbox = Outbox.objects.filter(complaint_id=complaint.pk).first()
    base = timezone.now().replace(microsecond=0)
    for number, (status, micro) in enumerate(
        [(EmailStatus.FAILED, 0), (EmailStatus.QUEUED, 120_000), (EmailStatus.SENT, 123_456)]
    ):
        EmailDelivery.objects.create(
            complaint_id=complaint.pk,
            outbox=outbox,
            rfc_message_id=f"<m{number}@example.com>",
            recipient=f"a{number}@example.com",
            kind="holding",
            subject=f"Subject {number}",
            status=status,
            failure_reason="Refused." if status == EmailStatus.FAILED else "",
            next_attempt_at=base + timedelta(hours=1, microseconds=micro)
            if status == EmailStatus.QUEUED
            else None,
            bounced_at=base + timedelta(microseconds=micro) if status == EmailStatus.SENT else None,
            bounce_status="5.1.1" if status == EmailStatus.SENT else "",
            bounce_permanent=True if status == EmailStatus.SENT else None,
            sent_at=base + timedelta(microseconds=micro + 10),
        )
    read_alone = Complaint.objects.get(pk=complaint.pk)
    brought = selectors.with_api_annotations(
        Complaint.objects.filter(pk=complaint.pk), supervisor
    ).get()

    expected = [email.as_dict() for email in undelivered_emails(read_alone)]
    assert len(expected) == 3
    assert [email.as_dict() for email in undelivered_emails(brought)] == expected


def test_each_outbox_row_written_with_its_event_names_it(make_complaint):
    complaint = make_complaint()
    events = list(ComplaintEvent.objects.filter(complaint=complaint).order_by("id"))
    rows = list(Outbox.objects.filter(complaint_id=complaint.pk).order_by("id"))
    assert len(events) == len(rows) == 2
    for event, row in zip(events, rows, strict=True):
        assert row.event_type == f"complaint.{event.type}"
        assert row.payload["timeline_event_id"] == event.pk
        assert row.idempotency_key == f"timeline:{event.pk}"
