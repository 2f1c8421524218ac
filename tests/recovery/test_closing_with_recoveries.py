"""Closing the loop while a recovery awaits approval, and recoveries decided after closing.

Personas: ``agent`` proposes (limit 50 GBP, so 80 GBP waits for a supervisor), ``supervisor``
decides and closes the loop, the customer (``customer_user``) is told by email.
"""

import threading
import time

import pytest
from django.core import mail
from django.db import connection, transaction

from common.errors import Conflict
from notifications import emailing
from notifications.models import EmailDelivery, Notification, Outbox
from recovery import roles
from recovery.models import Complaint, ComplaintEvent, RecoveryAction, RecoveryStatus, State
from recovery.services import lifecycle
from recovery.services.remedies import approval_limits_seed, recovery_decide, recovery_propose
from tests.conftest import acknowledge, api_client, close_loop, resolve
from tests.desk.conftest import signed_in
from tests.notifications.shipped_templates import ensure_default_templates
from tests.notifications.test_delivery import deliver_pending

# The rule holds in the embedded runtime too (SQLite has no row locks: the closing UPDATE's
# condition is what holds it there).
pytestmark = pytest.mark.sqlite

CLOSE_LOOP = {
    "transition": "close_loop",
    "what_we_found": "A retry in the payment gateway.",
    "what_we_did": "Refunded the charge.",
    "what_will_change": "The gateway no longer retries settled payments.",
}


@pytest.fixture
def resolved(make_complaint, agent, root_causes):
    return resolve(acknowledge(make_complaint(), agent), agent)


def awaiting(complaint, agent) -> RecoveryAction:
    action = recovery_propose(
        complaint=complaint, actor=agent, type="refund", amount="80.00", currency="GBP"
    )
    assert action.status == RecoveryStatus.AWAITING_APPROVAL
    return action


def refusal(action) -> str:
    return (
        f"Recovery #{action.pk} (refund £80.00) awaits approval; decide it before closing the loop."
    )


def test_the_api_refuses_to_close_the_loop_naming_the_recovery(resolved, agent, supervisor):
    action = awaiting(resolved, agent)

    answer = api_client(supervisor).post(
        f"/api/complaints/{resolved.reference}/transitions/", CLOSE_LOOP, format="json"
    )

    assert answer.status_code == 409, answer.content
    body = answer.json()
    assert body["message"] == refusal(action)
    assert body["details"]["recovery_id"] == action.pk
    resolved.refresh_from_db()
    assert resolved.state == State.RESOLVED
    assert not resolved.messages.filter(kind="loop_closing").exists()
    assert not resolved.events.filter(type="loop_closed").exists()


def test_the_refusal_comes_before_the_form_is_checked(resolved, agent, supervisor):
    action = awaiting(resolved, agent)
    with pytest.raises(Conflict) as refused:
        lifecycle.complaint_close_loop(
            complaint=resolved,
            actor=supervisor,
            what_we_found="",
            what_we_did="",
            what_will_change="",
        )
    assert refused.value.message == refusal(action)


def test_the_desk_shows_the_same_message(resolved, agent, supervisor):
    action = awaiting(resolved, agent)
    data = {f"close_loop-{k}": v for k, v in CLOSE_LOOP.items() if k != "transition"}

    answer = signed_in(supervisor).post(f"/desk/complaints/{resolved.reference}/close-loop/", data)

    assert answer.status_code == 409
    assert refusal(action) in answer.content.decode()
    assert Complaint.objects.get(pk=resolved.pk).state == State.RESOLVED


def test_once_decided_the_loop_closes(resolved, agent, supervisor):
    action = awaiting(resolved, agent)
    recovery_decide(action_id=action.pk, actor=supervisor, approve=False, reason="Too much.")

    closed = close_loop(Complaint.objects.get(pk=resolved.pk), supervisor)

    assert closed.state == State.LOOP_CLOSED
    # Decided before the loop closed: the loop-closing message says it all.
    assert not closed.events.filter(type="recovery_decided_after_closing").exists()


@pytest.mark.postgresql(reason="waits, through pg_locks, until the close waits for the lock")
@pytest.mark.django_db(transaction=True)
def test_a_recovery_proposed_while_the_close_waits_for_the_lock_still_refuses_it(
    migration_data, make_complaint, agent, supervisor, root_causes
):
    """The lock's read sees other tables as they were when it began; the UPDATE sees the
    proposal that committed while it waited."""
    approval_limits_seed()
    complaint = resolve(acknowledge(make_complaint(), agent), agent)
    proposal_holds_the_lock = threading.Event()
    close_is_waiting = threading.Event()
    outcome = {}

    def propose_holding_the_lock():
        try:
            with transaction.atomic():
                awaiting(complaint, agent)  # locks the complaint's row
                proposal_holds_the_lock.set()
                close_is_waiting.wait(timeout=30)
                outcome["action"] = RecoveryAction.objects.get(complaint=complaint)
        finally:
            connection.close()

    def close():
        proposal_holds_the_lock.wait(timeout=30)
        try:
            close_loop(Complaint.objects.get(pk=complaint.pk), supervisor)
            outcome["close"] = "closed"
        except Conflict as refused:
            outcome["close"] = refused.message
        finally:
            connection.close()

    threads = [threading.Thread(target=propose_holding_the_lock), threading.Thread(target=close)]
    for thread in threads:
        thread.start()
    proposal_holds_the_lock.wait(timeout=30)
    # The close is waiting once a lock request of the database is not granted.
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                break
            time.sleep(0.02)
    close_is_waiting.set()
    for thread in threads:
        thread.join()

    assert outcome["close"] == refusal(outcome["action"])
    assert Complaint.objects.get(pk=complaint.pk).state == State.RESOLVED


# -- decided after closing -----------------------------------------------------------------


@pytest.fixture
def closed_with_a_recovery_awaiting(resolved, agent, supervisor):
    """A loop closed while a recovery awaited approval, as complaints closed before closing
    waited for decisions were left."""
    ensure_default_templates()
    closed = close_loop(resolved, supervisor)
    action = RecoveryAction.objects.create(
        complaint=closed,
        type="refund",
        amount="80.00",
        currency="GBP",
        status=RecoveryStatus.AWAITING_APPROVAL,
        approver_role=roles.SUPERVISOR,
        proposed_by=agent,
    )
    deliver_pending()
    mail.outbox.clear()
    return closed, action


def told(complaint) -> tuple[Outbox, EmailDelivery]:
    (row,) = Outbox.objects.filter(
        complaint_id=complaint.pk, event_type="complaint.recovery_decided_after_closing"
    )
    (email,) = EmailDelivery.objects.filter(outbox=row)
    return row, email


def test_an_approval_after_closing_emails_the_customer_once(
    closed_with_a_recovery_awaiting, supervisor, agent
):
    complaint, action = closed_with_a_recovery_awaiting

    recovery_decide(action_id=action.pk, actor=supervisor, approve=True, reason="Fair.")
    deliver_pending()
    deliver_pending()  # delivering again tells nobody again

    row, email = told(complaint)
    assert email.kind == "recovery_decision"
    assert email.recipient == complaint.customer.email
    assert "refund £80.00" in email.body_text
    assert "It has now been approved" in email.body_text
    assert emailing.send(email.pk)
    (sent,) = mail.outbox
    assert complaint.customer.email in sent.to[0]
    event = ComplaintEvent.objects.get(pk=row.payload["timeline_event_id"])
    assert event.type == "recovery_decided_after_closing"
    assert event.parameters["status"] == "approved"
    # Staff were told by the approval itself, not twice.
    assert not Notification.objects.filter(outbox=row).exists()
    assert row.audience["customer"] == complaint.customer_id


def test_a_decline_after_closing_tells_the_customer_without_the_reason(
    closed_with_a_recovery_awaiting, supervisor
):
    complaint, action = closed_with_a_recovery_awaiting

    recovery_decide(action_id=action.pk, actor=supervisor, approve=False, reason="Policy X9.")
    deliver_pending()

    row, email = told(complaint)
    assert "We have decided not to go ahead with it" in email.body_text
    assert "refund £80.00" in email.body_text
    assert "Policy X9" not in email.body_text
    assert "reason" not in row.payload["parameters"]
    # The decline itself stays with staff.
    declined = Outbox.objects.get(
        complaint_id=complaint.pk, event_type="complaint.recovery_declined"
    )
    assert declined.audience["customer"] is None
