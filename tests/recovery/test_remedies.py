"""Recovery actions: authority at every limit boundary, routing, decisions, delivery, guide.

Personas: ``agent`` (limit 50 per currency of the defaults), ``supervisor`` (500),
``manager`` (unlimited) — the defaults seeded by migration 0005.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from common.errors import Conflict, PermissionDenied, TransitionNotAllowed, ValidationFailed
from notifications.models import Outbox
from recovery import roles
from recovery.models import RecoveryAction, RecoveryGuideline, RecoveryStatus
from recovery.selectors import approvals_queue, recovery_totals
from recovery.services.remedies import (
    approval_limits_seed,
    recovery_decide,
    recovery_deliver,
    recovery_propose,
)
from tests.conftest import _staff, acknowledge, resolve


@pytest.fixture
def complaint(make_complaint, agent):
    return acknowledge(make_complaint(), agent)


def propose(complaint, actor, amount, currency="GBP", type="refund", **extra):
    return recovery_propose(
        complaint=complaint, actor=actor, type=type, amount=amount, currency=currency, **extra
    )


def outbox_of(action, event):
    return Outbox.objects.filter(
        complaint_id=action.complaint_id, event_type=f"complaint.{event}"
    ).order_by("-id")[0]


@pytest.mark.parametrize(
    ("amount", "status", "approver_role"),
    [
        ("50.00", RecoveryStatus.PROPOSED, ""),
        ("50.01", RecoveryStatus.AWAITING_APPROVAL, roles.SUPERVISOR),
        ("500.00", RecoveryStatus.AWAITING_APPROVAL, roles.SUPERVISOR),
        ("500.01", RecoveryStatus.AWAITING_APPROVAL, roles.COMPLAINTS_MANAGER),
    ],
)
def test_agent_limit_boundaries(complaint, agent, supervisor, amount, status, approver_role):
    action = propose(complaint, agent, amount)
    assert action.status == status
    assert action.approver_role == approver_role
    assert action.amount == Decimal(amount)


def test_supervisor_limit_boundaries(complaint, supervisor, manager):
    at_limit = propose(complaint, supervisor, "500.00")
    above = propose(complaint, supervisor, "500.01")
    assert at_limit.status == RecoveryStatus.PROPOSED
    assert above.status == RecoveryStatus.AWAITING_APPROVAL
    assert above.approver_role == roles.COMPLAINTS_MANAGER


def test_above_the_limit_tells_the_approvers_not_the_customer(complaint, agent, supervisor):
    action = propose(complaint, agent, "75.00")
    row = outbox_of(action, "recovery_approval_requested")
    assert supervisor.pk in row.audience["users"]
    assert row.audience["customer"] is None
    assert row.payload["parameters"]["amount"] == "75.00"


def test_within_the_limit_the_customer_hears_of_the_offer(complaint, agent):
    action = propose(complaint, agent, "20.00")
    row = outbox_of(action, "recovery_proposed")
    assert row.audience["customer"] == complaint.customer_id


def test_currency_mismatch_is_not_compared_as_numbers(complaint, agent, supervisor, manager):
    # The defaults give agents and supervisors no JPY authority: 10 JPY is not "under 50".
    action = propose(complaint, agent, "10", currency="JPY")
    assert action.status == RecoveryStatus.AWAITING_APPROVAL
    assert action.approver_role == roles.COMPLAINTS_MANAGER
    with pytest.raises(PermissionDenied, match="above your limit"):
        recovery_decide(action_id=action.pk, actor=supervisor, approve=True, reason="fine")
    decided = recovery_decide(action_id=action.pk, actor=manager, approve=True, reason="fine")
    assert decided.status == RecoveryStatus.APPROVED


def test_approver_lacking_authority_is_refused(complaint, agent, supervisor, manager):
    action = propose(complaint, agent, "600.00")
    with pytest.raises(PermissionDenied, match="complaints_managers"):
        recovery_decide(action_id=action.pk, actor=supervisor, approve=True, reason="ok")
    with pytest.raises(PermissionDenied):
        recovery_decide(action_id=action.pk, actor=agent, approve=True, reason="ok")
    assert RecoveryAction.objects.get(pk=action.pk).status == RecoveryStatus.AWAITING_APPROVAL
    assert recovery_decide(action_id=action.pk, actor=manager, approve=False, reason="too much")


def test_the_proposer_cannot_approve_their_own(complaint, supervisor, manager, groups):
    action = propose(complaint, supervisor, "600.00")
    assert action.approver_role == roles.COMPLAINTS_MANAGER
    # Promoted while it waits: authority enough now, but a second pair of eyes is the point.
    supervisor.groups.add(groups[roles.COMPLAINTS_MANAGER])
    del supervisor._redress_groups
    with pytest.raises(PermissionDenied, match="four eyes"):
        recovery_decide(action_id=action.pk, actor=supervisor, approve=True, reason="mine")
    assert recovery_decide(action_id=action.pk, actor=manager, approve=True, reason="ok")


def test_decision_needs_a_reason(complaint, agent, supervisor):
    action = propose(complaint, agent, "60")
    with pytest.raises(ValidationFailed) as refused:
        recovery_decide(action_id=action.pk, actor=supervisor, approve=True, reason="  ")
    assert "reason" in refused.value.details


def test_second_decision_is_a_conflict(complaint, agent, supervisor, manager):
    action = propose(complaint, agent, "60")
    recovery_decide(action_id=action.pk, actor=supervisor, approve=True, reason="fair")
    with pytest.raises(Conflict, match="already approved"):
        recovery_decide(action_id=action.pk, actor=manager, approve=False, reason="no")


@pytest.mark.django_db(transaction=True)
def test_concurrent_approve_and_decline_exactly_one_wins(
    make_complaint, agent, supervisor, groups, team
):
    # A transactional test starts from flushed tables: the migration's limits are gone.
    approval_limits_seed()
    complaint = acknowledge(make_complaint(), agent)
    second_supervisor = _staff("supervisor_two", groups[roles.SUPERVISOR], team)
    action = propose(complaint, agent, "120.00")
    barrier = threading.Barrier(2)
    outcomes = {}

    def decide(actor, approve):
        barrier.wait()
        try:
            recovery_decide(action_id=action.pk, actor=actor, approve=approve, reason="race")
            outcomes[approve] = "won"
        except Conflict:
            outcomes[approve] = "conflict"
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(supervisor, True)),
        threading.Thread(target=decide, args=(second_supervisor, False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["conflict", "won"]
    winner = outcomes[True] == "won"
    assert RecoveryAction.objects.get(pk=action.pk).status == (
        RecoveryStatus.APPROVED if winner else RecoveryStatus.DECLINED
    )
    decided_events = complaint.events.filter(
        type__in=["recovery_approved", "recovery_declined"]
    ).count()
    assert decided_events == 1


def test_delivery_only_of_offered_or_approved(complaint, agent, supervisor):
    offered = propose(complaint, agent, "10")
    assert recovery_deliver(action_id=offered.pk, actor=agent).status == "delivered"
    waiting = propose(complaint, agent, "90")
    with pytest.raises(TransitionNotAllowed, match="awaiting_approval"):
        recovery_deliver(action_id=waiting.pk, actor=agent)
    recovery_decide(action_id=waiting.pk, actor=supervisor, approve=False, reason="no")
    with pytest.raises(TransitionNotAllowed, match="declined"):
        recovery_deliver(action_id=waiting.pk, actor=agent)


@pytest.mark.parametrize(
    ("type", "amount", "currency", "field"),
    [
        ("refund", None, "", "amount"),
        ("apology", "5.00", "GBP", "amount"),
        ("refund", "12.345", "GBP", "amount"),
        ("refund", "-1", "GBP", "amount"),
        ("refund", "NaN", "GBP", "amount"),
        ("refund", "ten", "GBP", "amount"),
        ("refund", "10", "", "currency"),
        ("refund", "10", "pounds", "currency"),
        ("teleport", None, "", "type"),
    ],
)
def test_bad_remedies_are_refused_with_the_field(complaint, agent, type, amount, currency, field):
    with pytest.raises(ValidationFailed) as refused:
        propose(complaint, agent, amount, currency=currency, type=type)
    assert field in refused.value.details
    assert not RecoveryAction.objects.exists()


def test_an_outsider_team_agent_cannot_offer(complaint, other_agent):
    with pytest.raises(PermissionDenied):
        propose(complaint, other_agent, "10")


def test_not_on_a_withdrawn_complaint(make_complaint, agent, customer_user):
    from recovery.services.lifecycle import complaint_withdraw

    complaint = complaint_withdraw(complaint=make_complaint(), actor=customer_user, reason="sorted")
    with pytest.raises(TransitionNotAllowed):
        propose(complaint, agent, "10")


def test_the_guide_suggests_and_a_deviation_needs_a_reason(complaint, agent, root_causes):
    resolve(complaint, agent, causes=["billing.duplicate-charge"])
    complaint.refresh_from_db()
    # The guideline sits on the parent cause; the complaint's cause inherits it.
    RecoveryGuideline.objects.create(
        root_cause=root_causes["billing"], type="refund", amount=Decimal("20.00"), currency="GBP"
    )
    same = propose(complaint, agent, "20.00")
    assert same.suggested["amount"] == "20.00" and same.deviation_reason == ""
    with pytest.raises(ValidationFailed) as refused:
        propose(complaint, agent, None, currency="", type="apology")
    assert "refund of 20.00 GBP" in refused.value.message
    apology = propose(complaint, agent, None, currency="", type="apology", deviation_reason="asked")
    assert apology.deviation_reason == "asked"


def test_totals_per_complaint_customer_and_root_cause(
    make_complaint, agent, supervisor, root_causes
):
    first = acknowledge(make_complaint(), agent)
    second = acknowledge(make_complaint(), agent)
    propose(first, agent, "10.00")
    propose(first, agent, "5.50", type="goodwill")
    declined = propose(first, agent, "70.00")
    recovery_decide(action_id=declined.pk, actor=supervisor, approve=False, reason="no")
    propose(second, agent, "30.00", currency="USD")
    resolve(first, agent, causes=["billing.duplicate-charge"])

    by_complaint = recovery_totals(complaint=first)
    assert [(r["currency"], r["type"], r["total"]) for r in by_complaint] == [
        ("GBP", "goodwill", Decimal("5.50")),
        ("GBP", "refund", Decimal("10.00")),
    ]
    by_customer = {
        (r["currency"], r["type"]): r["total"] for r in recovery_totals(customer=first.customer)
    }
    assert by_customer == {
        ("GBP", "goodwill"): Decimal("5.50"),
        ("GBP", "refund"): Decimal("10.00"),
        ("USD", "refund"): Decimal("30.00"),
    }
    by_cause = recovery_totals(root_cause=root_causes["billing"])
    assert sum(r["total"] for r in by_cause) == Decimal("15.50")
    assert recovery_totals(root_cause=root_causes["billing.refund-delay"]) == []


def test_approvals_queue_shows_what_the_user_can_decide(complaint, agent, supervisor, manager):
    small = propose(complaint, agent, "60")
    large = propose(complaint, agent, "900")
    assert list(approvals_queue(supervisor)) == [small]
    assert list(approvals_queue(manager)) == [small, large]
    assert list(approvals_queue(agent)) == []
