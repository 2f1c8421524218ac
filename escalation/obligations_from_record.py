"""A complaint's statutory obligations worked out from its own record (pure, no ORM).

Used where obligations are planned after the fact rather than as the complaint moves: the
data migration that gave existing complaints their obligations, and a change of profile,
jurisdiction or "sent to company" time after receipt. Each obligation counts from the
original start (receipt, or when a regulator sent the complaint on), and one whose step
already happened is met or breached by when it happened.
"""

from dataclasses import dataclass
from datetime import datetime

from escalation import deadlines, regulatory

# The complaint timestamps that end each kind of statutory clock, first one present wins
# (a resolution also answers an unacknowledged complaint).
STOPPED_BY = {
    "acknowledge": ("acknowledged_at", "resolved_at"),
    "initial_response": ("acknowledged_at", "resolved_at"),
    "summary_resolution": ("resolved_at",),
    "resolve": ("resolved_at",),
}
# Statutory clocks warn when this share of their time has gone (as at their start).
WARN_AT_PERCENT = 80


@dataclass(frozen=True)
class Obligation:
    kind: str
    fields: dict


@dataclass(frozen=True)
class Counted:
    """An obligation's deadline from its start, and its length in its own basis."""

    due_at: datetime
    basis: str
    calendar: object
    seconds: float


def obligation_start(complaint, deadline: regulatory.Deadline, at: datetime | None = None):
    """Where an obligation counts from: receipt (or ``at``, a restart), or when a regulator
    sent the complaint on, for regimes that count from then."""
    if deadline.starts == "sent_to_company" and complaint.sent_to_company_at is not None:
        return complaint.sent_to_company_at
    return at or complaint.received_at


def count(profile, deadline: regulatory.Deadline, start: datetime, region: str) -> Counted:
    due = profile.due_at(deadline, start, region)
    basis = "business" if deadline.rule.startswith("business") else "calendar"
    calendar = profile.calendar(deadlines.years_around(start, due), region)
    seconds = max(deadlines.between(start, due, basis=basis, calendar=calendar), 0)
    return Counted(due, basis, calendar, seconds)


def plan_from_record(
    complaint, now: datetime, *, restarted: dict | None = None, extended=frozenset()
) -> list[Obligation]:
    """The obligations of ``complaint``'s profile in its region, decided by its timestamps.

    ``restarted`` maps a kind to the start of its current cycle where that is later than
    receipt (a reopened complaint's resolve, the last update to the customer); ``extended``
    names the kinds whose deadline has moved to its extended form (a holding reply in time).
    """
    profile = regulatory.get_profile(complaint.regulatory_profile)
    if profile is None:
        return []
    region = profile.region(complaint.jurisdiction).code
    restarted = restarted or {}
    longer = {d.clock: d for d in profile.extended_deadlines if d.clock in extended}
    planned = []
    for usual in profile.deadlines:
        deadline = longer.get(usual.clock, usual)
        start = obligation_start(complaint, deadline)
        if deadline.starts == "received" and deadline.clock in restarted:
            start = restarted[deadline.clock]
        counted = count(profile, deadline, start, region)
        due, basis, seconds = counted.due_at, counted.basis, counted.seconds
        fields = {
            "regulatory_profile": profile.code,
            "rule": deadline.citation,
            "jurisdiction": region,
            "policy": None,
            "calendar": None,
            "basis": basis,
            "target_seconds": round(seconds),
            "pausable": False,
            "escalates": deadline.escalates,
            "started_at": start,
            "due_at": due,
            "warn_at": deadlines.add(
                start, seconds * WARN_AT_PERCENT / 100, basis=basis, calendar=counted.calendar
            ),
            "warned_at": None,
            "paused_at": None,
            "seconds_left_when_paused": None,
            "seconds_to_warn_when_paused": None,
            "escalation_level": 0,
            "next_escalation_at": None,
            **_decided(complaint, deadline.clock, due, now),
        }
        planned.append(Obligation(deadline.clock, fields))
    return planned


def _decided(complaint, kind: str, due: datetime, now: datetime) -> dict:
    if complaint.state == "withdrawn":
        return {
            "state": "cancelled",
            "stopped_at": complaint.withdrawn_at or now,
            "breached_at": None,
        }
    stopped = next(
        (getattr(complaint, name) for name in STOPPED_BY.get(kind, ()) if getattr(complaint, name)),
        None,
    )
    if stopped is None:
        return {"state": "running", "stopped_at": None, "breached_at": None}
    late = stopped > due
    return {
        "state": "breached" if late else "met",
        "stopped_at": stopped,
        "breached_at": due if late else None,
    }
