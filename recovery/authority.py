"""Approval limits as pure functions: who may grant how much, and who must approve the rest.

Limits come in as a mapping ``{(role, currency): amount}`` where ``None`` is unlimited and
``ANY_CURRENCY`` matches every currency; a missing entry means no authority in that currency.
No database here, so the boundaries (exactly at the limit, one cent above, another
currency) are tested directly.
"""

from decimal import Decimal

from recovery import roles
from recovery.models.remedies import ANY_CURRENCY

# Who approves what an actor may not grant: the first of these whose limit covers it.
APPROVAL_LADDER = (roles.AGENT, roles.SUPERVISOR, roles.COMPLAINTS_MANAGER, roles.HEAD_OF_CX)

NO_AUTHORITY = Decimal("0")
UNLIMITED = None

# The defaults: agent 50, supervisor 500, complaints manager and head of CX unlimited. Seeded
# for the currencies of the regulatory profiles Redress ships (GBP, USD, AUD) and EUR; other
# currencies get no frontline authority until someone adds a row in the admin.
DEFAULT_CURRENCIES = ("GBP", "USD", "AUD", "EUR")
DEFAULT_LIMITS = {
    **{(roles.AGENT, c): Decimal("50.00") for c in DEFAULT_CURRENCIES},
    **{(roles.SUPERVISOR, c): Decimal("500.00") for c in DEFAULT_CURRENCIES},
    (roles.COMPLAINTS_MANAGER, ANY_CURRENCY): UNLIMITED,
    (roles.HEAD_OF_CX, ANY_CURRENCY): UNLIMITED,
}

Limits = dict[tuple[str, str], Decimal | None]


def role_limit(limits: Limits, role: str, currency: str) -> Decimal | None:
    """The most one role may grant in ``currency``; ``None`` is unlimited."""
    if (role, ANY_CURRENCY) in limits and limits[(role, ANY_CURRENCY)] is UNLIMITED:
        return UNLIMITED
    return limits.get((role, currency), NO_AUTHORITY)


def actor_limit(limits: Limits, actor_roles, currency: str) -> Decimal | None:
    """The most someone with these roles may grant: the largest of their roles' limits."""
    best = NO_AUTHORITY
    for role in actor_roles:
        limit = role_limit(limits, role, currency)
        if limit is UNLIMITED:
            return UNLIMITED
        best = max(best, limit)
    return best


def covers(limit: Decimal | None, amount: Decimal | None) -> bool:
    """Exactly at the limit is within it; one cent above is not. No amount needs no money."""
    return amount is None or limit is UNLIMITED or amount <= limit


def approver_role(limits: Limits, amount: Decimal, currency: str) -> str:
    """The lowest role on the ladder whose limit covers the amount (the last one if none)."""
    for role in APPROVAL_LADDER:
        if covers(role_limit(limits, role, currency), amount):
            return role
    return APPROVAL_LADDER[-1]
