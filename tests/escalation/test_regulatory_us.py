"""US error resolution: Regulation E (12 CFR 1005.11(c)) and Regulation Z billing errors
(12 CFR 1026.13(c)), on federal holidays in Eastern time unless a state is given.

Every expected instant is worked out by hand and written as a literal, with the count in a
comment: business days end at 17:00 local on the Nth business day after the day of receipt;
calendar days with the local date N days after the local date of receipt.

Dates that matter (checked against the `holidays` package, which lists the federal holidays
with their observed days):
- New York: EDT from Sun 14 Mar 2027 and Sun 12 Mar 2028; EST from Sun 1 Nov 2026.
  Los Angeles changes on the same days (PDT/PST); Honolulu keeps UTC-10.
- Federal: Independence Day Sat 4 Jul 2026 observed Fri 3 Jul; Veterans Day Wed 11 Nov 2026;
  Thanksgiving Thu 26 Nov 2026; Christmas Fri 25 Dec 2026; New Year's Day Fri 1 Jan 2027;
  Martin Luther King Jr. Day Mon 18 Jan 2027; Christmas Sat 25 Dec 2027 observed Fri 24 Dec
  and New Year's Day Sat 1 Jan 2028 observed Fri 31 Dec 2027; Washington's Birthday Mon 21 Feb
  2028. 2028 is a leap year.
- California adds Cesar Chavez Day (Wed 31 Mar 2027) and the day after Thanksgiving (Fri 27
  Nov 2026).
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from escalation import regulatory

NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
HONOLULU = ZoneInfo("Pacific/Honolulu")
LAST = 999999  # the last microsecond of a day

REG_E = regulatory.PROFILES["us_reg_e"]
POS_FOREIGN = regulatory.PROFILES["us_reg_e_pos_foreign"]
NEW_ACCOUNT = regulatory.PROFILES["us_reg_e_new_account"]
REG_Z = regulatory.PROFILES["us_reg_z"]


def first(profile, clock="resolve") -> regulatory.Deadline:
    return next(d for d in profile.deadlines if d.clock == clock)


def credited(profile) -> regulatory.Deadline:
    return profile.extended_deadlines[0]


CASES = [
    # -- Regulation E: 10 business days to determine whether an error occurred.
    pytest.param(
        REG_E,
        first(REG_E),
        "",
        datetime(2026, 12, 21, 12, tzinfo=NEW_YORK),  # Mon
        # Tue 22 .. Thu 24 (3); Fri 25 off; Mon 28 .. Thu 31 (7); Fri 1 Jan off; Mon 4 (8),
        # Tue 5 (9), Wed 6 Jan 2027 (10), 17:00 EST.
        datetime(2027, 1, 6, 22, tzinfo=UTC),
        id="reg-e-10-days-new-year-2027",
    ),
    pytest.param(
        REG_E,
        first(REG_E),
        "US",
        datetime(2027, 12, 22, 23, 59, tzinfo=NEW_YORK),  # Wed 23:59
        # Thu 23 (1); Fri 24 off (Christmas observed); Mon 27 .. Thu 30 (5); Fri 31 off (New
        # Year's Day observed); Mon 3 .. Fri 7 Jan 2028 (10).
        datetime(2028, 1, 7, 22, tzinfo=UTC),
        id="reg-e-10-days-new-year-2028-observed-fridays",
    ),
    pytest.param(
        REG_E,
        first(REG_E),
        "",
        datetime(2027, 3, 5, 18, tzinfo=NEW_YORK),  # Fri, after hours
        # Mon 8 .. Fri 12 (5); EDT from Sun 14; Mon 15 .. Fri 19 Mar (10), 17:00 EDT.
        datetime(2027, 3, 19, 21, tzinfo=UTC),
        id="reg-e-10-days-after-hours-over-edt-start",
    ),
    pytest.param(
        REG_E,
        first(REG_E),
        "",
        datetime(2026, 10, 30, 10, tzinfo=NEW_YORK),  # Fri, EDT
        # EST from Sun 1 Nov; Mon 2 .. Fri 6 (5); Mon 9, Tue 10 (7); Wed 11 off (Veterans
        # Day); Thu 12 (8), Fri 13 (9); Mon 16 Nov (10), 17:00 EST.
        datetime(2026, 11, 16, 22, tzinfo=UTC),
        id="reg-e-10-days-over-est-start-and-veterans-day",
    ),
    pytest.param(
        REG_E,
        first(REG_E),
        "",
        datetime(2026, 11, 26, 11, tzinfo=NEW_YORK),  # Thanksgiving
        # Fri 27 (1), not a federal holiday; Mon 30 (2); Tue 1 .. Fri 4 Dec (6); Mon 7 ..
        # Thu 10 Dec (10).
        datetime(2026, 12, 10, 17, tzinfo=NEW_YORK),
        id="reg-e-10-days-received-on-thanksgiving",
    ),
    pytest.param(
        REG_E,
        first(REG_E),
        "US-CA",
        datetime(2026, 11, 26, 11, tzinfo=LOS_ANGELES),  # Thanksgiving
        # California also closes Fri 27: Mon 30 (1); Tue 1 .. Fri 4 Dec (5); Mon 7 .. Fri 11
        # Dec (10), 17:00 PST.
        datetime(2026, 12, 12, 1, tzinfo=UTC),
        id="reg-e-10-days-received-on-thanksgiving-in-california",
    ),
    pytest.param(
        REG_E,
        first(REG_E),
        "US-CA",
        datetime(2027, 3, 31, 9, tzinfo=LOS_ANGELES),  # Cesar Chavez Day
        # Thu 1, Fri 2 Apr (2); Mon 5 .. Fri 9 (7); Mon 12 (8), Tue 13 (9), Wed 14 (10),
        # 17:00 PDT.
        datetime(2027, 4, 15, 0, tzinfo=UTC),
        id="reg-e-10-days-received-on-a-california-holiday",
    ),
    pytest.param(
        REG_E,
        first(REG_E),
        "",
        datetime(2028, 2, 29, 23, 59, tzinfo=NEW_YORK),  # the leap day, 23:59
        # Wed 1 .. Fri 3 Mar (3); Mon 6 .. Fri 10 (8); EDT from Sun 12; Mon 13 (9), Tue 14
        # Mar (10), 17:00 EDT.
        datetime(2028, 3, 14, 21, tzinfo=UTC),
        id="reg-e-10-days-from-the-leap-day-over-edt-start",
    ),
    pytest.param(
        POS_FOREIGN,
        first(POS_FOREIGN),
        "",
        datetime(2026, 7, 2, 23, 59, tzinfo=NEW_YORK),  # Thu 23:59
        # Fri 3 off (Independence Day observed); Mon 6 .. Fri 10 (5); Mon 13 .. Fri 17 Jul
        # (10), 17:00 EDT.
        datetime(2026, 7, 17, 21, tzinfo=UTC),
        id="reg-e-pos-10-days-over-independence-day-observed",
    ),
    # -- Regulation E, new accounts: 20 business days.
    pytest.param(
        NEW_ACCOUNT,
        first(NEW_ACCOUNT),
        "",
        datetime(2026, 12, 21, 12, tzinfo=NEW_YORK),
        # As reg-e-10-days-new-year-2027 to Wed 6 Jan (10); Thu 7, Fri 8 (12); Mon 11 .. Fri
        # 15 (17); Mon 18 off (Martin Luther King Jr. Day); Tue 19, Wed 20, Thu 21 Jan (20).
        datetime(2027, 1, 21, 22, tzinfo=UTC),
        id="reg-e-new-account-20-days-new-year-2027",
    ),
    pytest.param(
        NEW_ACCOUNT,
        first(NEW_ACCOUNT),
        "",
        datetime(2028, 2, 14, 9, tzinfo=NEW_YORK),  # Mon
        # Tue 15 .. Fri 18 (4); Mon 21 off (Washington's Birthday); Tue 22 .. Fri 25 (8);
        # Mon 28 (9), Tue 29 Feb (10), Wed 1 .. Fri 3 Mar (13); Mon 6 .. Fri 10 (18); EDT
        # from Sun 12; Mon 13 (19), Tue 14 Mar (20).
        datetime(2028, 3, 14, 21, tzinfo=UTC),
        id="reg-e-new-account-20-days-over-a-leap-day",
    ),
    # -- Regulation E, provisionally credited: 45 or 90 calendar days from the notice.
    pytest.param(
        REG_E,
        credited(REG_E),
        "",
        datetime(2026, 12, 21, 12, tzinfo=NEW_YORK),
        # 21 Dec + 10 = 31 Dec, + 31 = 31 Jan (41), + 4 = Thu 4 Feb 2027 (45), EST.
        datetime(2027, 2, 5, 4, 59, 59, LAST, tzinfo=UTC),
        id="reg-e-45-days-over-new-year-2027",
    ),
    pytest.param(
        REG_E,
        credited(REG_E),
        "",
        datetime(2027, 2, 5, 23, 59, tzinfo=NEW_YORK),  # Fri 23:59
        # 5 Feb + 23 = 28 Feb, + 22 = Mon 22 Mar 2027 (45), on EDT by then.
        datetime(2027, 3, 23, 3, 59, 59, LAST, tzinfo=UTC),
        id="reg-e-45-days-at-23-59-over-edt-start",
    ),
    pytest.param(
        REG_E,
        credited(REG_E),
        "",
        datetime(2028, 1, 15, 10, tzinfo=NEW_YORK),  # Sat
        # 15 Jan + 16 = 31 Jan, + 29 = Tue 29 Feb 2028 (45): ends on the leap day.
        datetime(2028, 3, 1, 4, 59, 59, LAST, tzinfo=UTC),
        id="reg-e-45-days-ends-on-a-leap-day",
    ),
    pytest.param(
        POS_FOREIGN,
        credited(POS_FOREIGN),
        "",
        datetime(2026, 9, 17, 10, tzinfo=NEW_YORK),  # Thu, EDT
        # 17 Sep + 13 = 30 Sep, + 31 = 31 Oct (44), + 30 = 30 Nov (74), + 16 = Wed 16 Dec
        # 2026 (90), on EST by then.
        datetime(2026, 12, 17, 4, 59, 59, LAST, tzinfo=UTC),
        id="reg-e-pos-90-days-over-est-start",
    ),
    pytest.param(
        NEW_ACCOUNT,
        credited(NEW_ACCOUNT),
        "",
        datetime(2027, 12, 31, 14, tzinfo=NEW_YORK),  # New Year's Day observed
        # 31 Dec + 31 = 31 Jan (31), + 29 = 29 Feb (60), + 30 = Thu 30 Mar 2028 (90), EDT.
        datetime(2028, 3, 31, 3, 59, 59, LAST, tzinfo=UTC),
        id="reg-e-new-account-90-days-over-a-leap-day-and-edt-start",
    ),
    # -- Regulation Z: acknowledge within 30 days, resolve within at most 90.
    pytest.param(
        REG_Z,
        first(REG_Z, "acknowledge"),
        "",
        datetime(2026, 12, 11, 23, 59, tzinfo=NEW_YORK),  # Fri 23:59
        # 11 Dec + 20 = 31 Dec, + 10 = Sun 10 Jan 2027 (30): weekends do not move it.
        datetime(2027, 1, 11, 4, 59, 59, LAST, tzinfo=UTC),
        id="reg-z-ack-30-days-over-new-year-2027",
    ),
    pytest.param(
        REG_Z,
        first(REG_Z, "acknowledge"),
        "US-HI",
        datetime(2027, 12, 1, 23, 30, tzinfo=HONOLULU),  # already 2 Dec in New York
        # Honolulu's date counts: 1 Dec + 30 = Fri 31 Dec 2027, 23:59:59 HST (UTC-10).
        datetime(2028, 1, 1, 9, 59, 59, LAST, tzinfo=UTC),
        id="reg-z-ack-30-days-on-honolulu-dates",
    ),
    pytest.param(
        REG_Z,
        first(REG_Z),
        "",
        datetime(2026, 10, 19, 10, tzinfo=NEW_YORK),  # Mon, EDT
        # 19 Oct + 12 = 31 Oct, + 30 = 30 Nov (42), + 31 = 31 Dec (73), + 17 = Sun 17 Jan
        # 2027 (90), EST.
        datetime(2027, 1, 18, 4, 59, 59, LAST, tzinfo=UTC),
        id="reg-z-90-days-over-est-start-and-new-year-2027",
    ),
    pytest.param(
        REG_Z,
        first(REG_Z),
        "",
        datetime(2027, 12, 9, 18, tzinfo=NEW_YORK),  # Thu, after hours
        # 9 Dec + 22 = 31 Dec, + 31 = 31 Jan (53), + 29 = 29 Feb (82), + 8 = Wed 8 Mar 2028
        # (90), still EST.
        datetime(2028, 3, 9, 4, 59, 59, LAST, tzinfo=UTC),
        id="reg-z-90-days-over-new-year-2028-and-a-leap-day",
    ),
]


@pytest.mark.parametrize(("profile", "rule", "region", "received", "expected"), CASES)
def test_statutory_deadline(profile, rule, region, received, expected):
    assert profile.due_at(rule, received, region) == expected


def test_the_regulation_e_variants_differ_only_where_1005_11_c_3_says():
    assert {
        code: (
            first(profile).amount,
            first(profile).citation,
            credited(profile).amount,
            credited(profile).citation,
            profile.extension_ground,
        )
        for code, profile in regulatory.PROFILES.items()
        if code.startswith("us_reg_e")
    } == {
        "us_reg_e": (10, "12 CFR 1005.11(c)(1)", 45, "12 CFR 1005.11(c)(2)", "provisional_credit"),
        "us_reg_e_pos_foreign": (
            10,
            "12 CFR 1005.11(c)(1)",
            90,
            "12 CFR 1005.11(c)(3)(ii)(A)-(B)",
            "provisional_credit",
        ),
        "us_reg_e_new_account": (
            20,
            "12 CFR 1005.11(c)(3)(i)",
            90,
            "12 CFR 1005.11(c)(3)(ii)(C)",
            "provisional_credit",
        ),
    }
    # Federal holidays in Eastern time unless a state is named.
    assert REG_E.region("").code == REG_Z.region("XX").code == "US"
    assert REG_E.region("US-CA").time_zone == "America/Los_Angeles"
