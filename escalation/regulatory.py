"""Regulatory complaint-handling profiles, built in and selectable per complaint.

Each profile names the jurisdiction's business days (time zone, Monday-Friday office hours,
that jurisdiction's public holidays) and the statutory deadlines it imposes. Sources of every
number are in docs/regulatory-profiles.md.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache

from escalation import calendars


@dataclass(frozen=True)
class Deadline:
    """A statutory deadline for one clock.

    ``rule`` is one of:
    - ``calendar_days``: ``amount`` x 24 hours after receipt;
    - ``calendar_hours``: ``amount`` hours after receipt;
    - ``business_days_close``: close of business on the ``amount``-th business day after the
      day of receipt (FCA: "by close of business on the third business day").
    """

    clock: str
    rule: str
    amount: int
    escalates: bool = True


@dataclass(frozen=True)
class RegulatoryProfile:
    code: str
    name: str
    jurisdiction: str
    time_zone: str
    holiday_country: str
    holiday_subdivision: str | None
    deadlines: tuple[Deadline, ...]
    # Exceptional-circumstances extension (FCA payment services): the deadline to move to
    # when a holding reply has been sent in time.
    extended_deadlines: tuple[Deadline, ...] = ()

    def calendar(self, years) -> calendars.BusinessCalendar:
        return _profile_calendar(self.code, tuple(sorted(set(years))))

    def due_at(self, deadline: Deadline, received_at: datetime) -> datetime:
        # Elapsed time is added in UTC: Python adds a timedelta to a local aware datetime on
        # the wall clock, which would make "24 hours" 23 or 25 across a DST change.
        if deadline.rule == "calendar_days":
            return received_at.astimezone(UTC) + timedelta(days=deadline.amount)
        if deadline.rule == "calendar_hours":
            return received_at.astimezone(UTC) + timedelta(hours=deadline.amount)
        if deadline.rule == "business_days_close":
            years = range(received_at.year, received_at.year + 2)
            return calendars.end_of_nth_business_day_after(
                received_at, deadline.amount, self.calendar(years)
            )
        raise ValueError(f"unknown deadline rule {deadline.rule!r}")


PROFILES = {
    profile.code: profile
    for profile in (
        RegulatoryProfile(
            code="uk_fca_disp",
            name="UK FCA DISP",
            jurisdiction="GB",
            time_zone="Europe/London",
            holiday_country="GB",
            holiday_subdivision="ENG",
            deadlines=(
                # DISP 1.5: a complaint resolved by close of business on the third business
                # day after receipt may be closed with a summary resolution communication.
                Deadline("summary_resolution", "business_days_close", 3, escalates=False),
                # DISP 1.6.2R: final response within eight weeks of receipt.
                Deadline("resolve", "calendar_days", 56),
            ),
        ),
        RegulatoryProfile(
            code="uk_fca_psd",
            name="UK FCA payment services (DISP 1.6.2A)",
            jurisdiction="GB",
            time_zone="Europe/London",
            holiday_country="GB",
            holiday_subdivision="ENG",
            deadlines=(Deadline("resolve", "business_days_close", 15),),
            extended_deadlines=(Deadline("resolve", "business_days_close", 35),),
        ),
        RegulatoryProfile(
            code="us_cfpb",
            name="US CFPB",
            jurisdiction="US",
            time_zone="America/New_York",
            holiday_country="US",
            holiday_subdivision=None,
            deadlines=(
                # Companies respond to CFPB-sent complaints within 15 calendar days ...
                Deadline("initial_response", "calendar_days", 15),
                # ... and close them within 60 days when the first answer was "in progress".
                Deadline("resolve", "calendar_days", 60),
            ),
        ),
        RegulatoryProfile(
            code="au_asic_rg271",
            name="Australia ASIC RG 271",
            jurisdiction="AU",
            time_zone="Australia/Sydney",
            holiday_country="AU",
            holiday_subdivision="NSW",
            deadlines=(
                # RG 271.53: acknowledge within 24 hours (or one business day).
                Deadline("acknowledge", "calendar_hours", 24),
                # RG 271.57: IDR response within 30 calendar days.
                Deadline("resolve", "calendar_days", 30),
            ),
        ),
    )
}

PROFILE_CHOICES = [(code, profile.name) for code, profile in PROFILES.items()]

OFFICE_OPEN = time(9)
OFFICE_CLOSE = time(17)


@lru_cache(maxsize=64)
def _profile_calendar(code: str, years: tuple[int, ...]) -> calendars.BusinessCalendar:
    profile = PROFILES[code]
    return calendars.BusinessCalendar.office_hours(
        profile.time_zone,
        start=OFFICE_OPEN,
        end=OFFICE_CLOSE,
        holidays=calendars.holidays_for(
            profile.holiday_country, profile.holiday_subdivision, years
        ),
    )


def get_profile(code: str) -> RegulatoryProfile | None:
    return PROFILES.get(code) if code else None
