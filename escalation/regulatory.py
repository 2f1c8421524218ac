"""Regulatory complaint-handling profiles, built in and selectable per complaint.

A profile lists the statutory obligations a regime puts on a complaint (each becomes a clock
of its own, beside any internal target) and the regions whose business days it counts on.
Sources of every number, and the counting conventions, are in docs/regulatory-profiles.md.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from escalation import calendars

OFFICE_OPEN = time(9)
OFFICE_CLOSE = time(17)
# "By the end of day N" ends with that local day: the last instant a database column holds.
END_OF_DAY = time(23, 59, 59, 999999)


@dataclass(frozen=True)
class Region:
    """Where a complaint is handled, for counting: a time zone and its public holidays."""

    code: str
    name: str
    time_zone: str
    holiday_country: str
    holiday_subdivision: str | None = None


@dataclass(frozen=True)
class Deadline:
    """One statutory obligation: which clock it times, how it counts, and the rule it is.

    ``rule`` is one of:
    - ``calendar_days``: by the end of the local day ``amount`` days after the day of receipt;
    - ``business_days_close``: close of business on the ``amount``-th business day after the
      day of receipt;
    - ``hours_or_business_day``: ``amount`` hours after receipt or close of business on the
      next business day, whichever is later (ASIC RG 271.51).
    """

    clock: str
    rule: str
    amount: int
    citation: str
    title: str
    escalates: bool = True
    # "received" counts from receipt; "sent_to_company" from when a regulator passed it on.
    starts: str = "received"


# What a letter does to the obligation it answers (``Letter.effect``).
MEETS = "meets"
NOTES = "notes"
# What moves a profile's deadlines to their extended form (``RegulatoryProfile.extension_ground``).
HOLDING_REPLY = "holding_reply"
PROVISIONAL_CREDIT = "provisional_credit"


@dataclass(frozen=True)
class Letter:
    """A message to the customer to which a regime gives a legal effect on one obligation.

    ``effect`` is ``meets`` (sending it stops the obligation: met if sent by the deadline,
    breached if after, for then the law was not met) or ``notes`` (it is recorded against the
    obligation, which runs on and is met or breached by its own deadline).
    """

    kind: str
    clock: str
    effect: str
    citation: str
    title: str
    # A letter the rule requires only once the deadline has passed (Ireland's CPC 10.9(d)),
    # and one that must give the anticipated date.
    after_deadline: bool = False
    needs_date: bool = False


@dataclass(frozen=True)
class RegulatoryProfile:
    code: str
    name: str
    regulator: str
    jurisdiction: str
    applies_to: str
    regions: tuple[Region, ...]
    deadlines: tuple[Deadline, ...]
    # The deadlines clocks move to when ``extension_ground`` happens in time: a holding reply
    # in exceptional circumstances (payment services), a provisional credit (Regulation E).
    extended_deadlines: tuple[Deadline, ...] = ()
    extension_ground: str = ""
    # Messages the regime gives a legal effect: a written response that meets the resolve
    # obligation without resolving the complaint, a delay notice that is recorded against it.
    letters: tuple[Letter, ...] = ()
    # No region stands for the others (the member states of one directive): intake asks
    # for one of them rather than count on a default.
    requires_region: bool = False
    regions_by_code: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "regions_by_code", {r.code: r for r in self.regions})

    @property
    def counts_from_sending(self) -> bool:
        return any(deadline.starts == "sent_to_company" for deadline in self.deadlines)

    def counts_in(self, jurisdiction: str) -> bool:
        """Whether ``jurisdiction`` is one of this profile's regions or a part of one of
        their countries (``US-CA`` under a profile that counts in ``US``)."""
        if jurisdiction in self.regions_by_code:
            return True
        countries = {region.holiday_country for region in self.regions}
        return jurisdiction.partition("-")[0] in countries

    @property
    def default_region(self) -> Region:
        return self.regions[0]

    @property
    def response_meets_resolve(self) -> tuple[str, ...]:
        """Message kinds that, sent, meet the resolve obligation without resolving."""
        return tuple(
            letter.kind
            for letter in self.letters
            if letter.clock == "resolve" and letter.effect == MEETS
        )

    def letter(self, kind: str) -> Letter | None:
        return next((letter for letter in self.letters if letter.kind == kind), None)

    def region(self, jurisdiction: str) -> Region:
        """The region a complaint's jurisdiction names, else the profile's default."""
        return self.regions_by_code.get(jurisdiction or "", self.default_region)

    def calendar(self, years, jurisdiction: str = "") -> calendars.BusinessCalendar:
        region = self.region(jurisdiction)
        return _region_calendar(region, tuple(sorted(set(years))))

    def due_at(self, deadline: Deadline, start: datetime, jurisdiction: str = "") -> datetime:
        region = self.region(jurisdiction)
        zone = ZoneInfo(region.time_zone)
        if deadline.rule == "calendar_days":
            return end_of_local_day(start, deadline.amount, zone)
        years = range(start.year - 1, start.year + 2 + deadline.amount // 200)
        calendar = _region_calendar(region, tuple(years))
        if deadline.rule == "business_days_close":
            return calendars.end_of_nth_business_day_after(start, deadline.amount, calendar)
        if deadline.rule == "hours_or_business_day":
            hours = start.astimezone(UTC) + timedelta(hours=deadline.amount)
            next_day = calendars.end_of_nth_business_day_after(start, 1, calendar)
            return max(hours, next_day.astimezone(UTC))
        raise ValueError(f"unknown deadline rule {deadline.rule!r}")


def end_of_local_day(start: datetime, days: int, zone: ZoneInfo) -> datetime:
    """The end of the local date ``days`` after ``start``'s local date, in UTC.

    Regulators count dates, not periods of 24 hours: "within eight weeks" of a complaint
    received at 23:30 on a Friday ends with the Friday eight weeks on, whatever clock change
    falls between.
    """
    day: date = start.astimezone(zone).date() + timedelta(days=days)
    return datetime.combine(day, END_OF_DAY, tzinfo=zone).astimezone(UTC)


def _uk(code: str, name: str, subdivision: str) -> Region:
    return Region(code, name, "Europe/London", "GB", subdivision)


UK_REGIONS = (
    # England & Wales first: the default where a complaint names no part of the UK.
    _uk("GB-ENG", "England", "ENG"),
    _uk("GB-WLS", "Wales", "WLS"),
    _uk("GB-SCT", "Scotland", "SCT"),
    _uk("GB-NIR", "Northern Ireland", "NIR"),
    _uk("GB", "United Kingdom (England & Wales holidays)", "ENG"),
)

AU_REGIONS = (
    # New South Wales first: the default where a complaint names no state.
    Region("AU-NSW", "New South Wales", "Australia/Sydney", "AU", "NSW"),
    Region("AU-ACT", "Australian Capital Territory", "Australia/Sydney", "AU", "ACT"),
    Region("AU-NT", "Northern Territory", "Australia/Darwin", "AU", "NT"),
    Region("AU-QLD", "Queensland", "Australia/Brisbane", "AU", "QLD"),
    Region("AU-SA", "South Australia", "Australia/Adelaide", "AU", "SA"),
    Region("AU-TAS", "Tasmania", "Australia/Hobart", "AU", "TAS"),
    Region("AU-VIC", "Victoria", "Australia/Melbourne", "AU", "VIC"),
    Region("AU-WA", "Western Australia", "Australia/Perth", "AU", "WA"),
    Region("AU", "Australia (New South Wales holidays)", "Australia/Sydney", "AU", "NSW"),
)

# US states by time zone (the zone of most of the state), for rules counted on the state's
# business days; federal holidays plus the state's own.
_US_ZONES = {
    "America/Chicago": "AL AR IA IL KS LA MN MO MS ND NE OK SD TN TX WI",
    "America/Denver": "CO ID MT NM UT WY",
    "America/Phoenix": "AZ",
    "America/Los_Angeles": "CA NV OR WA",
    "America/Anchorage": "AK",
    "Pacific/Honolulu": "HI",
    "America/New_York": "CT DC DE FL GA IN KY MA MD ME MI NC NH NJ NY OH PA RI SC VA VT WV",
}
US_STATE_REGIONS = tuple(
    Region(f"US-{state}", state, zone, "US", state)
    for zone, states in _US_ZONES.items()
    for state in states.split()
)
US_FEDERAL = Region("US", "United States (federal holidays)", "America/New_York", "US", None)
# Federal first: the default where a complaint names no state.
US_REGIONS = (US_FEDERAL, *US_STATE_REGIONS)

IRELAND = Region("IE", "Ireland", "Europe/Dublin", "IE")

# Member states for payment services, each on its national public holidays (no regional
# ones: a firm in a German Land or a Spanish community may close on more days).
EU_PSD2_REGIONS = (
    IRELAND,
    Region("DE", "Germany", "Europe/Berlin", "DE"),
    Region("FR", "France (metropolitan)", "Europe/Paris", "FR"),
    Region("NL", "Netherlands", "Europe/Amsterdam", "NL"),
    Region("ES", "Spain", "Europe/Madrid", "ES"),
    Region("IT", "Italy", "Europe/Rome", "IT"),
)

DISP_FINAL = "DISP 1.6.2R"


def _reg_e(
    code: str, name: str, applies_to: str, first: Deadline, extended: Deadline
) -> RegulatoryProfile:
    """A Regulation E error-resolution profile: a first deadline in business days, extended
    to calendar days when the account is provisionally credited within it (12 CFR
    1005.11(c)(2)); which numbers depends on the transfer (1005.11(c)(3))."""
    return RegulatoryProfile(
        code=code,
        name=name,
        regulator="Consumer Financial Protection Bureau",
        jurisdiction="US",
        applies_to=applies_to,
        regions=US_REGIONS,
        deadlines=(first,),
        extended_deadlines=(extended,),
        extension_ground=PROVISIONAL_CREDIT,
    )


def _determine(amount: int, citation: str) -> Deadline:
    return Deadline(
        "resolve",
        "business_days_close",
        amount,
        citation,
        f"Determine whether an error occurred within {amount} business days",
    )


def _credited(amount: int, citation: str) -> Deadline:
    return Deadline(
        "resolve",
        "calendar_days",
        amount,
        citation,
        f"Investigate within {amount} days of the notice, the account provisionally credited",
    )


def _asic(code: str, name: str, applies_to: str, days: int, citation: str) -> RegulatoryProfile:
    """An RG 271 profile: the acknowledgement and the delay notice are the same for every kind
    of complaint; the maximum IDR timeframe is the kind's (RG 271 Table 2)."""
    return RegulatoryProfile(
        code=code,
        name=name,
        regulator="Australian Securities and Investments Commission",
        jurisdiction="AU",
        applies_to=applies_to,
        regions=AU_REGIONS,
        deadlines=(
            Deadline(
                "acknowledge",
                "hours_or_business_day",
                24,
                "RG 271.51",
                "Acknowledge within 24 hours or one business day",
            ),
            Deadline(
                "resolve",
                "calendar_days",
                days,
                citation,
                f"IDR response within {days} calendar days",
            ),
        ),
        letters=(
            Letter(
                "delay_notification",
                "resolve",
                NOTES,
                "RG 271.64-271.66",
                "IDR delay notification: the reasons for the delay, the right to complain to "
                "AFCA and AFCA's contact details, before the timeframe ends",
            ),
        ),
    )


_PROFILES = (
    RegulatoryProfile(
        code="uk_fca_disp",
        name="UK FCA DISP",
        regulator="Financial Conduct Authority",
        jurisdiction="GB",
        applies_to="Complaints to UK-regulated firms (banking, insurance, credit, investments).",
        regions=UK_REGIONS,
        deadlines=(
            # A summary resolution communication closes a complaint resolved by close of
            # business on the third business day after receipt; it is a chance, not a duty.
            Deadline(
                "summary_resolution",
                "business_days_close",
                3,
                "DISP 1.5.1R",
                "Summary resolution by the third business day",
                escalates=False,
            ),
            Deadline(
                "resolve",
                "calendar_days",
                56,
                DISP_FINAL,
                "Final or written response by the end of eight weeks",
            ),
        ),
        letters=(
            Letter(
                "written_response",
                "resolve",
                MEETS,
                "DISP 1.6.2R(2)",
                "Written response: why no final response yet, when one is expected, and the "
                "right to refer the complaint to the Financial Ombudsman Service now",
            ),
        ),
    ),
    RegulatoryProfile(
        code="uk_fca_psd",
        name="UK FCA payment services (DISP 1.6.2AR)",
        regulator="Financial Conduct Authority",
        jurisdiction="GB",
        applies_to="Payment services and e-money complaints under the PSRs 2017 and EMRs 2011.",
        regions=UK_REGIONS,
        deadlines=(
            Deadline(
                "resolve",
                "business_days_close",
                15,
                "DISP 1.6.2AR(1)",
                "Final response by the end of 15 business days",
            ),
        ),
        extended_deadlines=(
            Deadline(
                "resolve",
                "business_days_close",
                35,
                "DISP 1.6.2AR(2)",
                "Final response by the end of 35 business days after a holding reply",
            ),
        ),
        extension_ground=HOLDING_REPLY,
    ),
    RegulatoryProfile(
        code="us_cfpb",
        name="US CFPB",
        regulator="Consumer Financial Protection Bureau",
        jurisdiction="US",
        applies_to="Complaints the CFPB sends to the company through its portal.",
        # The CFPB's portal keeps one clock for every company: counted in Eastern time.
        regions=(US_FEDERAL,),
        deadlines=(
            Deadline(
                "initial_response",
                "calendar_days",
                15,
                "CFPB company response (15 days)",
                "Response within 15 days of the CFPB sending it",
                starts="sent_to_company",
            ),
            Deadline(
                "resolve",
                "calendar_days",
                60,
                "CFPB company response (60 days)",
                "Final response within 60 days of the CFPB sending it",
                starts="sent_to_company",
            ),
        ),
    ),
    RegulatoryProfile(
        code="eu_psd2",
        name="EU payment services (PSD2 Art. 101)",
        regulator="The member state's competent authority",
        jurisdiction="EU",
        applies_to="Payment services complaints to payment service providers in EU member "
        "states (Directive (EU) 2015/2366, Article 101, as each state transposes it), counted "
        "on that state's public holidays.",
        regions=EU_PSD2_REGIONS,
        requires_region=True,
        deadlines=(
            Deadline(
                "resolve",
                "business_days_close",
                15,
                "PSD2 Art. 101(2)",
                "Reply to all points raised within 15 business days",
            ),
        ),
        extended_deadlines=(
            Deadline(
                "resolve",
                "business_days_close",
                35,
                "PSD2 Art. 101(2), second subparagraph",
                "Final reply within 35 business days after a holding reply",
            ),
        ),
        extension_ground=HOLDING_REPLY,
    ),
    RegulatoryProfile(
        code="ie_cbi_cpc",
        name="Ireland Central Bank Consumer Protection Code",
        regulator="Central Bank of Ireland",
        jurisdiction="IE",
        applies_to="Complaints from consumers to firms the Central Bank of Ireland regulates "
        "(Consumer Protection Code 2012, Chapter 10).",
        regions=(IRELAND,),
        deadlines=(
            Deadline(
                "acknowledge",
                "business_days_close",
                5,
                "CPC 2012 Provision 10.9(a)",
                "Acknowledge on paper or another durable medium within 5 business days",
            ),
            Deadline(
                "customer_update",
                "business_days_close",
                20,
                "CPC 2012 Provision 10.9(c)",
                "Update the consumer on the investigation at intervals of at most 20 business days",
            ),
            Deadline(
                "resolve",
                "business_days_close",
                40,
                "CPC 2012 Provision 10.9(d)",
                "Investigate and resolve within 40 business days",
            ),
        ),
        letters=(
            Letter(
                "delay_notification",
                "resolve",
                NOTES,
                "CPC 2012 Provision 10.9(d)",
                "Once the 40 business days have passed: the anticipated timeframe, the right "
                "to refer the complaint to the Financial Services and Pensions Ombudsman, and "
                "its contact details",
                after_deadline=True,
                needs_date=True,
            ),
        ),
    ),
    _reg_e(
        "us_reg_e",
        "US Regulation E error resolution",
        "Notices of error about consumers' electronic fund transfers (debit cards, ATMs, ACH, "
        "person-to-person transfers), 12 CFR 1005.11, where no longer period applies.",
        _determine(10, "12 CFR 1005.11(c)(1)"),
        _credited(45, "12 CFR 1005.11(c)(2)"),
    ),
    _reg_e(
        "us_reg_e_pos_foreign",
        "US Regulation E: point-of-sale and foreign-initiated transfers",
        "Notices of error about a transfer that resulted from a point-of-sale debit card "
        "transaction or was not initiated within a state: 90 days instead of 45.",
        _determine(10, "12 CFR 1005.11(c)(1)"),
        _credited(90, "12 CFR 1005.11(c)(3)(ii)(A)-(B)"),
    ),
    _reg_e(
        "us_reg_e_new_account",
        "US Regulation E: new accounts",
        "Notices of error about a transfer to or from an account within 30 days after its "
        "first deposit: 20 business days instead of 10, and 90 days instead of 45.",
        _determine(20, "12 CFR 1005.11(c)(3)(i)"),
        _credited(90, "12 CFR 1005.11(c)(3)(ii)(C)"),
    ),
    RegulatoryProfile(
        code="us_reg_z",
        name="US Regulation Z billing errors",
        regulator="Consumer Financial Protection Bureau",
        jurisdiction="US",
        applies_to="Billing error notices on open-end consumer credit, such as credit cards, "
        "12 CFR 1026.13.",
        regions=US_REGIONS,
        deadlines=(
            Deadline(
                "acknowledge",
                "calendar_days",
                30,
                "12 CFR 1026.13(c)(1)",
                "Acknowledge in writing within 30 days, unless resolved by then",
            ),
            # Two complete billing cycles usually end sooner; Redress knows no statement
            # dates, so the law's outer limit is the clock (docs/regulatory-profiles.md).
            Deadline(
                "resolve",
                "calendar_days",
                90,
                "12 CFR 1026.13(c)(2)",
                "Resolve within two complete billing cycles, and at most 90 days",
            ),
        ),
    ),
    _asic(
        "au_asic_rg271",
        "Australia ASIC RG 271",
        "Standard complaints to Australian financial firms' internal dispute resolution (IDR).",
        30,
        "RG 271.56",
    ),
    _asic(
        "au_asic_rg271_credit",
        "Australia ASIC RG 271: default and hardship notices",
        "Credit complaints about a default notice, or about a hardship notice or a request to "
        "postpone enforcement proceedings.",
        21,
        "RG 271 Table 2 (credit)",
    ),
    _asic(
        "au_asic_rg271_super",
        "Australia ASIC RG 271: superannuation trustees",
        "Complaints to superannuation trustees and traditional trustees, except about the "
        "distribution of a death benefit (90 days after the objection period, not modelled).",
        45,
        "RG 271 Table 2 (trustees)",
    ),
)

PROFILES = {profile.code: profile for profile in _PROFILES}
PROFILE_CHOICES = [(code, profile.name) for code, profile in PROFILES.items()]


def deadline_of(profile: str, clock: str) -> Deadline:
    """The profile's obligation for ``clock``: the one definition of a statutory period, read
    by the clocks and by the insights that report against it."""
    return next(d for d in PROFILES[profile].deadlines if d.clock == clock)


@lru_cache(maxsize=128)
def _region_calendar(region: Region, years: tuple[int, ...]) -> calendars.BusinessCalendar:
    return calendars.BusinessCalendar.office_hours(
        region.time_zone,
        start=OFFICE_OPEN,
        end=OFFICE_CLOSE,
        holidays=calendars.holidays_for(region.holiday_country, region.holiday_subdivision, years),
    )


def get_profile(code: str) -> RegulatoryProfile | None:
    return PROFILES.get(code) if code else None


def region_zone(code: str, jurisdiction: str) -> ZoneInfo | None:
    """The time zone a profile's deadlines are read in for ``jurisdiction``; None without
    a known profile."""
    profile = get_profile(code)
    return ZoneInfo(profile.region(jurisdiction).time_zone) if profile else None


def profile_name(code: str) -> str:
    profile = get_profile(code)
    return profile.name if profile else code


def known_jurisdictions() -> list[str]:
    """Every jurisdiction code some profile counts on, for validating input."""
    return sorted(_region_codes())


def is_known_jurisdiction(code: str) -> bool:
    """A region some profile counts on, or an ISO 3166 country (``FR``) or subdivision
    (``US-CA``) whose public holidays are known."""
    if not code or code in _region_codes():
        return True
    country, dash, subdivision = code.partition("-")
    supported = _supported_countries()
    if country not in supported:
        return False
    # "GB-" names no part: refused rather than read as the whole country.
    return subdivision in supported[country] if dash else True


@lru_cache(maxsize=1)
def _region_codes() -> frozenset[str]:
    return frozenset(region.code for profile in _PROFILES for region in profile.regions)


@lru_cache(maxsize=1)
def _supported_countries() -> dict:
    import holidays as holiday_data

    return holiday_data.list_supported_countries()
