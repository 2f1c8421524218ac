"""Tests for escalation.calendars: hand-computed cases, then properties against a brute force."""

import time as clock
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation.calendars import (
    BusinessCalendar,
    add_business_days,
    add_business_seconds,
    business_seconds_between,
    close_of_business,
    end_of_nth_business_day_after,
    holidays_for,
    is_business_day,
    is_open,
    next_open,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600
OFFICE = BusinessCalendar.office_hours("Europe/London")
SPLIT_DAY = BusinessCalendar(
    tz="Europe/London",
    weekly={day: ((time(9), time(12, 30)), (time(13, 30), time(17, 30))) for day in range(5)},
)


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def utc(instant: datetime) -> datetime:
    # Same-zone datetime comparison and arithmetic use wall time and ignore ``fold``, which
    # misorders instants around a fall-back; UTC has no such ambiguity.
    return instant.astimezone(UTC)


# --- hand-computed examples -------------------------------------------------------------------


def test_friday_afternoon_rolls_over_the_weekend():
    assert add_business_seconds(london(2026, 1, 16, 16), 2 * HOUR, OFFICE) == london(
        2026, 1, 19, 10
    )
    assert business_seconds_between(london(2026, 1, 16, 16), london(2026, 1, 19, 10), OFFICE) == (
        2 * HOUR
    )


def test_split_day_skips_lunch():
    assert add_business_seconds(london(2026, 1, 14, 11, 30), 2 * HOUR, SPLIT_DAY) == london(
        2026, 1, 14, 14, 30
    )
    day = business_seconds_between(london(2026, 1, 14), london(2026, 1, 15), SPLIT_DAY)
    assert day == 7.5 * HOUR
    assert not is_open(london(2026, 1, 14, 12, 30), SPLIT_DAY)
    assert next_open(london(2026, 1, 14, 12, 45), SPLIT_DAY) == london(2026, 1, 14, 13, 30)


def test_english_bank_holidays_are_skipped():
    bank_holidays = holidays_for("GB", "ENG", [2026])
    assert {date(2026, 12, 25), date(2026, 12, 28)} <= bank_holidays
    calendar = BusinessCalendar.office_hours("Europe/London", holidays=bank_holidays)
    # Thu 24th: 1h left; Fri 25th and Mon 28th (Boxing Day observed) are closed.
    assert add_business_seconds(london(2026, 12, 24, 16), 2 * HOUR, calendar) == london(
        2026, 12, 29, 10
    )
    assert not is_business_day(date(2026, 12, 28), calendar)


def test_fca_third_business_day_close_of_business():
    calendar = BusinessCalendar.office_hours(
        "Europe/London", holidays=holidays_for("GB", "ENG", [2026, 2027])
    )
    received = london(2026, 12, 23, 15)  # Wednesday
    # Thu 24 (1), Fri 25 holiday, weekend, Mon 28 holiday, Tue 29 (2), Wed 30 (3).
    deadline = end_of_nth_business_day_after(received, 3, calendar)
    assert deadline == london(2026, 12, 30, 17)
    assert end_of_nth_business_day_after(received, 1, calendar) == london(2026, 12, 24, 17)


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        (LONDON, date(2026, 3, 29), 23),
        (LONDON, date(2026, 10, 25), 25),
        (LONDON, date(2026, 6, 1), 24),
        (NEW_YORK, date(2026, 3, 8), 23),
        (NEW_YORK, date(2026, 11, 1), 25),
    ],
)
def test_dst_days_in_24_hour_calendars(zone, day, hours):
    weekly_all_day = BusinessCalendar(
        tz=zone.key, weekly=dict.fromkeys(range(7), ((time(0), None),))
    )
    for calendar in (BusinessCalendar.twenty_four_seven(zone.key), weekly_all_day):
        start = datetime.combine(day, time(0), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        assert business_seconds_between(start, end, calendar) == hours * HOUR
        assert add_business_seconds(start, hours * HOUR, calendar) == end
        assert close_of_business(day, calendar) == end


def test_24x7_counts_elapsed_time_not_wall_time():
    calendar = BusinessCalendar.twenty_four_seven("Europe/London")
    assert add_business_seconds(london(2026, 3, 28, 12), 24 * HOUR, calendar) == london(
        2026, 3, 29, 13
    )
    assert is_open(london(2026, 12, 25, 3), calendar)


def test_intervals_ending_at_midnight():
    calendar = BusinessCalendar(
        tz="Europe/London",
        weekly=dict.fromkeys(range(7), ((time(0), time(2)), (time(20), None))),
    )
    assert add_business_seconds(london(2026, 1, 14, 23, 30), HOUR, calendar) == london(
        2026, 1, 15, 0, 30
    )
    assert add_business_seconds(london(2026, 1, 14, 23, 30), 3 * HOUR, calendar) == london(
        2026, 1, 15, 20, 30
    )
    assert add_business_seconds(london(2026, 1, 14, 20), 4 * HOUR, calendar) == london(2026, 1, 15)
    assert close_of_business(date(2026, 1, 15), calendar) == london(2026, 1, 16)


def test_start_outside_hours():
    saturday = london(2026, 1, 17, 10)
    assert not is_open(saturday, OFFICE)
    assert next_open(saturday, OFFICE) == london(2026, 1, 19, 9)
    assert add_business_seconds(saturday, HOUR, OFFICE) == london(2026, 1, 19, 10)
    assert business_seconds_between(saturday, london(2026, 1, 19, 10), OFFICE) == HOUR
    assert add_business_seconds(london(2026, 1, 14, 7), 1800, OFFICE) == london(2026, 1, 14, 9, 30)
    # Intervals are half-open: 17:00 itself is closed.
    assert not is_open(london(2026, 1, 16, 17), OFFICE)
    assert add_business_seconds(london(2026, 1, 16, 17), 1, OFFICE) == london(2026, 1, 19, 9, 0, 1)


def test_adding_zero_returns_start_itself():
    saturday = london(2026, 1, 17, 10)
    assert add_business_seconds(saturday, 0, OFFICE) is saturday
    open_now = london(2026, 1, 14, 10)
    assert next_open(open_now, OFFICE) is open_now


def test_between_is_antisymmetric_and_keeps_the_input_zone():
    a, b = london(2026, 1, 16, 16), london(2026, 1, 19, 10)
    assert business_seconds_between(b, a, OFFICE) == -2 * HOUR
    result = add_business_seconds(a.astimezone(NEW_YORK), 2 * HOUR, OFFICE)
    assert result.tzinfo is NEW_YORK
    assert result == b


def test_closures_subtract_from_office_hours_and_24x7():
    closure = (london(2026, 1, 14, 13), london(2026, 1, 14, 17))
    calendar = BusinessCalendar.office_hours("Europe/London", closures=[closure])
    assert add_business_seconds(london(2026, 1, 14, 12), 2 * HOUR, calendar) == london(
        2026, 1, 15, 10
    )
    assert not is_open(london(2026, 1, 14, 14), calendar)
    assert close_of_business(date(2026, 1, 14), calendar) == london(2026, 1, 14, 13)

    outage = (london(2026, 1, 14, 11), london(2026, 1, 14, 12))
    always = BusinessCalendar.twenty_four_seven("Europe/London", closures=[outage])
    assert add_business_seconds(london(2026, 1, 14, 10), 2 * HOUR, always) == london(
        2026, 1, 14, 13
    )


def test_wall_times_in_dst_gap_and_overlap():
    sunday_early = BusinessCalendar(tz="Europe/London", weekly={6: ((time(0, 30), time(3)),)})
    # 00:30-01:00 GMT then 02:00-03:00 BST: the skipped hour is not counted.
    spring = business_seconds_between(london(2026, 3, 29), london(2026, 3, 30), sunday_early)
    assert spring == 1.5 * HOUR
    # 01:00-02:00 happens twice on the fall-back day, so it counts twice.
    autumn = business_seconds_between(london(2026, 10, 25), london(2026, 10, 26), sunday_early)
    assert autumn == 3.5 * HOUR

    in_the_gap = BusinessCalendar(tz="Europe/London", weekly={6: ((time(1, 15), time(1, 45)),)})
    assert not is_business_day(date(2026, 3, 29), in_the_gap)
    with pytest.raises(ValueError, match="not a business day"):
        close_of_business(date(2026, 3, 29), in_the_gap)
    # Inside the repeated hour: open on both passes, so business closes at 01:45 GMT.
    assert utc(close_of_business(date(2026, 10, 25), in_the_gap)) == datetime(
        2026, 10, 25, 1, 45, tzinfo=UTC
    )


def test_add_business_days_keeps_wall_time():
    assert add_business_days(london(2026, 1, 16, 14), 1, OFFICE) == london(2026, 1, 19, 14)
    assert add_business_days(london(2026, 1, 16, 14), 0, OFFICE) == london(2026, 1, 16, 14)
    always = BusinessCalendar.twenty_four_seven("Europe/London")
    # 01:30 does not exist on 2026-03-29: maps forward to the end of the gap (02:00 BST).
    assert utc(add_business_days(london(2026, 3, 28, 1, 30), 1, always)) == datetime(
        2026, 3, 29, 1, tzinfo=UTC
    )
    # 01:30 happens twice on 2026-10-25: the first occurrence (BST) wins.
    assert utc(add_business_days(london(2026, 10, 24, 1, 30), 1, always)) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )


def test_naive_datetimes_are_rejected():
    naive = datetime(2026, 1, 14, 10)  # noqa: DTZ001 - deliberately naive
    aware = london(2026, 1, 14, 10)
    calls = [
        lambda: add_business_seconds(naive, 10, OFFICE),
        lambda: business_seconds_between(naive, aware, OFFICE),
        lambda: business_seconds_between(aware, naive, OFFICE),
        lambda: is_open(naive, OFFICE),
        lambda: next_open(naive, OFFICE),
        lambda: add_business_days(naive, 1, OFFICE),
        lambda: end_of_nth_business_day_after(naive, 3, OFFICE),
        lambda: BusinessCalendar.twenty_four_seven(closures=[(naive, naive)]),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="naive datetime"):
            call()


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        ({0: ((time(17), time(9)),)}, r"weekday 0, interval 0 \(17:00:00-09:00:00\): start must"),
        ({1: ((time(9), time(9)),)}, "start must be before end"),
        ({2: ((time(22), time(0)),)}, "use None to mean 24:00"),
        ({3: ((time(13), time(17)), (time(9), time(12)))}, "interval 1 .* sorted"),
        ({4: ((time(9), time(13)), (time(12), time(17)))}, "ends at 13:00:00; intervals must"),
        ({5: ((time(9), None), (time(10), time(11)))}, "ends at 24:00"),
        ({7: ((time(9), time(17)),)}, "weekday must be 0"),
        ({0: ((time(9, tzinfo=UTC), time(17)),)}, "naive local wall times"),
        ({0: ((time(9),),)}, r"expected a \(start, end\) pair"),
    ],
)
def test_invalid_intervals_are_rejected(weekly, message):
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(tz="Europe/London", weekly=weekly)


def test_other_invalid_input():
    with pytest.raises(ValueError, match="unknown time zone"):
        BusinessCalendar(tz="Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="start must be first"):
        BusinessCalendar(closures=((london(2026, 1, 2), london(2026, 1, 1)),))
    with pytest.raises(ValueError, match=">= 0"):
        add_business_seconds(london(2026, 1, 14), -1, OFFICE)
    with pytest.raises(ValueError, match="no opening hours"):
        add_business_seconds(london(2026, 1, 14), 1, BusinessCalendar(tz="UTC"))
    with pytest.raises(ValueError, match="at least 1"):
        end_of_nth_business_day_after(london(2026, 1, 14), 0, OFFICE)


def test_long_additions_are_fast():
    start = london(2026, 1, 5, 10)
    began = clock.perf_counter()
    for _ in range(20):
        result = add_business_seconds(start, 8 * 40 * HOUR, OFFICE)  # eight working weeks
    assert result == london(2026, 3, 2, 10)
    assert (clock.perf_counter() - began) / 20 < 0.01


# --- properties -------------------------------------------------------------------------------

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "UTC", "Asia/Kolkata"]
# Dates with DST changes in the zones above, so that starts often land in DST weeks.
TRANSITIONS = [
    date(2025, 3, 9),
    date(2025, 3, 30),
    date(2025, 4, 6),
    date(2025, 10, 5),
    date(2025, 10, 26),
    date(2025, 11, 2),
    date(2026, 3, 8),
    date(2026, 3, 29),
    date(2026, 4, 5),
    date(2026, 10, 4),
    date(2026, 10, 25),
    date(2026, 11, 1),
]
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
VIEWS = [UTC, LONDON, NEW_YORK, timezone(timedelta(hours=-3))]


def quarter_hour(index: int) -> time | None:
    return None if index == 96 else time(index // 4, 15 * (index % 4))


def hours_from_points(points: set[int]) -> tuple:
    """Pair up sorted quarter-hour marks into intervals; mark 96 is 24:00."""
    marks = sorted(points)
    return tuple(
        (quarter_hour(marks[i]), quarter_hour(marks[i + 1])) for i in range(0, len(marks) - 1, 2)
    )


# Strategies are built once: constructing them per draw dominated the run time.
DAY_HOURS = st.one_of(
    st.sets(st.integers(0, 96), max_size=6).map(hours_from_points),
    st.sampled_from(
        [(), ((time(0), None),), ((time(1, 30), time(2, 30)),), ((time(0), time(1, 30)),)]
    ),
)
STARTS = st.one_of(
    st.integers(0, 2 * 365 * 1440).map(lambda m: EPOCH + m * MINUTE),
    st.builds(
        lambda day, m: datetime.combine(day, time(0), tzinfo=UTC) + m * MINUTE,
        st.sampled_from(TRANSITIONS),
        st.integers(-4 * 1440, 2 * 1440),
    ),
)
HOLIDAY_OFFSETS = st.sets(st.integers(0, 12), max_size=3)
CLOSURE_MINUTES = st.lists(
    st.tuples(st.integers(-1440, 10 * 1440), st.integers(1, 2 * 1440)), max_size=2
)


@st.composite
def scenarios(draw):
    """A random calendar and a whole-minute UTC start near its holidays and closures."""
    start = draw(STARTS)
    weekly = {day: draw(DAY_HOURS) for day in range(7)}
    always_open = draw(st.integers(0, 9)) == 0
    if not always_open and not any(weekly.values()):
        weekly[0] = ((time(9), time(17)),)
    first = start.date() - timedelta(days=1)
    holidays = frozenset(first + timedelta(days=n) for n in draw(HOLIDAY_OFFSETS))
    closures = tuple(
        (start + offset * MINUTE, start + (offset + length) * MINUTE)
        for offset, length in draw(CLOSURE_MINUTES)
    )
    calendar = BusinessCalendar(
        tz=draw(st.sampled_from(ZONES)),
        weekly=weekly,
        holidays=holidays,
        closures=closures,
        always_open=always_open,
    )
    return calendar, start


def reference_is_open(instant: datetime, calendar: BusinessCalendar) -> bool:
    """Direct reading of the model: look the local wall time up in the weekly table."""
    if any(start <= instant < end for start, end in calendar.closures):
        return False
    if calendar.always_open:
        return True
    local = instant.astimezone(ZoneInfo(calendar.tz))
    if local.date() in calendar.holidays:
        return False
    wall = local.time()
    return any(
        start <= wall and (end is None or wall < end)
        for start, end in calendar.weekly[local.weekday()]
    )


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


@PROPERTY_SETTINGS
@given(scenarios(), st.integers(1, 14 * 86400), st.sampled_from(VIEWS))
def test_round_trip(scenario, seconds, view):
    calendar, start = scenario
    start = start.astimezone(view)  # the input zone must not matter
    end = add_business_seconds(start, seconds, calendar)
    assert utc(end) > utc(start)
    assert business_seconds_between(start, end, calendar) == seconds
    # The result is never beyond the close of the interval that used up the last second.
    assert is_open(utc(end) - timedelta(microseconds=1), calendar)


@PROPERTY_SETTINGS
@given(scenarios(), st.integers(0, 7 * 86400), st.integers(0, 7 * 86400))
def test_add_is_monotonic(scenario, s1, s2):
    calendar, start = scenario
    s1, s2 = sorted((s1, s2))
    early, late = (utc(add_business_seconds(start, s, calendar)) for s in (s1, s2))
    assert early <= late


@PROPERTY_SETTINGS
@given(scenarios(), st.integers(-3 * 1440, 10 * 1440), st.integers(0, 3 * 1440))
def test_between_is_monotonic_in_its_start(scenario, end_minutes, gap_minutes):
    calendar, a1 = scenario
    a2 = (a1 + gap_minutes * MINUTE).astimezone(LONDON)
    b = a1 + end_minutes * MINUTE
    assert business_seconds_between(a1, b, calendar) >= business_seconds_between(a2, b, calendar)
    assert business_seconds_between(b, a1, calendar) == -business_seconds_between(a1, b, calendar)


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.integers(0, 10 * 1440))
def test_between_agrees_with_minute_by_minute_reference(scenario, span_minutes):
    calendar, start = scenario
    open_minutes = sum(reference_is_open(start + k * MINUTE, calendar) for k in range(span_minutes))
    end = start + span_minutes * MINUTE
    assert business_seconds_between(start, end, calendar) == open_minutes * 60


@PROPERTY_SETTINGS
@given(scenarios(), st.integers(0, 10 * 1440))
def test_is_open_and_next_open_agree_with_reference(scenario, minutes):
    calendar, start = scenario
    instant = (start + minutes * MINUTE).astimezone(LONDON)
    assert is_open(instant, calendar) == reference_is_open(instant, calendar)
    opening = next_open(instant, calendar)
    assert is_open(opening, calendar)
    assert business_seconds_between(instant, opening, calendar) == 0
