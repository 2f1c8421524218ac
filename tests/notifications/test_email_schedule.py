"""When a staff notification email may go out: digest boundaries and quiet hours (pure)."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from notifications.email_schedule import email_due_at

LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
OVERNIGHT = {"quiet_start": time(22, 0), "quiet_end": time(7, 0)}
NO_QUIET = {"quiet_start": None, "quiet_end": None}


def london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def due(now, *, digest="none", zone="Europe/London", **quiet) -> datetime:
    return email_due_at(now, digest=digest, time_zone=zone, **(quiet or NO_QUIET))


def test_without_digest_or_quiet_hours_the_email_is_due_at_once():
    now = london(2026, 6, 10, 14, 3, 7)
    assert due(now) == now
    assert due(now).tzinfo == UTC


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 6, 10, 14, 3, 7, tzinfo=UTC), datetime(2026, 6, 10, 15, 0, tzinfo=UTC)),
        # On the hour exactly: that hour's digest, not the next one.
        (datetime(2026, 6, 10, 15, 0, tzinfo=UTC), datetime(2026, 6, 10, 15, 0, tzinfo=UTC)),
        (datetime(2026, 6, 10, 23, 59, 59, tzinfo=UTC), datetime(2026, 6, 11, 0, 0, tzinfo=UTC)),
    ],
)
def test_an_hourly_digest_is_due_at_the_next_full_hour(now, expected):
    assert due(now, digest="hourly") == expected


def test_a_daily_digest_is_due_at_the_next_digest_time_on_the_users_clock():
    # 07:59 in London (BST): today at 08:00, which is 07:00 UTC.
    assert due(london(2026, 6, 10, 7, 59), digest="daily") == datetime(
        2026, 6, 10, 7, 0, tzinfo=UTC
    )
    # After 08:00: tomorrow's.
    assert due(london(2026, 6, 10, 8, 0, 1), digest="daily") == london(2026, 6, 11, 8, 0)
    # The user's clock, not the server's: 08:00 in Sydney is 22:00 UTC the day before.
    sydney_noon = datetime(2026, 6, 10, 12, 0, tzinfo=SYDNEY)
    assert due(sydney_noon, digest="daily", zone="Australia/Sydney") == datetime(
        2026, 6, 10, 22, 0, tzinfo=UTC
    )


def test_a_daily_digest_follows_the_clock_change():
    # The clocks go back on 25 October 2026: 08:00 is 07:00 UTC before, 08:00 UTC after.
    assert due(london(2026, 10, 24, 9, 0), digest="daily") == datetime(
        2026, 10, 25, 8, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Inside an overnight window: held to its end, the next morning...
        (london(2026, 6, 10, 23, 30), london(2026, 6, 11, 7, 0)),
        (london(2026, 6, 10, 22, 0), london(2026, 6, 11, 7, 0)),
        # ...or the same morning, after midnight.
        (london(2026, 6, 11, 0, 15), london(2026, 6, 11, 7, 0)),
        (london(2026, 6, 11, 6, 59, 59), london(2026, 6, 11, 7, 0)),
        # Outside it: at once (the end is not inside the window).
        (london(2026, 6, 11, 7, 0), london(2026, 6, 11, 7, 0)),
        (london(2026, 6, 10, 21, 59), london(2026, 6, 10, 21, 59)),
    ],
)
def test_quiet_hours_over_midnight_hold_the_email_until_they_end(now, expected):
    assert due(now, **OVERNIGHT) == expected


def test_quiet_hours_within_one_day():
    lunch = {"quiet_start": time(12, 0), "quiet_end": time(13, 30)}
    assert due(london(2026, 6, 10, 12, 45), **lunch) == london(2026, 6, 10, 13, 30)
    assert due(london(2026, 6, 10, 11, 59), **lunch) == london(2026, 6, 10, 11, 59)
    assert due(london(2026, 6, 10, 13, 30), **lunch) == london(2026, 6, 10, 13, 30)


def test_a_digest_that_falls_in_quiet_hours_waits_for_their_end():
    early = {"quiet_start": time(6, 0), "quiet_end": time(9, 15)}
    assert due(london(2026, 6, 10, 20, 0), digest="daily", **early) == london(2026, 6, 11, 9, 15)
    # An hourly digest at 23:00 UTC (midnight in London) is held by the night's window.
    assert due(london(2026, 6, 10, 23, 40), digest="hourly", **OVERNIGHT) == london(
        2026, 6, 11, 7, 0
    )


def test_quiet_hours_ending_in_the_hour_the_clocks_skip_never_end_before_they_began():
    # 29 March 2026: London goes from 01:00 GMT to 02:00 BST; 01:30 does not exist.
    window = {"quiet_start": time(23, 0), "quiet_end": time(1, 30)}
    now = london(2026, 3, 28, 23, 30)
    held = due(now, **window)
    assert held > now
    assert held <= london(2026, 3, 29, 3, 0)


def test_an_unknown_time_zone_is_read_as_utc():
    now = datetime(2026, 6, 10, 23, 0, tzinfo=UTC)
    assert due(now, zone="Mars/Olympus_Mons", **OVERNIGHT) == datetime(
        2026, 6, 11, 7, 0, tzinfo=UTC
    )


def test_a_window_that_starts_and_ends_together_holds_nothing():
    now = london(2026, 6, 10, 3, 0)
    assert due(now, quiet_start=time(3, 0), quiet_end=time(3, 0)) == now
