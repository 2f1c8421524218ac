"""Approval limits as pure functions: every boundary, without a database."""

from decimal import Decimal

import pytest

from recovery import authority, roles

LIMITS = {
    (roles.AGENT, "GBP"): Decimal("50.00"),
    (roles.SUPERVISOR, "GBP"): Decimal("500.00"),
    (roles.AGENT, "USD"): Decimal("50.00"),
    (roles.COMPLAINTS_MANAGER, "*"): None,
}


@pytest.mark.parametrize(
    ("amount", "within"),
    [("0.00", True), ("49.99", True), ("50.00", True), ("50.01", False), ("1000", False)],
)
def test_agent_limit_boundaries(amount, within):
    limit = authority.actor_limit(LIMITS, [roles.AGENT], "GBP")
    assert authority.covers(limit, Decimal(amount)) is within


def test_no_amount_needs_no_authority():
    assert authority.covers(authority.NO_AUTHORITY, None)


def test_a_currency_without_a_row_gives_no_authority():
    # 10 EUR is not 10 GBP: the agent's GBP limit does not apply.
    assert authority.actor_limit(LIMITS, [roles.AGENT], "EUR") == Decimal("0")
    assert not authority.covers(authority.actor_limit(LIMITS, [roles.AGENT], "EUR"), Decimal("1"))


def test_the_best_of_several_roles_applies():
    both = authority.actor_limit(LIMITS, [roles.AGENT, roles.SUPERVISOR], "GBP")
    assert both == Decimal("500.00")


def test_unlimited_any_currency():
    assert authority.actor_limit(LIMITS, [roles.COMPLAINTS_MANAGER], "JPY") is None
    assert authority.covers(None, Decimal("9999999999.99"))


@pytest.mark.parametrize(
    ("amount", "currency", "role"),
    [
        ("50.00", "GBP", roles.AGENT),
        ("50.01", "GBP", roles.SUPERVISOR),
        ("500.00", "GBP", roles.SUPERVISOR),
        ("500.01", "GBP", roles.COMPLAINTS_MANAGER),
        # Supervisors have no USD row: anything above the agent's limit goes to a manager.
        ("50.01", "USD", roles.COMPLAINTS_MANAGER),
        ("1.00", "JPY", roles.COMPLAINTS_MANAGER),
    ],
)
def test_routing_to_the_lowest_role_that_can_approve(amount, currency, role):
    assert authority.approver_role(LIMITS, Decimal(amount), currency) == role


def test_nobody_covers_falls_to_the_top_of_the_ladder():
    assert authority.approver_role({}, Decimal("1"), "GBP") == roles.HEAD_OF_CX
