"""Business-hours arithmetic for complaint deadlines (pure Python, no Django).

Model
-----
A :class:`BusinessCalendar` says when the business is *open*:

* ``weekly`` maps a weekday (0 = Monday .. 6 = Sunday) to sorted, non-overlapping, half-open
  ``(start, end)`` intervals of local wall-clock time in ``tz``. ``end=None`` means 24:00 (the
  next midnight); an end of ``time(0)`` is rejected so that 24:00 has exactly one spelling.
* ``holidays`` are local dates that are closed all day.
* ``closures`` are ``(start, end)`` ranges of aware instants that are closed on top of everything
  else (an office move, an outage); they are stored sorted, merged and in UTC.
* ``always_open`` makes every instant open: ``weekly`` and ``holidays`` are ignored, but
  ``closures`` still subtract, because a 24x7 team can still have an outage.

Conventions
-----------
* An instant is open when its local wall time in ``tz`` lies in an interval of its local date.
  That one rule settles daylight saving: skipped wall times never happen, so 00:00-24:00 on a
  spring-forward day is 23 hours and an interval entirely inside the gap is empty; repeated wall
  times happen twice, so 00:00-24:00 on a fall-back day is 25 hours.
* When one wall time must become one instant (``add_business_days``), an ambiguous time takes its
  first occurrence (``fold=0``) and a time inside a gap maps forward to the first instant after it.
* Arithmetic runs on UTC instants with ``timedelta``, exact to the microsecond, so whole-second
  round trips are exact. Naive datetimes raise ``ValueError``. Returned instants use the tzinfo of
  the instant passed in (the calendar's zone for ``close_of_business``).
* Adding zero returns ``start`` itself, even outside hours; adding ``s > 0`` returns an instant
  inside an open interval or at its end, never in closed time beyond it.
* A zone is assumed to change its UTC offset at most once per local day (true of real rules).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Interval = tuple[time, time | None]
_Piece = tuple[datetime, datetime, date]  # open UTC range and the local date that owns it

_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
_ZERO = timedelta(0)
_TICK = timedelta(microseconds=1)
_MIDNIGHT = time(0)
_NINE = time(9)
_FIVE_PM = time(17)


@dataclass(frozen=True)
class BusinessCalendar:
    """When a team is open; see the module docstring for the conventions."""

    tz: str = "UTC"
    weekly: Mapping[int, tuple[Interval, ...]] = field(default_factory=dict, hash=False)
    holidays: frozenset[date] = frozenset()
    closures: tuple[tuple[datetime, datetime], ...] = ()
    always_open: bool = False

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.tz!r}") from exc
        weekly: dict[int, tuple[Interval, ...]] = dict.fromkeys(range(7), ())
        for day, intervals in self.weekly.items():
            if day not in weekly:
                raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {day!r}")
            weekly[day] = _validated_intervals(day, intervals)
        holidays = frozenset(self.holidays)
        if any(isinstance(day, datetime) or not isinstance(day, date) for day in holidays):
            raise ValueError("holidays must be datetime.date objects, not datetimes")
        if self.always_open:
            hours = (((_ZERO, _DAY),),) * 7
        else:
            hours = tuple(
                tuple((_since_midnight(start), _since_midnight(end)) for start, end in weekly[day])
                for day in range(7)
            )
        # Bypass the frozen guard once: normalised values make later lookups cheap and exact.
        object.__setattr__(self, "weekly", MappingProxyType(weekly))
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "closures", _merged_closures(self.closures))
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_hours", hours)
        object.__setattr__(
            self, "_week_total", sum((e - s for day in hours for s, e in day), _ZERO)
        )

    @classmethod
    def twenty_four_seven(
        cls, tz: str = "UTC", closures: Iterable[tuple[datetime, datetime]] = ()
    ) -> BusinessCalendar:
        return cls(tz=tz, always_open=True, closures=tuple(closures))

    @classmethod
    def office_hours(
        cls,
        tz: str,
        start: time = _NINE,
        end: time | None = _FIVE_PM,
        weekdays: Iterable[int] = range(5),
        holidays: Iterable[date] = (),
        closures: Iterable[tuple[datetime, datetime]] = (),
    ) -> BusinessCalendar:
        return cls(
            tz=tz,
            weekly=dict.fromkeys(weekdays, ((start, end),)),
            holidays=frozenset(holidays),
            closures=tuple(closures),
        )

    def _hours_on(self, day: date) -> tuple[tuple[timedelta, timedelta], ...]:
        if not self.always_open and day in self.holidays:
            return ()
        return self._hours[day.weekday()]


def holidays_for(country: str, subdivision: str | None, years: Iterable[int]) -> frozenset[date]:
    """Public holidays from the ``holidays`` package, e.g. ``holidays_for("GB", "ENG", [2026])``."""
    # Imported here so that only callers who want holiday data pay for loading it.
    import holidays as holiday_data

    return frozenset(holiday_data.country_holidays(country, subdiv=subdivision, years=list(years)))


def add_business_seconds(start: datetime, seconds: float, calendar: BusinessCalendar) -> datetime:
    """The instant at which ``seconds`` of open time have elapsed since ``start``."""
    _require_aware(start)
    remaining = _duration(seconds)
    if not remaining:
        return start
    _require_hours(calendar)
    origin = start.astimezone(UTC)
    day = _local_date(origin, calendar) - _DAY
    lo = _window_start(calendar, day)
    while True:
        if lo >= origin and remaining > calendar._week_total:
            week = _uniform_week(calendar, day, lo)
            if week is not None:
                remaining -= calendar._week_total
                day, lo = day + _WEEK, week
                continue
        hi = _window_start(calendar, day + _DAY)
        if hi > origin:
            for piece_start, piece_end, _ in _window_pieces(calendar, lo, hi):
                begin = max(piece_start, origin)
                if begin < piece_end:
                    if remaining <= piece_end - begin:
                        return (begin + remaining).astimezone(start.tzinfo)
                    remaining -= piece_end - begin
        day, lo = day + _DAY, hi


def business_seconds_between(a: datetime, b: datetime, calendar: BusinessCalendar) -> float:
    """Open seconds in ``[a, b)``; negative (``-between(b, a)``) when ``b < a``."""
    _require_aware(a)
    _require_aware(b)
    # Compare in UTC: same-zone comparisons ignore ``fold`` and misorder repeated wall times.
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    if b < a:
        return -business_seconds_between(b, a, calendar)
    total = _ZERO
    day = _local_date(a, calendar) - _DAY
    lo = _window_start(calendar, day)
    while lo < b:
        if lo >= a and b - lo >= _WEEK:
            week = _uniform_week(calendar, day, lo)
            if week is not None:
                total += calendar._week_total
                day, lo = day + _WEEK, week
                continue
        hi = _window_start(calendar, day + _DAY)
        if hi > a:
            for piece_start, piece_end, _ in _window_pieces(calendar, lo, hi):
                overlap = min(piece_end, b) - max(piece_start, a)
                if overlap > _ZERO:
                    total += overlap
        day, lo = day + _DAY, hi
    return total.total_seconds()


def is_open(instant: datetime, calendar: BusinessCalendar) -> bool:
    _require_aware(instant)
    if not calendar._week_total:
        return False
    moment = instant.astimezone(UTC)
    return next(_pieces_from(calendar, moment))[0] <= moment


def next_open(instant: datetime, calendar: BusinessCalendar) -> datetime:
    """``instant`` itself when open, else the start of the next open interval."""
    _require_aware(instant)
    _require_hours(calendar)
    moment = instant.astimezone(UTC)
    start = next(_pieces_from(calendar, moment))[0]
    return instant if start <= moment else start.astimezone(instant.tzinfo)


def is_business_day(day: date, calendar: BusinessCalendar) -> bool:
    """True when ``day`` has any open time once holidays and closures are applied."""
    return bool(_day_pieces(calendar, day))


def close_of_business(day: date, calendar: BusinessCalendar) -> datetime:
    """End of the last open interval of local date ``day``, in the calendar's zone."""
    pieces = _day_pieces(calendar, day)
    if not pieces:
        raise ValueError(f"{day.isoformat()} is not a business day in this calendar")
    return max(end for _, end, _ in pieces).astimezone(calendar._zone)


def end_of_nth_business_day_after(start: datetime, n: int, calendar: BusinessCalendar) -> datetime:
    """Close of business on the ``n``-th business day strictly after ``start``'s local date.

    This is the FCA DISP "close of business on the third business day after receipt" shape.
    """
    _require_aware(start)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    day = _nth_business_day_after(_local_date(start, calendar), n, calendar)
    return close_of_business(day, calendar).astimezone(start.tzinfo)


def add_business_days(start: datetime, days: int, calendar: BusinessCalendar) -> datetime:
    """The same local wall time on the ``days``-th business day after ``start``'s local date.

    The result is not moved into open hours; ``days=0`` returns ``start`` itself.
    """
    _require_aware(start)
    if days < 0:
        raise ValueError(f"days must not be negative, got {days}")
    if days == 0:
        return start
    local = start.astimezone(calendar._zone)
    day = _nth_business_day_after(local.date(), days, calendar)
    wall = datetime.combine(day, local.time())
    return _wall_to_instant(wall, calendar._zone).astimezone(start.tzinfo)


# --- internals -----------------------------------------------------------------------------


def _validated_intervals(weekday: int, intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    result: list[Interval] = []
    previous_end = _ZERO
    for index, interval in enumerate(intervals):
        where = f"weekday {weekday}, interval {index}"
        if len(interval) != 2:
            raise ValueError(f"{where}: expected a (start, end) pair, got {interval!r}")
        start, end = interval
        if not isinstance(start, time) or not (end is None or isinstance(end, time)):
            raise ValueError(f"{where}: start must be a time and end a time or None (24:00)")
        if start.tzinfo is not None or (end is not None and end.tzinfo is not None):
            raise ValueError(f"{where}: times must be naive local wall times")
        if end == _MIDNIGHT:
            raise ValueError(f"{where}: ends at 00:00; use None to mean 24:00")
        label = f"{_label(start)}-{_label(end)}"
        if end is not None and end <= start:
            raise ValueError(f"{where} ({label}): start must be before end")
        if _since_midnight(start) < previous_end:
            raise ValueError(
                f"{where} ({label}) starts before the previous interval ends at "
                f"{_label(result[-1][1])}; intervals must be sorted and non-overlapping"
            )
        previous_end = _since_midnight(end)
        result.append((start, end))
    return tuple(result)


def _label(moment: time | None) -> str:
    return "24:00" if moment is None else moment.isoformat(timespec="auto")


def _since_midnight(moment: time | None) -> timedelta:
    if moment is None:
        return _DAY
    return datetime.combine(date.min, moment) - datetime.combine(date.min, _MIDNIGHT)


def _merged_closures(
    closures: Iterable[tuple[datetime, datetime]],
) -> tuple[tuple[datetime, datetime], ...]:
    ranges = []
    for start, end in closures:
        _require_aware(start)
        _require_aware(end)
        utc_start, utc_end = start.astimezone(UTC), end.astimezone(UTC)
        if not utc_start < utc_end:
            raise ValueError(
                f"closure {start.isoformat()} - {end.isoformat()}: start must be first"
            )
        ranges.append((utc_start, utc_end))
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _require_aware(moment: datetime) -> None:
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass an aware datetime")


def _require_hours(calendar: BusinessCalendar) -> None:
    # Without this guard the forward searches below would never terminate.
    if not calendar._week_total:
        raise ValueError("calendar has no opening hours on any weekday")


def _duration(seconds: float) -> timedelta:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
    return timedelta(seconds=seconds)


def _local_date(moment: datetime, calendar: BusinessCalendar) -> date:
    return moment.astimezone(calendar._zone).date()


def _window_start(calendar: BusinessCalendar, day: date) -> datetime:
    # Windows [start(d), start(d + 1)) partition the UTC timeline; each normally holds exactly
    # local date d, but odd transitions (e.g. at midnight) may put other dates' wall times in it.
    return datetime.combine(day, _MIDNIGHT, tzinfo=calendar._zone).astimezone(UTC)


def _window_pieces(calendar: BusinessCalendar, lo: datetime, hi: datetime) -> list[_Piece]:
    """Open UTC ranges within window ``[lo, hi)``, in order."""
    zone = calendar._zone
    if hi <= lo:
        return []
    before = lo.astimezone(zone).utcoffset()
    after = (hi - _TICK).astimezone(zone).utcoffset()
    if before == after:
        segments = [(lo, hi, before)]
    else:
        change = _offset_change(lo, hi - _TICK, zone)
        segments = [(lo, change, before), (change, hi, after)]
    pieces: list[_Piece] = []
    for seg_lo, seg_hi, offset in segments:
        # Within a segment the offset is constant, so wall time = UTC + offset, exactly.
        local_day, last_day = (seg_lo + offset).date(), (seg_hi - _TICK + offset).date()
        while local_day <= last_day:
            midnight = datetime.combine(local_day, _MIDNIGHT, tzinfo=UTC) - offset
            for start, end in calendar._hours_on(local_day):
                piece_start, piece_end = max(midnight + start, seg_lo), min(midnight + end, seg_hi)
                if piece_start < piece_end:
                    pieces.append((piece_start, piece_end, local_day))
            local_day += _DAY
    return _without_closures(pieces, calendar.closures) if calendar.closures else pieces


def _without_closures(
    pieces: list[_Piece], closures: tuple[tuple[datetime, datetime], ...]
) -> list[_Piece]:
    result: list[_Piece] = []
    for start, end, day in pieces:
        index = bisect_right(closures, start, key=lambda closure: closure[1])
        cursor = start
        while index < len(closures) and closures[index][0] < end:
            if cursor < closures[index][0]:
                result.append((cursor, closures[index][0], day))
            cursor = max(cursor, closures[index][1])
            index += 1
        if cursor < end:
            result.append((cursor, end, day))
    return result


def _uniform_week(calendar: BusinessCalendar, day: date, lo: datetime) -> datetime | None:
    """End of the 7 windows from ``day`` if they hold exactly ``_week_total`` of open time.

    That is the case when no offset changes, no holiday and no closure fall inside them; it lets
    long additions jump a week per iteration instead of a day.
    """
    zone = calendar._zone
    offset = datetime.combine(day, _MIDNIGHT, tzinfo=zone).utcoffset()
    for k in range(1, 8):
        if datetime.combine(day + k * _DAY, _MIDNIGHT, tzinfo=zone).utcoffset() != offset:
            return None
    if not calendar.always_open and any(day + k * _DAY in calendar.holidays for k in range(7)):
        return None
    hi = lo + _WEEK
    closures = calendar.closures
    index = bisect_right(closures, lo, key=lambda closure: closure[1])
    if index < len(closures) and closures[index][0] < hi:
        return None
    return hi


def _pieces_from(calendar: BusinessCalendar, moment: datetime) -> Iterator[_Piece]:
    day = _local_date(moment, calendar) - _DAY
    lo = _window_start(calendar, day)
    while True:
        hi = _window_start(calendar, day + _DAY)
        if hi > moment:
            yield from (p for p in _window_pieces(calendar, lo, hi) if p[1] > moment)
        day, lo = day + _DAY, hi


def _day_pieces(calendar: BusinessCalendar, day: date) -> list[_Piece]:
    # Neighbouring windows are included because a transition at midnight can move some of
    # ``day``'s wall times into them.
    pieces: list[_Piece] = []
    lo = _window_start(calendar, day - _DAY)
    for window_day in (day - _DAY, day, day + _DAY):
        hi = _window_start(calendar, window_day + _DAY)
        pieces += [p for p in _window_pieces(calendar, lo, hi) if p[2] == day]
        lo = hi
    return pieces


def _nth_business_day_after(day: date, n: int, calendar: BusinessCalendar) -> date:
    _require_hours(calendar)
    while n:
        day += _DAY
        if _day_pieces(calendar, day):
            n -= 1
    return day


def _offset_change(lo: datetime, hi: datetime, zone: ZoneInfo) -> datetime:
    """First instant in ``(lo, hi]`` whose UTC offset differs from ``lo``'s.

    tz database transitions fall on whole seconds, so bisecting whole seconds is exact.
    """
    before = lo.astimezone(zone).utcoffset()
    low, high = math.floor(lo.timestamp()), math.ceil(hi.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _wall_to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    first = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: first occurrence if repeated
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap fold=0 reads the old offset (landing after the gap) and fold=1 the new one
    # (landing before it); the transition between them is the first instant after the gap.
    return _offset_change(wall.replace(tzinfo=zone, fold=1).astimezone(UTC), first, zone)
