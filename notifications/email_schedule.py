"""When a notification email to a member of staff may go out: digest and quiet hours.

Pure (no ORM): aware datetimes in, an aware UTC datetime out.

1. The digest decides the earliest moment: ``none`` now; ``hourly`` the next full hour
   (UTC); ``daily`` the next ``DAILY_DIGEST_AT`` on the user's clock.
2. If that moment falls in the user's quiet hours, the email waits for the end of them.
   Quiet hours are wall-clock times in the user's time zone; a window whose start is after
   its end runs over midnight (22:00-07:00).
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifications.models import EmailDigest

# Daily digests arrive at the start of a working day on the user's clock.
DAILY_DIGEST_AT = time(8, 0)


def email_due_at(
    now: datetime,
    *,
    digest: str,
    quiet_start: time | None,
    quiet_end: time | None,
    time_zone: str,
) -> datetime:
    """The earliest moment at or after ``now`` the email may be sent (steps above)."""
    zone = zone_of(time_zone)
    now = now.astimezone(UTC)
    if digest == EmailDigest.HOURLY:
        due = now.replace(minute=0, second=0, microsecond=0)
        if due < now:
            due += timedelta(hours=1)
    elif digest == EmailDigest.DAILY:
        local = now.astimezone(zone)
        due = datetime.combine(local.date(), DAILY_DIGEST_AT, tzinfo=zone)
        if due < now:
            due = datetime.combine(local.date() + timedelta(days=1), DAILY_DIGEST_AT, tzinfo=zone)
    else:
        due = now
    end = quiet_hours_end(due, start=quiet_start, end=quiet_end, zone=zone)
    return (end or due).astimezone(UTC)


def quiet_hours_end(at: datetime, *, start: time | None, end: time | None, zone) -> datetime | None:
    """The end of the quiet window ``at`` falls in, or None when it is outside one."""
    if start is None or end is None or start == end:
        return None
    local = at.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= clock < end
        end_day = local.date()
    else:
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    ends = datetime.combine(end_day, end, tzinfo=zone)
    # On a day the clocks go forward the end may not exist on the wall clock, and Python's
    # arithmetic would then place it before ``at``: never send earlier than asked.
    return max(ends, at)


def zone_of(name: str):
    """The user's time zone; UTC if the stored name is unknown (the API refuses those)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC
