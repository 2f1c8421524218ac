"""Delivering outbox events: inbox rows, socket doorbells and customer emails, exactly once.

Personas (tests/conftest.py): ``agent`` and ``supervisor`` work ``team`` (Billing), which
the complaints are routed to; ``other_agent`` works ``other_team`` and must never hear of
them; ``manager`` is on no team and is told only when named (as the assignee);
``customer_user`` is the customer who complained and is told by email.
"""

import json
import logging
import re
import threading
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from smtplib import SMTPServerDisconnected

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.utils import timezone

from escalation.services import ladder
from notifications import delivery, emailing, tasks
from notifications.models import (
    EmailDelivery,
    EmailStatus,
    MessageTemplate,
    MessageTemplateKind,
    Notification,
    NotificationPreference,
    Outbox,
)
from notifications.replay import complaint_of_tracking_token
from recovery import roles
from recovery.models import ComplaintEvent, Customer
from recovery.services import corrections, lifecycle, messages, sla
from recovery.services.surveys import survey_for_token
from tests.conftest import _staff, acknowledge, close_loop, resolve
from tests.notifications.shipped_templates import ensure_default_templates

# Backend-independent: ./redress test runs this file on SQLite (the embedded mode) too.
pytestmark = pytest.mark.sqlite

LOCMEM_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
FLAKY_BACKEND = "tests.notifications.test_delivery.FlakyEmailBackend"
# Threads racing to deliver one event; more than two so that "one wins, the others skip"
# is exercised with several losers.
RACING_DELIVERERS = 4
THREAD_JOIN_TIMEOUT_S = 60


class FlakyEmailBackend(BaseEmailBackend):
    """Fails ``failures_left`` times like a dropped SMTP connection, then delivers to the
    locmem outbox; ``failures_left = None`` fails forever."""

    failures_left: int | None = None
    calls = 0

    def send_messages(self, email_messages):
        type(self).calls += 1
        if self.failures_left is None or self.failures_left > 0:
            if self.failures_left is not None:
                type(self).failures_left -= 1
            raise SMTPServerDisconnected("Connection unexpectedly closed")
        mail.outbox.extend(email_messages)
        return len(email_messages)


@pytest.fixture
def flaky_backend(settings, mailoutbox):
    settings.EMAIL_BACKEND = FLAKY_BACKEND
    FlakyEmailBackend.failures_left = None
    FlakyEmailBackend.calls = 0
    return FlakyEmailBackend


@pytest.fixture
def locmem_email(settings, mailoutbox):
    settings.EMAIL_BACKEND = LOCMEM_BACKEND
    return mailoutbox


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    """What would be handed to the broker after commit: recorded here, so these tests never
    depend on (or leave tasks in) a broker. The outage test drives a real one."""
    calls: list[tuple[str, tuple]] = []
    monkeypatch.setattr(delivery, "enqueue", lambda task, *args: calls.append((task.name, args)))
    return calls


@pytest.fixture
def routed(make_complaint, manager):
    """A Billing complaint assigned to ``manager``, who is on no team: the assignee is told
    because they are named, not because of a team. Its arrival is already delivered and the
    receipt email sent, so each test sees only the emails of what it does."""
    complaint = make_complaint()
    sla.complaint_assign(complaint=complaint, assignee=manager, reason="test")
    deliver_pending()
    for receipt in EmailDelivery.objects.filter(complaint_id=complaint.pk):
        assert emailing.send(receipt.pk)
    mail.outbox.clear()
    return complaint


@pytest.fixture(autouse=True)
def default_templates(db):
    ensure_default_templates()


def deliver_pending() -> list[int]:
    """Deliver every undelivered event in id order, as the worker would; returns their ids."""
    pending = list(
        Outbox.objects.filter(delivered_at__isnull=True).order_by("id").values_list("pk", flat=True)
    )
    for outbox_id in pending:
        assert delivery.deliver(outbox_id)
    return pending


def last_event(event_type: str) -> Outbox:
    return Outbox.objects.filter(event_type=event_type).latest("id")


def recipients_of(row: Outbox) -> set[int]:
    return set(Notification.objects.filter(outbox=row).values_list("user_id", flat=True))


def email_for(event_type: str) -> EmailDelivery:
    return EmailDelivery.objects.get(outbox=last_event(event_type))


# -- the outbox: one row per timeline event ------------------------------------------------


@pytest.mark.django_db
def test_every_lifecycle_change_writes_exactly_one_outbox_row_for_its_timeline_event(
    make_complaint, agent, supervisor, customer_user, root_causes
):
    def step(action, expected_types):
        events_before = set(ComplaintEvent.objects.values_list("pk", flat=True))
        outbox_before = set(Outbox.objects.values_list("pk", flat=True))
        action()
        new_events = ComplaintEvent.objects.exclude(pk__in=events_before).order_by("pk")
        new_rows = Outbox.objects.exclude(pk__in=outbox_before).order_by("pk")
        assert [f"complaint.{e.type}" for e in new_events] == expected_types
        assert [row.event_type for row in new_rows] == expected_types
        for event, row in zip(new_events, new_rows, strict=True):
            assert row.idempotency_key == f"timeline:{event.pk}"
            assert row.complaint_id == event.complaint_id
            assert row.payload["timeline_event_id"] == event.pk
            assert row.payload["v"] == 1

    made = []
    step(lambda: made.append(make_complaint()), ["complaint.received", "complaint.routed"])
    complaint = made[0]
    step(
        lambda: sla.complaint_assign(complaint=complaint, assignee=agent, actor=supervisor),
        ["complaint.assigned"],
    )
    step(lambda: acknowledge(complaint, agent), ["complaint.acknowledged"])
    step(
        lambda: ladder.complaint_request_escalation(
            complaint=complaint, actor=customer_user, reason="Nobody answers."
        ),
        ["complaint.escalation_requested"],
    )
    step(
        lambda: ladder.complaint_escalate_by_hand(
            complaint=complaint, actor=supervisor, direction="up", reason="Customer asked."
        ),
        ["complaint.escalated"],
    )
    step(
        lambda: ladder.complaint_escalate_by_hand(
            complaint=complaint, actor=supervisor, direction="down", reason="Handled."
        ),
        ["complaint.de_escalated"],
    )
    step(
        lambda: messages.message_add(complaint=complaint, actor=agent, body="Checking now."),
        ["complaint.message_added"],
    )
    step(
        lambda: messages.message_add(
            complaint=complaint, actor=agent, body="Gateway log attached.", internal=True
        ),
        ["complaint.note_added"],
    )
    step(
        lambda: messages.complaint_send_holding_reply(
            complaint=complaint, actor=agent, message="We need two more weeks."
        ),
        ["complaint.message_added"],
    )
    step(
        lambda: sla.complaint_set_awaiting_customer(
            complaint=complaint, actor=agent, awaiting=True, reason="statement needed"
        ),
        ["complaint.awaiting_customer"],
    )
    # The customer's reply ends the wait: two events from one change, each with its row.
    step(
        lambda: messages.message_add(complaint=complaint, actor=customer_user, body="Attached."),
        ["complaint.message_added", "complaint.awaiting_ended"],
    )
    step(lambda: resolve(complaint, agent), ["complaint.resolved"])
    step(
        lambda: lifecycle.complaint_reopen(complaint=complaint, actor=supervisor, reason="Wrong"),
        ["complaint.reopened"],
    )
    step(lambda: resolve(complaint, agent), ["complaint.resolved"])
    step(lambda: close_loop(complaint, agent), ["complaint.loop_closed", "complaint.survey_sent"])

    withdrawn = make_complaint()
    step(
        lambda: lifecycle.complaint_withdraw(
            complaint=withdrawn, actor=customer_user, reason="Sorted it out myself."
        ),
        ["complaint.withdrawn"],
    )
    assert Outbox.objects.count() == ComplaintEvent.objects.count()


@pytest.mark.django_db
def test_outbox_rows_are_written_only_when_the_change_commits(make_complaint, agent):
    complaint = make_complaint()
    before = Outbox.objects.count()
    with pytest.raises(Exception, match="reference"):
        # Not naming the reference is refused after the row lock: the whole change rolls back.
        lifecycle.complaint_acknowledge(
            complaint=complaint, actor=agent, message="Thanks.", next_steps="Soon."
        )
    assert Outbox.objects.count() == before


# -- deliver(): who is told -----------------------------------------------------------------


@pytest.mark.django_db
def test_the_fast_path_notes_when_the_change_committed(
    make_complaint, agent, enqueued, django_capture_on_commit_callbacks
):
    complaint = make_complaint()
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        acknowledge(complaint, agent)
        # Noted by the on-commit hook, so after everything the transaction did.
        last_write = timezone.now()
    row = last_event("complaint.acknowledged")
    ((_name, (ids, committed)),) = [c for c in enqueued if c[0] == "notifications.deliver_outbox"]
    assert row.pk in ids
    committed_at = datetime.fromisoformat(committed)
    assert row.created_at <= last_write <= committed_at
    assert row.committed_at is None  # kept when the event is delivered

    assert tasks.deliver_outbox(ids, committed) == len(ids)

    row.refresh_from_db()
    assert (row.committed_at, row.delivered_at is not None) == (committed_at, True)


def test_a_delivery_task_without_a_usable_commit_time_still_delivers(routed, agent):
    acknowledge(routed, agent)
    row = last_event("complaint.acknowledged")
    # Tasks queued by an older release carry no time; a malformed one is ignored.
    assert [tasks._instant(value) for value in (None, "", "yesterday", "2026-01-01T10:00")] == [
        None
    ] * 4
    assert tasks.deliver_outbox([row.pk], "yesterday") == 1
    row.refresh_from_db()
    assert (row.committed_at, row.delivered_at is not None) == (None, True)


def test_delivery_tells_the_assignee_and_the_team_and_nobody_else(
    routed, agent, supervisor, manager, other_agent, customer_user, teammate
):
    acknowledge(routed, teammate)
    deliver_pending()

    row = last_event("complaint.acknowledged")
    assert row.delivered_at is not None
    assert row.attempts == 1
    # The team's agents and the assignee; the team's supervisor is not told a routine step.
    assert recipients_of(row) == {agent.pk, manager.pk}
    assert not Notification.objects.filter(
        user__in=[other_agent, customer_user, supervisor]
    ).exists()
    note = Notification.objects.get(outbox=row, user=agent)
    assert note.reference == routed.reference
    assert note.complaint_id == routed.pk
    assert note.summary == f"{routed.reference} “{routed.subject}”: teammate acknowledged it"
    assert note.link == f"/api/complaints/{routed.reference}/"
    assert note.read_at is None


@pytest.mark.django_db
def test_muted_event_types_leave_no_inbox_row_for_that_user_only(routed, agent, manager, teammate):
    # The assignee (manager) mutes; the team's agent does not.
    NotificationPreference.objects.create(
        user=manager, muted_events=["complaint.acknowledged", "complaint.note_added"]
    )
    acknowledge(routed, teammate)
    messages.message_add(complaint=routed, actor=teammate, body="Still looking.")
    deliver_pending()

    assert manager.pk not in recipients_of(last_event("complaint.acknowledged"))
    assert agent.pk in recipients_of(last_event("complaint.acknowledged"))
    # Muting one event type does not mute the others.
    assert manager.pk in recipients_of(last_event("complaint.message_added"))


@pytest.mark.django_db
def test_sockets_ring_after_commit_only_and_skip_users_who_turned_them_off(
    routed,
    agent,
    groups,
    manager,
    team,
    monkeypatch,
    django_capture_on_commit_callbacks,
    teammate,
):
    # A third agent on the team, who turned live pushes off.
    quiet = _staff("quiet", groups[roles.AGENT], team)
    NotificationPreference.objects.create(user=quiet, via_websocket=False)
    rung: list[list[tuple[str, dict]]] = []
    monkeypatch.setattr(delivery, "ring", rung.append)
    acknowledge(routed, teammate)
    row = last_event("complaint.acknowledged")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        delivery.deliver(row.pk)
        assert rung == []  # nothing leaves before commit
    for callback in callbacks:
        callback()

    # One push per group, not per person: the team's group carries the members it is for;
    # the assignee, on no team, is rung through their own group.
    pushes = dict(rung[0])
    assert sorted(pushes) == sorted(
        [
            f"team.{team.pk}",
            f"user.{manager.pk}",
            f"complaint.{routed.pk}",
            f"track.{routed.pk}",
            "board",
        ]
    )
    # The supervisors' open boards are rung with the event's id only, nothing of it.
    assert json.loads(pushes["board"]["text"]) == {"type": "board", "id": row.pk}
    team_push = pushes[f"team.{team.pk}"]
    assert team_push["to"] == [agent.pk]
    assert team_push["event"]["id"] == row.pk
    assert team_push["event"]["type"] == "complaint.acknowledged"
    assert "to" not in pushes[f"user.{manager.pk}"]
    # Whoever has the complaint open hears it there, unless already rung through their feed.
    assert pushes[f"complaint.{routed.pk}"]["skip"] == sorted([agent.pk, manager.pk])
    # The quiet agent still has the inbox row: only the live push was turned off.
    assert quiet.pk in recipients_of(row)
    # The customer's tracking feed carries no internal parameters.
    assert "parameters" not in pushes[f"track.{routed.pk}"]["event"]


@pytest.mark.django_db
def test_a_member_of_two_audience_teams_is_rung_through_one_of_them_only(
    make_complaint,
    agent,
    other_agent,
    other_team,
    team,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    other_team.members.add(agent)
    complaint = make_complaint()
    rung: list[list[tuple[str, dict]]] = []
    monkeypatch.setattr(delivery, "ring", rung.append)
    row = Outbox.objects.get(complaint_id=complaint.pk, event_type="complaint.received")
    Outbox.objects.filter(pk=row.pk).update(
        audience={"teams": [team.pk, other_team.pk], "users": [], "customer": None}
    )

    with django_capture_on_commit_callbacks(execute=True):
        delivery.deliver(row.pk)

    pushes = dict(rung[0])
    assert pushes[f"team.{team.pk}"]["to"] == [agent.pk]
    assert pushes[f"team.{other_team.pk}"]["to"] == [other_agent.pk]
    assert recipients_of(row) == {agent.pk, other_agent.pk}


# -- deliver_batch(): the events of one change -----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_change_with_two_events_rings_both_before_rendering_either_email(
    routed, agent, root_causes, monkeypatch
):
    """Closing the loop writes two events, and each emails the customer: the second one's
    push must not wait for the first one's email to be rendered."""
    acknowledge(routed, agent)
    resolve(routed, agent)
    deliver_pending()
    close_loop(routed, agent)
    batch = list(
        Outbox.objects.filter(delivered_at__isnull=True).order_by("id").values_list("pk", flat=True)
    )
    steps: list[tuple[str, str]] = []
    real_ring, real_email = delivery.ring, delivery._queue_customer_email

    def ring(pushes):
        steps.append(("ring", pushes[0][1]["event"]["type"]))
        real_ring(pushes)

    def queue_email(row, kind):
        steps.append(("email", row.event_type))
        return real_email(row, kind)

    monkeypatch.setattr(delivery, "ring", ring)
    monkeypatch.setattr(delivery, "_queue_customer_email", queue_email)

    assert delivery.deliver_batch(batch) == 2

    assert steps == [
        ("ring", "complaint.loop_closed"),
        ("ring", "complaint.survey_sent"),
        ("email", "complaint.loop_closed"),
        ("email", "complaint.survey_sent"),
    ]
    assert not Outbox.objects.filter(pk__in=batch, delivered_at__isnull=True).exists()
    assert EmailDelivery.objects.filter(outbox_id__in=batch).count() == 2
    # Delivered already: a second run of the same task does nothing.
    assert delivery.deliver_batch(batch) == 0


# -- deliver(): idempotent ------------------------------------------------------------------


@pytest.mark.django_db
def test_delivering_an_event_twice_changes_nothing_the_second_time(
    routed, agent, supervisor, manager, enqueued, django_capture_on_commit_callbacks, teammate
):
    acknowledge(routed, teammate)
    row = last_event("complaint.acknowledged")
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.deliver(row.pk) is True
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.deliver(row.pk) is False

    assert recipients_of(row) == {agent.pk, manager.pk}  # not the supervisor: routine
    assert Notification.objects.filter(outbox=row).count() == 2
    assert EmailDelivery.objects.filter(outbox=row).count() == 1
    row.refresh_from_db()
    assert row.attempts == 1
    # The email was handed to the broker once, by the call that delivered.
    assert enqueued == [("notifications.send_email", (email_for("complaint.acknowledged").pk,))]


@pytest.mark.django_db
def test_redelivering_a_row_marked_undelivered_is_kept_single_by_the_unique_keys(
    routed, agent, supervisor, manager, teammate
):
    """A worker that wrote the rows but whose "delivered" mark was lost must not duplicate."""
    acknowledge(routed, teammate)
    row = last_event("complaint.acknowledged")
    delivery.deliver(row.pk)
    first_email = EmailDelivery.objects.get(outbox=row)
    Outbox.objects.filter(pk=row.pk).update(delivered_at=None)

    assert delivery.deliver(row.pk) is True
    assert recipients_of(row) == {agent.pk, manager.pk}  # not the supervisor: routine
    assert Notification.objects.filter(outbox=row).count() == 2
    assert list(EmailDelivery.objects.filter(outbox=row)) == [first_email]


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_write_one_inbox_row_per_user_and_one_email(
    routed, agent, supervisor, manager, teammate
):
    acknowledge(routed, teammate)
    row = last_event("complaint.acknowledged")
    barrier = threading.Barrier(RACING_DELIVERERS)
    results: list[bool] = []
    errors: list[BaseException] = []

    def race() -> None:
        try:
            barrier.wait(timeout=THREAD_JOIN_TIMEOUT_S)
            results.append(delivery.deliver(row.pk))
        except BaseException as exc:  # reported to the test, never lost with the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=race, daemon=True) for _ in range(RACING_DELIVERERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_JOIN_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a deliverer is stuck"
    assert not errors, errors

    # Losers either skipped the locked row or found it delivered; none wrote anything.
    assert sorted(results) == [False] * (RACING_DELIVERERS - 1) + [True]
    assert recipients_of(row) == {agent.pk, manager.pk}  # not the supervisor: routine
    assert Notification.objects.filter(outbox=row).count() == 2
    assert EmailDelivery.objects.filter(outbox=row).count() == 1
    row.refresh_from_db()
    assert row.attempts == 1


# -- customer emails: which template, which wording -----------------------------------------


@pytest.mark.django_db
def test_each_customer_facing_event_queues_its_own_email_with_the_right_template(
    routed, agent, customer_user, root_causes
):
    acknowledge(routed, agent)
    messages.message_add(complaint=routed, actor=agent, body="We are checking the gateway.")
    messages.complaint_send_holding_reply(
        complaint=routed, actor=agent, message="We need two more weeks."
    )
    resolve(routed, agent)
    close_loop(routed, agent)
    deliver_pending()

    emails = list(EmailDelivery.objects.order_by("outbox_id"))
    assert [(e.outbox.event_type, e.kind) for e in emails] == [
        ("complaint.received", MessageTemplateKind.RECEIPT),
        ("complaint.acknowledged", MessageTemplateKind.ACKNOWLEDGEMENT),
        ("complaint.message_added", MessageTemplateKind.REPLY),
        ("complaint.message_added", MessageTemplateKind.HOLDING),
        ("complaint.resolved", MessageTemplateKind.RESOLUTION),
        ("complaint.loop_closed", MessageTemplateKind.LOOP_CLOSING),
        ("complaint.survey_sent", MessageTemplateKind.SURVEY_INVITATION),
    ]
    reference = routed.reference
    # One subject for every email about the complaint, so that mail programs that thread by
    # subject (Gmail) keep them in one conversation; the text says what kind each is.
    assert {e.subject for e in emails} == {f"[{reference}] {routed.subject}"}
    # The receipt links the tracking page and the invitation the survey, each signed.
    receipt, survey = emails[0], emails[-1]
    track = re.search(r"http://127\.0\.0\.1:8000/track/([^/\s]+)/", receipt.body_text)
    assert complaint_of_tracking_token(track.group(1)) == routed.pk
    link = re.search(r"http://127\.0\.0\.1:8000/survey/([^/\s]+)/", survey.body_text)
    assert survey_for_token(link.group(1)) == routed.survey
    assert {e.recipient for e in emails} == {"customer@example.com"}
    assert emails[0].status == EmailStatus.SENT  # the receipt, sent on arrival
    assert {e.status for e in emails[1:]} == {EmailStatus.QUEUED}
    assert {e.complaint_id for e in emails} == {routed.pk}
    assert len({e.rfc_message_id for e in emails}) == len(emails)
    assert all(e.rfc_message_id.endswith("@redress.invalid>") for e in emails)

    _, ack, reply, holding, resolution, loop_closing, _ = emails
    assert ack.body_text.startswith("Dear Customer,\n\n")
    assert f"We have your complaint {reference}." in ack.body_text
    assert "What happens next: We will investigate" in ack.body_text
    assert "We are checking the gateway." in reply.body_text
    assert "We need two more weeks." in holding.body_text
    assert "Our decision: Upheld." in resolution.body_text
    assert "Refunded the duplicate charge." in resolution.body_text
    # A generic resolution carries no regulator's referral wording.
    assert "Ombudsman" not in resolution.body_text
    assert "What will change: The gateway no longer retries" in loop_closing.body_text
    assert all(e.body_text.rstrip().endswith(f"Your reference: {reference}") for e in emails)


@pytest.mark.django_db
def test_a_corrected_subject_does_not_start_a_new_conversation(routed, agent, supervisor):
    """Mail programs thread by subject: the emails keep the subject the complaint came with."""
    for corrected in ("Charged twice for order 4411", "Order 4411: two charges"):
        corrections.complaint_correct_details(
            complaint=routed, actor=supervisor, changes={"subject": corrected}
        )
    messages.message_add(complaint=routed, actor=agent, body="We are on it.")
    deliver_pending()

    email = email_for("complaint.message_added")
    assert email.subject == f"[{routed.reference}] Charged twice"
    receipt = EmailDelivery.objects.get(complaint_id=routed.pk, kind="receipt")
    assert email.subject == receipt.subject


@pytest.mark.django_db
def test_a_complaint_opened_from_a_reply_drops_the_reply_prefixes_from_its_subject(
    make_complaint, agent
):
    complaint = make_complaint(subject="Re: Fwd: [RDR-2025-000001] Charged twice")
    acknowledge(complaint, agent)
    deliver_pending()

    subjects = set(
        EmailDelivery.objects.filter(complaint_id=complaint.pk).values_list("subject", flat=True)
    )
    assert subjects == {f"[{complaint.reference}] Charged twice"}


@pytest.mark.django_db
def test_customer_email_links_start_with_the_configured_public_url(
    make_complaint, agent, root_causes, settings
):
    settings.REDRESS_PUBLIC_URL = "https://complaints.example.com"
    complaint = make_complaint()
    acknowledge(complaint, agent)
    resolve(complaint, agent)
    close_loop(complaint, agent)
    deliver_pending()

    receipt = email_for("complaint.received")
    track = re.search(r"https://complaints\.example\.com/track/([^/\s]+)/", receipt.body_text)
    assert complaint_of_tracking_token(track.group(1)) == complaint.pk
    assert f'href="{track.group(0)}"' in receipt.body_html
    survey = email_for("complaint.survey_sent")
    assert re.search(r"https://complaints\.example\.com/survey/[^/\s]+/", survey.body_text)
    assert "127.0.0.1" not in receipt.body_text + survey.body_text


@pytest.mark.django_db
def test_plain_text_is_not_html_escaped_and_html_is(routed, agent):
    routed.customer.name = "Seán O'Brien"
    routed.customer.save(update_fields=["name"])
    messages.message_add(complaint=routed, actor=agent, body="It's <b>fixed</b> & refunded.")
    deliver_pending()

    email = email_for("complaint.message_added")
    assert email.body_text.startswith("Dear Seán O'Brien,\n\nIt's <b>fixed</b> & refunded.")
    # The HTML part is made from the same wording, escaped.
    assert "Dear Seán O&#x27;Brien," in email.body_html
    assert "It&#x27;s &lt;b&gt;fixed&lt;/b&gt; &amp; refunded." in email.body_html


@pytest.mark.django_db
def test_a_written_response_email_gives_the_ombudsman_referral_rights(
    make_complaint, agent, customer_user
):
    complaint = acknowledge(make_complaint(regulatory_profile="uk_fca_disp"), agent)
    sent = messages.complaint_send_written_response(
        complaint=complaint,
        actor=agent,
        reason="We are waiting for the card network's records.",
        expected_by=timezone.localdate() + timedelta(days=30),
    )
    deliver_pending()

    email = EmailDelivery.objects.get(message_id=sent.pk)
    assert email.kind == MessageTemplateKind.WRITTEN_RESPONSE
    assert email.subject == f"[{complaint.reference}] {complaint.subject}"
    body = " ".join(email.body_text.split())
    assert "we are not yet in a position to send you our final response" in body
    assert "We are waiting for the card network's records." in body
    assert "We expect to send you our final response by" in body
    assert "you may now refer your complaint to the Financial Ombudsman Service" in body
    assert "www.financial-ombudsman.org.uk" in body
    assert "six months from the date of that response" in body
    # The obligation it answered is staff bookkeeping: no email of its own.
    assert (
        EmailDelivery.objects.filter(outbox__event_type="complaint.obligation_answered").count()
        == 0
    )


@pytest.mark.django_db
def test_an_idr_delay_notification_email_names_afca(make_complaint, agent):
    complaint = acknowledge(make_complaint(regulatory_profile="au_asic_rg271_credit"), agent)
    sent = messages.complaint_send_delay_notification(
        complaint=complaint, actor=agent, reason="We are waiting for your other bank."
    )
    deliver_pending()

    email = EmailDelivery.objects.get(message_id=sent.pk)
    assert email.kind == MessageTemplateKind.DELAY_NOTIFICATION
    assert email.subject == f"[{complaint.reference}] {complaint.subject}"
    body = " ".join(email.body_text.split())
    # RG 271.66: the reasons, the right to complain to AFCA, AFCA's contact details.
    assert "We are waiting for your other bank." in body
    assert "you may complain now to the Australian Financial Complaints Authority (AFCA)" in body
    assert "www.afca.org.au, 1800 931 678, GPO Box 3, Melbourne VIC 3001" in body


@pytest.mark.django_db
def test_events_the_customer_is_not_emailed_about_queue_no_email(
    routed, agent, customer_user, supervisor, root_causes
):
    messages.message_add(complaint=routed, actor=customer_user, body="Any news?")  # inbound
    messages.message_add(complaint=routed, actor=agent, body="Gateway log.", internal=True)
    acknowledge(routed, agent)
    resolve(routed, agent)
    lifecycle.complaint_reopen(complaint=routed, actor=supervisor, reason="Customer disagreed")
    deliver_pending()

    emailed = list(EmailDelivery.objects.values_list("outbox__event_type", flat=True))
    assert sorted(emailed) == ["complaint.acknowledged", "complaint.received", "complaint.resolved"]
    # Every event was still delivered to the staff inbox.
    assert not Outbox.objects.filter(delivered_at__isnull=True).exists()


@pytest.mark.django_db
def test_fca_final_response_names_the_financial_ombudsman_and_the_six_month_limit(
    make_complaint, agent, root_causes
):
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    acknowledge(complaint, agent)
    resolve(complaint, agent)
    deliver_pending()

    resolution = email_for("complaint.resolved")
    assert resolution.subject == f"[{complaint.reference}] {complaint.subject}"
    assert "This is our final response" in resolution.body_text
    assert "Financial Ombudsman Service" in resolution.body_text
    assert "within six months" in resolution.body_text
    # The profile's wording is for the final response only; the acknowledgement is generic.
    assert "Ombudsman" not in email_for("complaint.acknowledged").body_text


@pytest.mark.django_db
def test_a_customer_language_without_templates_falls_back_to_the_default_language(
    routed, agent, customer_user
):
    Customer.objects.filter(user=customer_user).update(preferred_language="cy")
    acknowledge(routed, agent)
    deliver_pending()

    email = email_for("complaint.acknowledged")
    assert email.body_text.startswith(f"Dear {routed.customer.name},\n\n")  # the English one
    assert "Kind regards,\nThe complaints team" in email.body_text


@pytest.mark.django_db
def test_a_template_in_the_customer_language_wins_over_the_default(routed, agent, customer_user):
    MessageTemplate.objects.create(
        kind=MessageTemplateKind.ACKNOWLEDGEMENT,
        language="fr",
        subject="Nous avons bien reçu votre réclamation {{ reference }}",
        body_text="Bonjour {{ customer.name }},\n\n{{ message }}",
    )
    Customer.objects.filter(user=customer_user).update(preferred_language="fr")
    acknowledge(routed, agent)
    deliver_pending()

    email = email_for("complaint.acknowledged")
    assert email.subject == f"Nous avons bien reçu votre réclamation {routed.reference}"
    assert email.body_text.startswith("Bonjour Customer,")


@pytest.mark.django_db
def test_the_regulatory_wording_wins_over_a_generic_template_in_the_customer_language(
    make_complaint, agent, customer_user, root_causes
):
    """A French generic resolution would leave out the referral rights the FCA requires in
    a final response, so the profile's template (here only in English) must win; a French
    one for the profile wins over both."""
    generic_fr = {
        "kind": MessageTemplateKind.RESOLUTION,
        "language": "fr",
        "subject": "Notre réponse {{ reference }}",
        "body_text": "Notre décision : {{ outcome }}.",
    }
    MessageTemplate.objects.create(**generic_fr)
    Customer.objects.filter(user=customer_user).update(preferred_language="fr")
    first = make_complaint(regulatory_profile="uk_fca_disp")
    acknowledge(first, agent)
    resolve(first, agent)
    deliver_pending()
    assert "Financial Ombudsman Service" in email_for("complaint.resolved").body_text

    MessageTemplate.objects.create(
        **{**generic_fr, "regulatory_profile": "uk_fca_disp"},
    )
    MessageTemplate.objects.filter(language="fr", regulatory_profile="uk_fca_disp").update(
        subject="Réponse définitive {{ reference }}",
        body_text="Vous pouvez saisir le Financial Ombudsman Service dans les six mois.",
    )
    second = make_complaint(regulatory_profile="uk_fca_disp")
    acknowledge(second, agent)
    resolve(second, agent)
    deliver_pending()
    assert email_for("complaint.resolved").subject == f"Réponse définitive {second.reference}"


@pytest.mark.django_db
def test_a_missing_template_is_logged_and_sends_nothing_but_the_inbox_is_still_told(
    routed, agent, caplog, teammate
):
    MessageTemplate.objects.filter(kind=MessageTemplateKind.ACKNOWLEDGEMENT).delete()
    acknowledge(routed, teammate)
    with caplog.at_level(logging.WARNING, logger="notifications.delivery"):
        deliver_pending()

    row = last_event("complaint.acknowledged")
    assert not EmailDelivery.objects.filter(outbox=row).exists()
    assert agent.pk in recipients_of(row)
    row.refresh_from_db()
    assert row.delivered_at is not None
    assert any(
        "No acknowledgement template" in record.getMessage() and str(row.pk) in record.getMessage()
        for record in caplog.records
    ), caplog.text


@pytest.mark.django_db
def test_a_template_that_does_not_compile_is_logged_and_does_not_block_the_inbox(
    routed, agent, caplog, teammate
):
    """An edited template with a syntax error must not hold back every staff notification
    of that event type (the sweep would retry the event forever)."""
    MessageTemplate.objects.filter(kind=MessageTemplateKind.ACKNOWLEDGEMENT).update(
        body_text="Dear {{ customer.name }},{% if %}"
    )
    acknowledge(routed, teammate)
    with caplog.at_level(logging.WARNING, logger="notifications.delivery"):
        deliver_pending()

    row = last_event("complaint.acknowledged")
    row.refresh_from_db()
    assert row.delivered_at is not None
    assert agent.pk in recipients_of(row)
    assert not EmailDelivery.objects.filter(outbox=row).exists()
    assert any(
        record.levelno == logging.ERROR and "acknowledgement template" in record.getMessage()
        for record in caplog.records
    ), caplog.text


@pytest.mark.django_db
def test_a_late_delivered_resolution_email_says_what_was_decided_then_not_now(
    routed, agent, supervisor, root_causes
):
    """After an outage, events are delivered late: a complaint resolved, reopened and
    resolved again must still send two resolution emails, each with its own decision."""
    acknowledge(routed, agent)
    resolve(routed, agent)
    lifecycle.complaint_reopen(complaint=routed, actor=supervisor, reason="More to refund")
    lifecycle.complaint_resolve(
        complaint=routed,
        actor=agent,
        outcome="partly_upheld",
        summary="Refunded the fee as well.",
        root_causes=["billing.refund-delay"],
    )
    deliver_pending()

    first, second = EmailDelivery.objects.filter(kind="resolution").order_by("outbox_id")
    assert "Our decision: Upheld." in first.body_text
    assert "Refunded the duplicate charge." in first.body_text
    assert "Refunded the fee as well." not in first.body_text
    assert "Our decision: Partly upheld." in second.body_text
    assert "Refunded the fee as well." in second.body_text


# -- the redelivery sweep -------------------------------------------------------------------


@pytest.mark.django_db
def test_redelivery_takes_only_events_older_than_the_grace_period(
    make_complaint, agent, locmem_email
):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        stale = make_complaint()
        clock.shift(tasks.REDELIVERY_GRACE - timedelta(seconds=10))
        fresh = make_complaint()
        clock.shift(timedelta(seconds=11))  # stale is now just past the grace period
        result = tasks.redeliver()

    # Each complaint has two rows (received, routed): the stale ones only are delivered.
    assert result["delivered"] == 2
    stale_rows = Outbox.objects.filter(complaint_id=stale.pk)
    fresh_rows = Outbox.objects.filter(complaint_id=fresh.pk)
    assert [row.delivered_at is not None for row in stale_rows] == [True, True]
    assert [row.delivered_at is None for row in fresh_rows] == [True, True]


@pytest.mark.django_db
def test_redelivery_sends_emails_still_queued_after_the_grace_period_once(
    routed, agent, locmem_email
):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        acknowledge(routed, agent)
        deliver_pending()  # queued the email; the broker never got the send task
        email = email_for("complaint.acknowledged")
        assert tasks.redeliver()["emails_sent"] == 0  # not stale yet: the fast path's turn
        clock.shift(tasks.REDELIVERY_GRACE + timedelta(seconds=1))
        assert tasks.redeliver() == {"delivered": 0, "emails_sent": 1}
        assert tasks.redeliver() == {"delivered": 0, "emails_sent": 0}

    email.refresh_from_db()
    assert email.status == EmailStatus.SENT
    assert len(locmem_email) == 1


@pytest.mark.django_db
def test_the_sweep_retries_an_email_with_backoff_until_the_retry_window_ends(
    routed, agent, flaky_backend, settings
):
    """An email whose send task never reached the broker is retried by the sweep alone,
    backing off, while the mail server may come back; at the window's end it is marked
    failed with its reason, and left alone after."""
    settings.REDRESS_EMAIL_RETRY_HOURS = 24
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        acknowledge(routed, agent)
        deliver_pending()
        ack = email_for("complaint.acknowledged")
        clock.shift(tasks.REDELIVERY_GRACE + timedelta(seconds=1))
        waits = []
        for sweep in range(1, 4):
            assert tasks.redeliver() == {"delivered": 0, "emails_sent": 0}
            ack.refresh_from_db()
            assert (ack.status, ack.attempts) == (EmailStatus.QUEUED, sweep)
            waits.append(ack.next_attempt_at - timezone.now())
            # Not due yet: the sweep leaves it.
            tasks.redeliver()
            ack.refresh_from_db()
            assert ack.attempts == sweep
            clock.move_to(ack.next_attempt_at)
        assert waits == [timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=40)]
        # The last try is at the window's end; its failure is final.
        clock.move_to(ack.created_at + timedelta(hours=24))
        tasks.redeliver()
        ack.refresh_from_db()
        assert ack.status == EmailStatus.FAILED
        assert ack.next_attempt_at is None
        attempts = ack.attempts
        clock.shift(timedelta(hours=1))
        tasks.redeliver()

    ack.refresh_from_db()
    assert ack.attempts == attempts  # a failed email is left alone
    assert ack.failure_reason == "Mail server disconnected: Connection unexpectedly closed"
    assert flaky_backend.calls == attempts


# -- sending: headers, threading, exactly once ----------------------------------------------


def sent_headers(message) -> dict:
    parsed = message_from_bytes(message.message().as_bytes(), policy=policy.default)
    return {
        # Long headers are folded; RFC 5322 allows white space around a msg-id.
        name: str(parsed[name]).strip() if parsed[name] is not None else None
        for name in ("Message-ID", "In-Reply-To", "References", "To")
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "to"),
    [
        # One header line: the line break in a name typed into a form becomes a space.
        ("Ada\nLovelace", "Ada Lovelace <customer@example.com>"),
        # No name to show: the bare address.
        ("  ", "customer@example.com"),
    ],
)
def test_the_customers_name_goes_into_to_on_one_line_or_not_at_all(routed, locmem_email, name, to):
    routed.customer.name = name
    routed.customer.save(update_fields=["name"])
    receipt = email_for("complaint.received")
    receipt.status = "queued"
    receipt.save(update_fields=["status"])

    assert emailing.send(receipt.pk) is True

    assert sent_headers(locmem_email[-1])["To"] == to


@pytest.mark.django_db
def test_the_email_goes_to_the_bare_address_once_the_customer_has_another(routed, locmem_email):
    receipt = email_for("complaint.received")
    receipt.status = "queued"
    receipt.save(update_fields=["status"])
    routed.customer.email = "new.address@example.com"
    routed.customer.save(update_fields=["email"])

    assert emailing.send(receipt.pk) is True

    # The email was written for the old address; the name is not put on it.
    assert sent_headers(locmem_email[-1])["To"] == "customer@example.com"


@pytest.mark.django_db
def test_sending_an_email_uses_its_message_id_and_threads_on_the_previous_one(
    routed, agent, root_causes, locmem_email
):
    acknowledge(routed, agent)
    resolve(routed, agent)
    deliver_pending()
    ack = email_for("complaint.acknowledged")
    resolution = email_for("complaint.resolved")

    assert emailing.send(ack.pk) is True
    assert emailing.send(resolution.pk) is True

    assert len(locmem_email) == 2
    first, second = (sent_headers(m) for m in locmem_email)
    # The receipt (sent when the complaint arrived) started the thread.
    receipt = email_for("complaint.received")
    assert first["Message-ID"] == ack.rfc_message_id
    assert first["In-Reply-To"] == receipt.rfc_message_id
    assert first["To"] == "Customer <customer@example.com>"
    assert second["Message-ID"] == resolution.rfc_message_id
    assert second["In-Reply-To"] == ack.rfc_message_id
    # The thread from its first email on.
    assert second["References"].split() == [receipt.rfc_message_id, ack.rfc_message_id]
    assert locmem_email[1].subject == resolution.subject
    assert locmem_email[1].body == resolution.body_text
    ack.refresh_from_db()
    assert (ack.status, ack.attempts, ack.failure_reason) == (EmailStatus.SENT, 1, "")
    assert ack.sent_at is not None


@pytest.mark.django_db
def test_sending_twice_sends_one_email(routed, agent, locmem_email):
    acknowledge(routed, agent)
    deliver_pending()
    ack = email_for("complaint.acknowledged")

    assert tasks.send_email.apply(args=[ack.pk]).get() is True
    assert tasks.send_email.apply(args=[ack.pk]).get() is False
    assert len(locmem_email) == 1
    ack.refresh_from_db()
    assert ack.attempts == 1


@pytest.mark.django_db
def test_a_failing_send_stays_queued_and_counts_attempts_until_it_gets_through(
    routed, agent, flaky_backend
):
    acknowledge(routed, agent)
    deliver_pending()
    ack = email_for("complaint.acknowledged")
    flaky_backend.failures_left = 2

    # Eager apply() runs the retries in line (without their countdowns).
    assert tasks.send_email.apply(args=[ack.pk]).get() is True

    ack.refresh_from_db()
    assert ack.status == EmailStatus.SENT
    assert ack.attempts == 3  # two failures and the send that got through
    # The last failure, kept for support.
    assert ack.failure_reason == "Mail server disconnected: Connection unexpectedly closed"
    assert len(mail.outbox) == 1
    assert flaky_backend.calls == 3


@pytest.mark.django_db
def test_an_email_that_never_gets_through_is_retried_by_the_task_then_left_to_the_sweep(
    routed, agent, flaky_backend, monkeypatch
):
    acknowledge(routed, agent)
    deliver_pending()
    ack = email_for("complaint.acknowledged")
    task = tasks.send_email._get_current_object()
    countdowns: list[int] = []
    original_retry = task.retry

    def recording_retry(*args, **kwargs):
        countdowns.append(kwargs["countdown"])
        # Between attempts the email is still queued: the next retry may get it through.
        assert EmailDelivery.objects.get(pk=ack.pk).status == EmailStatus.QUEUED
        return original_retry(*args, **kwargs)

    monkeypatch.setattr(task, "retry", recording_retry)

    assert tasks.send_email.apply(args=[ack.pk]).get() is False

    # The quick tries are the task's; the next wait (320 s) is longer than it holds one.
    assert countdowns == [10, 20, 40, 80, 160]
    ack.refresh_from_db()
    assert ack.status == EmailStatus.QUEUED
    assert ack.attempts == 6
    assert ack.next_attempt_at is not None
    assert 300 < (ack.next_attempt_at - timezone.now()).total_seconds() <= 320
    assert ack.failure_reason == "Mail server disconnected: Connection unexpectedly closed"
    assert ack.sent_at is None
    assert len(mail.outbox) == 0
    assert flaky_backend.calls == 6


@pytest.mark.django_db
def test_recording_failures_keeps_the_email_queued_until_the_final_one(routed, agent):
    acknowledge(routed, agent)
    deliver_pending()
    ack = email_for("complaint.acknowledged")

    emailing.record_failure(ack.pk, "SMTPConnectError: refused", final=False)
    ack.refresh_from_db()
    assert (ack.status, ack.attempts, ack.failure_reason) == (
        EmailStatus.QUEUED,
        1,
        "SMTPConnectError: refused",
    )
    emailing.record_failure(ack.pk, "SMTPDataError: 554 rejected", final=True)
    ack.refresh_from_db()
    assert (ack.status, ack.attempts, ack.failure_reason) == (
        EmailStatus.FAILED,
        2,
        "SMTPDataError: 554 rejected",
    )
    # A late failure report for an email already settled changes nothing.
    emailing.record_failure(ack.pk, "late", final=True)
    ack.refresh_from_db()
    assert (ack.status, ack.attempts) == (EmailStatus.FAILED, 2)
