"""Deadline arithmetic for one clock: pure functions over a calendar and a time basis."""

from datetime import UTC, datetime, timedelta

from escalation import calendars


def add(start: datetime, seconds: float, *, basis: str, calendar) -> datetime:
    if basis == "calendar":
        # In UTC: a timedelta added to a local aware datetime moves the wall clock, which is
        # an hour off in elapsed time across a DST change.
        return start.astimezone(UTC) + timedelta(seconds=seconds)
    return calendars.add_business_seconds(start, seconds, calendar)


def between(a: datetime, b: datetime, *, basis: str, calendar) -> float:
    if basis == "calendar":
        # Two datetimes with the same tzinfo subtract as wall times; UTC makes it elapsed time.
        return (b.astimezone(UTC) - a.astimezone(UTC)).total_seconds()
    return calendars.business_seconds_between(a, b, calendar)


def warning_offset(seconds: float, *, percent: int | None, before: int | None) -> float | None:
    """Seconds after the start at which to warn: the earlier of the two thresholds."""
    offsets = []
    if percent is not None and 0 < percent < 100:
        offsets.append(seconds * percent / 100)
    if before is not None and 0 < before < seconds:
        offsets.append(seconds - before)
    return min(offsets) if offsets else None


def years_around(*instants: datetime) -> tuple[int, ...]:
    """The years whose holidays a calendar needs to count between ``instants``: one before
    and two after, so a deadline that runs into the next year finds its holidays."""
    low = min(i.year for i in instants)
    high = max(i.year for i in instants)
    return tuple(range(low - 1, high + 3))
