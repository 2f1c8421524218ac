"""ASIC RG 271 beyond standard complaints: credit default and hardship notices (21 days) and
superannuation trustees (45 days), with the acknowledgement every RG 271 profile shares.

Every expected instant is worked out by hand and written as a literal, with the count in a
comment (the conventions are those of tests/escalation/test_regulatory.py):
- the maximum IDR timeframe ends with the local date N days after the local date of receipt;
- the acknowledgement is due 24 hours after receipt or at 17:00 on the next business day,
  whichever is later.

Dates that matter (New South Wales unless said; checked against the `holidays` package):
- Sydney: AEDT ends Sun 5 Apr 2026 and Sun 4 Apr 2027 (UTC+11 -> +10); AEDT starts Sun 4 Oct
  2026 and Sun 3 Oct 2027 (+10 -> +11). Perth keeps UTC+8 all year.
- Holidays: Good Friday 3 Apr and Easter Monday 6 Apr 2026; Labour Day Mon 5 Oct 2026 and
  Mon 4 Oct 2027; Christmas Fri 25 Dec 2026, Boxing Day Sat 26 observed Mon 28 Dec; New
  Year's Day Fri 1 Jan 2027; Christmas Sat 25 Dec 2027 observed Mon 27, Boxing Day Sun 26
  observed Tue 28; New Year's Day Sat 1 Jan 2028 observed Mon 3 Jan. 2028 is a leap year.
"""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from escalation import regulatory

SYDNEY = ZoneInfo("Australia/Sydney")
PERTH = ZoneInfo("Australia/Perth")
LAST = 999999  # the last microsecond of a day

CREDIT = regulatory.PROFILES["au_asic_rg271_credit"]
SUPER = regulatory.PROFILES["au_asic_rg271_super"]


def deadline(profile, clock: str) -> regulatory.Deadline:
    return next(d for d in profile.deadlines if d.clock == clock)


def end_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, LAST, tzinfo=zone)


CASES = [
    # -- credit: default notices and hardship, 21 calendar days.
    pytest.param(
        CREDIT,
        "resolve",
        "",
        datetime(2026, 3, 16, 10, tzinfo=SYDNEY),  # Mon, AEDT
        # 16 Mar + 15 = 31 Mar, + 6 = Mon 6 Apr (21): Easter Monday, on AEST by then.
        datetime(2026, 4, 6, 13, 59, 59, LAST, tzinfo=UTC),
        id="credit-21-days-over-aedt-end-to-easter-monday",
    ),
    pytest.param(
        CREDIT,
        "resolve",
        "",
        datetime(2026, 9, 24, 23, 59, tzinfo=SYDNEY),  # Thu 23:59, AEST
        # 24 Sep + 6 = 30 Sep, + 15 = Thu 15 Oct (21), on AEDT.
        datetime(2026, 10, 15, 12, 59, 59, LAST, tzinfo=UTC),
        id="credit-21-days-at-23-59-over-aedt-start",
    ),
    pytest.param(
        CREDIT,
        "resolve",
        "AU-NSW",
        datetime(2026, 12, 25, 9, tzinfo=SYDNEY),  # Christmas Day
        # 25 Dec + 6 = 31 Dec, + 15 = Fri 15 Jan 2027 (21); holidays move no calendar day.
        end_of(date(2027, 1, 15), SYDNEY),
        id="credit-21-days-received-on-christmas-day-2026",
    ),
    pytest.param(
        CREDIT,
        "resolve",
        "",
        datetime(2027, 12, 23, 18, tzinfo=SYDNEY),  # Thu, after hours
        # 23 Dec + 8 = 31 Dec, + 13 = Thu 13 Jan 2028 (21).
        end_of(date(2028, 1, 13), SYDNEY),
        id="credit-21-days-over-new-year-2028",
    ),
    pytest.param(
        CREDIT,
        "resolve",
        "",
        datetime(2028, 2, 15, 12, tzinfo=SYDNEY),
        # 15 Feb + 14 = 29 Feb (a leap day), + 7 = Tue 7 Mar 2028 (21).
        end_of(date(2028, 3, 7), SYDNEY),
        id="credit-21-days-over-a-leap-day",
    ),
    pytest.param(
        CREDIT,
        "resolve",
        "AU-WA",
        datetime(2026, 3, 31, 23, 59, tzinfo=PERTH),  # already 1 Apr in Sydney
        # Perth's date counts: 31 Mar + 21 = Tue 21 Apr 2026, 23:59:59 AWST (UTC+8).
        datetime(2026, 4, 21, 15, 59, 59, LAST, tzinfo=UTC),
        id="credit-21-days-on-perth-dates",
    ),
    pytest.param(
        CREDIT,
        "acknowledge",
        "",
        datetime(2026, 12, 31, 23, 59, tzinfo=SYDNEY),  # Thu
        # 24 h: Fri 1 Jan 23:59, a holiday; the next business day after Thu 31 Dec is Mon
        # 4 Jan 2027 (Fri 1 Jan holiday, then the weekend): its close is later.
        datetime(2027, 1, 4, 17, tzinfo=SYDNEY),
        id="credit-ack-new-years-eve-at-23-59",
    ),
    pytest.param(
        CREDIT,
        "acknowledge",
        "",
        datetime(2027, 4, 2, 17, 30, tzinfo=SYDNEY),  # Fri after hours, AEDT
        # 24 h: Sat 3 Apr 17:30; AEDT ends Sun 4 Apr; Mon 5 Apr 2027 is a business day
        # (Easter Monday was 29 Mar): 17:00 AEST.
        datetime(2027, 4, 5, 7, tzinfo=UTC),
        id="credit-ack-over-aedt-end-2027",
    ),
    # -- superannuation trustees: 45 calendar days.
    pytest.param(
        SUPER,
        "resolve",
        "",
        datetime(2026, 8, 22, 14, tzinfo=SYDNEY),  # Sat, AEST
        # 22 Aug + 9 = 31 Aug, + 30 = 30 Sep (39), + 6 = Tue 6 Oct 2026 (45), AEDT.
        datetime(2026, 10, 6, 12, 59, 59, LAST, tzinfo=UTC),
        id="super-45-days-over-aedt-start",
    ),
    pytest.param(
        SUPER,
        "resolve",
        "",
        datetime(2026, 2, 19, 23, 59, tzinfo=SYDNEY),  # Thu 23:59, AEDT
        # 19 Feb + 9 = 28 Feb, + 31 = 31 Mar (40), + 5 = Sun 5 Apr 2026 (45): the day AEDT
        # ends, so its end is 23:59:59 AEST (UTC+10).
        datetime(2026, 4, 5, 13, 59, 59, LAST, tzinfo=UTC),
        id="super-45-days-ends-the-day-aedt-ends",
    ),
    pytest.param(
        SUPER,
        "resolve",
        "",
        datetime(2026, 12, 24, 20, tzinfo=SYDNEY),  # Christmas Eve, after hours
        # 24 Dec + 7 = 31 Dec, + 31 = 31 Jan (38), + 7 = Sun 7 Feb 2027 (45).
        end_of(date(2027, 2, 7), SYDNEY),
        id="super-45-days-over-new-year-2027",
    ),
    pytest.param(
        SUPER,
        "resolve",
        "",
        datetime(2027, 12, 27, 11, tzinfo=SYDNEY),  # Christmas Day observed
        # 27 Dec + 4 = 31 Dec, + 31 = 31 Jan (35), + 10 = Thu 10 Feb 2028 (45).
        end_of(date(2028, 2, 10), SYDNEY),
        id="super-45-days-from-a-holiday-over-new-year-2028",
    ),
    pytest.param(
        SUPER,
        "resolve",
        "",
        datetime(2028, 1, 15, 9, tzinfo=SYDNEY),
        # 15 Jan + 16 = 31 Jan, + 29 = Tue 29 Feb 2028 (45): ends on the leap day.
        end_of(date(2028, 2, 29), SYDNEY),
        id="super-45-days-ends-on-a-leap-day",
    ),
    pytest.param(
        SUPER,
        "resolve",
        "",
        datetime(2028, 1, 16, 9, tzinfo=SYDNEY),
        # 16 Jan + 15 = 31 Jan, + 29 = 29 Feb (44), + 1 = Wed 1 Mar 2028 (45).
        end_of(date(2028, 3, 1), SYDNEY),
        id="super-45-days-over-a-leap-day",
    ),
    pytest.param(
        SUPER,
        "resolve",
        "AU-WA",
        datetime(2027, 10, 1, 23, 59, tzinfo=PERTH),
        # 1 Oct + 30 = 31 Oct, + 15 = Mon 15 Nov 2027 (45), 23:59:59 AWST.
        datetime(2027, 11, 15, 15, 59, 59, LAST, tzinfo=UTC),
        id="super-45-days-on-perth-dates",
    ),
    pytest.param(
        SUPER,
        "acknowledge",
        "",
        datetime(2027, 10, 1, 18, tzinfo=SYDNEY),  # Fri after hours, AEST
        # 24 h: Sat 2 Oct 18:00; AEDT starts Sun 3 Oct; Mon 4 Oct is Labour Day: Tue 5 Oct
        # 17:00 AEDT.
        datetime(2027, 10, 5, 6, tzinfo=UTC),
        id="super-ack-over-aedt-start-and-labour-day-2027",
    ),
    pytest.param(
        SUPER,
        "acknowledge",
        "",
        datetime(2027, 12, 24, 16, tzinfo=SYDNEY),  # Fri afternoon
        # 24 h: Sat 25 Dec 16:00; Mon 27 and Tue 28 are Christmas and Boxing Day observed:
        # Wed 29 Dec 17:00.
        datetime(2027, 12, 29, 17, tzinfo=SYDNEY),
        id="super-ack-christmas-2027",
    ),
    pytest.param(
        SUPER,
        "acknowledge",
        "",
        datetime(2028, 2, 28, 20, tzinfo=SYDNEY),  # Mon evening
        # 24 h: Tue 29 Feb 20:00, later than that day's 17:00 close.
        datetime(2028, 2, 29, 20, tzinfo=SYDNEY),
        id="super-ack-24-hours-onto-a-leap-day",
    ),
]


@pytest.mark.parametrize(("profile", "clock", "region", "received", "expected"), CASES)
def test_statutory_deadline(profile, clock, region, received, expected):
    assert profile.due_at(deadline(profile, clock), received, region) == expected


def test_every_rg_271_profile_cites_its_timeframe_and_has_the_delay_notification():
    by_code = {
        code: (deadline(profile, "resolve").amount, deadline(profile, "resolve").citation)
        for code, profile in regulatory.PROFILES.items()
        if code.startswith("au_asic_rg271")
    }
    assert by_code == {
        "au_asic_rg271": (30, "RG 271.56"),
        "au_asic_rg271_credit": (21, "RG 271 Table 2 (credit)"),
        "au_asic_rg271_super": (45, "RG 271 Table 2 (trustees)"),
    }
    for code in by_code:
        profile = regulatory.PROFILES[code]
        assert deadline(profile, "acknowledge").citation == "RG 271.51"
        notice = profile.letter("delay_notification")
        assert (notice.clock, notice.effect, notice.citation) == (
            "resolve",
            regulatory.NOTES,
            "RG 271.64-271.66",
        )
        # A notice does not meet the obligation: nothing but a response does.
        assert profile.response_meets_resolve == ()
