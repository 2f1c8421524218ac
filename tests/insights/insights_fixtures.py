"""Building blocks for the insight tests: complaints written as they are stored.

The insights read columns the lifecycle has already filled (dates, business seconds, causes,
clocks), so the fixtures write those rows directly, with the exact values each test's hand
computation starts from.
"""

import itertools
from datetime import UTC, datetime
from decimal import Decimal

from escalation.models import Clock
from recovery.models import (
    Complaint,
    ComplaintRootCause,
    Customer,
    RecoveryAction,
    RootCause,
    Survey,
)

_numbers = itertools.count(1)


def at(year, month, day, hour=12, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def customer(name: str = "") -> Customer:
    number = next(_numbers)
    return Customer.objects.create(name=name or f"Customer {number}")


def cause(code: str, name: str = "", *, parent=None, owner=None, retired_at=None) -> RootCause:
    return RootCause.objects.create(
        code=code,
        name=name or code.rsplit(".", 1)[-1].replace("-", " ").capitalize(),
        parent=parent,
        owner=owner,
        retired_at=retired_at,
    )


def complaint(
    *,
    received: datetime,
    who: Customer | None = None,
    channel: str = "web",
    primary: RootCause | None = None,
    contributing=(),
    **fields,
) -> Complaint:
    """A complaint as stored, with its primary and contributing causes if given."""
    number = next(_numbers)
    if "state" not in fields:
        fields["state"] = "resolved" if fields.get("resolved_at") else "received"
    made = Complaint.objects.create(
        reference=f"TST-INS-{number:06d}",
        customer=who or customer(),
        channel=channel,
        subject="Insight fixture",
        description="Written by the insight tests.",
        received_at=received,
        **fields,
    )
    if primary is not None:
        ComplaintRootCause.objects.create(complaint=made, root_cause=primary, is_primary=True)
    for extra in contributing:
        ComplaintRootCause.objects.create(complaint=made, root_cause=extra, is_primary=False)
    return made


def recovery(complaint_row, kind: str, amount=None, currency: str = "", status="delivered"):
    return RecoveryAction.objects.create(
        complaint=complaint_row,
        type=kind,
        amount=Decimal(amount) if amount is not None else None,
        currency=currency,
        status=status,
    )


def survey(complaint_row, *, csat=None, ces=None, nps=None, answered=True) -> Survey:
    return Survey.objects.create(
        complaint=complaint_row,
        submitted_at=complaint_row.received_at if answered else None,
        csat=csat,
        ces=ces,
        nps=nps,
    )


def clock(complaint_row, kind: str, state: str) -> Clock:
    return Clock.objects.create(
        complaint=complaint_row,
        kind=kind,
        state=state,
        basis="business",
        target_seconds=8 * 3600,
        started_at=complaint_row.received_at,
    )
