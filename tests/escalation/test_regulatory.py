"""Regulatory profiles: statutory deadlines on each jurisdiction's own business days.

Every expected instant is counted by hand (docs/regulatory-profiles.md gives the rules):
"N calendar days" is N x 24 h after the instant of receipt; "close of business on the Nth
business day" is 17:00 local on the Nth Monday-Friday after the day of receipt that is not a
public holiday of that jurisdiction. The dates are chosen to cross a public holiday and a
daylight-saving change:

- England: Christmas 2026 (Fri 25 Dec, Boxing Day observed Mon 28 Dec, New Year Fri 1 Jan);
  Easter 2027 (Good Friday 26 Mar, Easter Monday 29 Mar) around BST starting Sun 28 Mar 2027;
  May Day Mon 3 May 2027.
- New York: EDT ends Sun 1 Nov 2026; Veterans Day Wed 11 Nov, Thanksgiving Thu 26 Nov 2026.
- Sydney: AEDT starts Sun 4 Oct 2026, Labour Day Mon 5 Oct 2026; AEDT ends Sun 5 Apr 2026
  (Easter Sunday), Easter Saturday 4 Apr 2026 is a NSW holiday.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from escalation import calendars, regulatory
from escalation.models import Clock, ClockState, Escalation, SlaPolicy, SlaTarget
from escalation.services import clocks
from escalation.services.sweeper import sweep
from recovery.models import Complaint
from recovery.services import sla
from tests.conftest import acknowledge

HOUR = 3600
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")

DISP = regulatory.PROFILES["uk_fca_disp"]
PSD = regulatory.PROFILES["uk_fca_psd"]
CFPB = regulatory.PROFILES["us_cfpb"]
ASIC = regulatory.PROFILES["au_asic_rg271"]


def deadline(profile, clock: str, *, extended: bool = False) -> regulatory.Deadline:
    found = profile.extended_deadlines if extended else profile.deadlines
    return next(d for d in found if d.clock == clock)


def test_each_profile_uses_its_jurisdictions_holidays_and_zone():
    assert (DISP.time_zone, DISP.holiday_country, DISP.holiday_subdivision) == (
        "Europe/London",
        "GB",
        "ENG",
    )
    cal = DISP.calendar([2026, 2027])
    assert not calendars.is_business_day(date(2026, 12, 28), cal)  # Boxing Day observed
    assert not calendars.is_business_day(date(2027, 3, 29), cal)  # Easter Monday
    assert calendars.is_business_day(date(2027, 3, 30), cal)
    assert not calendars.is_business_day(date(2026, 11, 26), CFPB.calendar([2026]))  # Thanksgiving
    assert not calendars.is_business_day(date(2026, 10, 5), ASIC.calendar([2026]))  # Labour Day
    assert regulatory.get_profile("") is None
    assert regulatory.get_profile("no_such_profile") is None


# --- the deadlines, pure ----------------------------------------------------------------------

CASES = [
    pytest.param(
        DISP,
        "summary_resolution",
        datetime(2026, 12, 23, 10, tzinfo=LONDON),
        # Thu 24 (1); Fri 25 Christmas, Mon 28 Boxing Day observed; Tue 29 (2); Wed 30 (3).
        datetime(2026, 12, 30, 17, tzinfo=LONDON),
        id="disp-summary-over-christmas",
    ),
    pytest.param(
        DISP,
        "summary_resolution",
        datetime(2027, 3, 25, 10, tzinfo=LONDON),
        # Fri 26 Good Friday, Mon 29 Easter Monday; Tue 30 (1), Wed 31 (2), Thu 1 Apr (3),
        # by then on BST: 17:00 BST is 16:00 UTC.
        datetime(2027, 4, 1, 16, tzinfo=UTC),
        id="disp-summary-over-easter-and-bst",
    ),
    pytest.param(
        DISP,
        "summary_resolution",
        datetime(2027, 3, 25, 23, 30, tzinfo=UTC),
        # Received after hours, still Thursday 25th in London: the time of day does not count.
        datetime(2027, 4, 1, 16, tzinfo=UTC),
        id="disp-summary-received-after-hours",
    ),
    pytest.param(
        DISP,
        "summary_resolution",
        datetime(2027, 3, 27, 11, tzinfo=LONDON),
        # Received on Saturday: Mon 29 is Easter Monday; Tue 30, Wed 31, Thu 1 Apr.
        datetime(2027, 4, 1, 17, tzinfo=LONDON),
        id="disp-summary-received-on-a-weekend",
    ),
    pytest.param(
        DISP,
        "resolve",
        datetime(2027, 3, 25, 10, tzinfo=UTC),
        # Eight weeks = 56 x 24 h: 10:00 UTC, which is 11:00 BST by then.
        datetime(2027, 5, 20, 10, tzinfo=UTC),
        id="disp-eight-weeks-over-bst",
    ),
    pytest.param(
        PSD,
        "resolve",
        datetime(2026, 12, 14, 12, tzinfo=LONDON),
        # Tue 15 .. Thu 24 (8); Christmas, Boxing Day observed; Tue 29, Wed 30, Thu 31 (11);
        # New Year's Day; Mon 4 .. Thu 7 Jan (15).
        datetime(2027, 1, 7, 17, tzinfo=LONDON),
        id="psd-15-business-days-over-christmas",
    ),
    pytest.param(
        PSD,
        "resolve",
        datetime(2027, 3, 18, 12, tzinfo=LONDON),
        # Fri 19 .. Thu 25 (5); Good Friday, Easter Monday; Tue 30 .. Fri 9 Apr (14);
        # Mon 12 Apr (15), 17:00 BST = 16:00 UTC.
        datetime(2027, 4, 12, 16, tzinfo=UTC),
        id="psd-15-business-days-over-easter-and-bst",
    ),
    pytest.param(
        CFPB,
        "initial_response",
        datetime(2026, 10, 23, 10, tzinfo=NEW_YORK),
        # 14:00 UTC + 15 x 24 h = Sat 7 Nov 14:00 UTC, 09:00 EST after the change.
        datetime(2026, 11, 7, 9, tzinfo=NEW_YORK),
        id="cfpb-15-days-over-dst-end",
    ),
    pytest.param(
        CFPB,
        "initial_response",
        datetime(2026, 11, 11, 10, tzinfo=NEW_YORK),
        # Received on Veterans Day, due on Thanksgiving: calendar days do not roll over.
        datetime(2026, 11, 26, 10, tzinfo=NEW_YORK),
        id="cfpb-15-days-holiday-to-holiday",
    ),
    pytest.param(
        CFPB,
        "resolve",
        datetime(2026, 10, 23, 10, tzinfo=NEW_YORK),
        datetime(2026, 12, 22, 14, tzinfo=UTC),
        id="cfpb-60-days-over-dst-end",
    ),
    pytest.param(
        ASIC,
        "acknowledge",
        datetime(2026, 10, 3, 12, tzinfo=SYDNEY),
        # 24 elapsed hours over the spring-forward night: 13:00 AEDT on the wall clock.
        datetime(2026, 10, 4, 13, tzinfo=SYDNEY),
        id="asic-24-hours-over-aedt-start",
    ),
    pytest.param(
        ASIC,
        "acknowledge",
        datetime(2026, 4, 4, 12, tzinfo=SYDNEY),
        # Easter Saturday noon AEDT; clocks go back on Easter Sunday: 11:00 AEST.
        datetime(2026, 4, 5, 11, tzinfo=SYDNEY),
        id="asic-24-hours-over-aedt-end-at-easter",
    ),
    pytest.param(
        ASIC,
        "resolve",
        datetime(2026, 10, 3, 12, tzinfo=SYDNEY),
        # 02:00 UTC + 30 x 24 h, past Labour Day: Mon 2 Nov 02:00 UTC = 13:00 AEDT.
        datetime(2026, 11, 2, 2, tzinfo=UTC),
        id="asic-30-days-over-aedt-start",
    ),
]


@pytest.mark.parametrize(("profile", "clock", "received", "expected"), CASES)
def test_statutory_deadline(profile, clock, received, expected):
    assert profile.due_at(deadline(profile, clock), received) == expected


def test_psd_exceptional_extension_is_35_business_days():
    received = datetime(2027, 3, 18, 12, tzinfo=LONDON)
    # From the 15th business day (Mon 12 Apr): Tue 13 .. Fri 30 Apr (29); Mon 3 May is May Day;
    # Tue 4 .. Tue 11 May (35), 17:00 BST.
    assert PSD.due_at(deadline(PSD, "resolve", extended=True), received) == datetime(
        2027, 5, 11, 17, tzinfo=LONDON
    )


# --- the profiles on complaints -----------------------------------------------------------------


def clock_of(complaint, kind: str) -> Clock:
    return Clock.objects.get(complaint=complaint, kind=kind)


@pytest.mark.django_db
def test_fca_disp_starts_summary_resolution_on_london_business_days(make_complaint, time_machine):
    time_machine.move_to(datetime(2026, 12, 23, 10, tzinfo=UTC), tick=False)
    complaint = make_complaint(jurisdiction="GB", regulatory_profile="uk_fca_disp")

    summary = clock_of(complaint, "summary_resolution")
    assert summary.regulatory_profile == "uk_fca_disp"
    assert summary.policy is None and summary.calendar is None
    assert (summary.basis, summary.pausable, summary.escalates) == ("business", False, False)
    assert summary.due_at == datetime(2026, 12, 30, 17, tzinfo=UTC)
    # Open London hours in between: Wed 23 10-17 (7), Thu 24 (8), Tue 29 (8), Wed 30 (8).
    assert summary.target_seconds == 31 * HOUR
    # 80 % = 24 h 48 min of them: Wednesday 30th 10:48.
    assert summary.warn_at == datetime(2026, 12, 30, 10, 48, tzinfo=UTC)
    # The Standard policy's 40 business hours (UTC, no holidays) end before eight weeks do.
    resolve = clock_of(complaint, "resolve")
    assert (resolve.policy.name, resolve.regulatory_profile) == ("Standard", "")
    assert resolve.due_at == datetime(2026, 12, 30, 10, tzinfo=UTC)


@pytest.mark.django_db
def test_the_earlier_of_policy_and_profile_deadline_wins(make_complaint, time_machine):
    slow = SlaPolicy.objects.create(
        name="Slow", position=1, calendar=SlaPolicy.objects.get(name="Standard").calendar
    )
    # Sixty 8-hour business days, about twelve weeks: later than the FCA's eight.
    SlaTarget.objects.create(policy=slow, clock="resolve", seconds=60 * 8 * HOUR)

    time_machine.move_to(datetime(2027, 3, 25, 10, tzinfo=UTC), tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_disp")

    resolve = clock_of(complaint, "resolve")
    assert resolve.regulatory_profile == "uk_fca_disp"
    assert resolve.policy is None
    assert resolve.basis == "calendar"
    assert resolve.due_at == datetime(2027, 5, 20, 10, tzinfo=UTC)
    assert resolve.target_seconds == 56 * 24 * HOUR
    # Statutory clocks do not pause, so they warn at 80 % of the 56 days.
    assert resolve.pausable is False
    assert resolve.warn_at == datetime(2027, 3, 25, 10, tzinfo=UTC) + timedelta(days=56 * 0.8)


@pytest.mark.django_db
def test_statutory_clocks_keep_running_while_the_customer_is_awaited(
    make_complaint, agent, time_machine
):
    time_machine.move_to(datetime(2026, 12, 23, 10, tzinfo=UTC), tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    time_machine.move_to(datetime(2026, 12, 23, 12, tzinfo=UTC), tick=False)
    sla.complaint_set_awaiting_customer(complaint=complaint, actor=agent, awaiting=True)

    assert clock_of(complaint, "summary_resolution").state == ClockState.RUNNING
    assert clock_of(complaint, "resolve").state == ClockState.PAUSED  # the policy's clock
    complaint.refresh_from_db()
    assert complaint.next_deadline_at == datetime(2026, 12, 30, 17, tzinfo=UTC)


@pytest.mark.django_db
def test_a_missed_summary_resolution_is_recorded_but_does_not_escalate(
    make_complaint, agent, supervisor, time_machine
):
    # A policy that sets acknowledge only, so that nothing else falls due on 30 December.
    quick = SlaPolicy.objects.create(
        name="Acknowledge only",
        position=1,
        calendar=SlaPolicy.objects.get(name="Standard").calendar,
    )
    SlaTarget.objects.create(policy=quick, clock="acknowledge", seconds=8 * HOUR)
    time_machine.move_to(datetime(2026, 12, 23, 10, tzinfo=UTC), tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    time_machine.move_to(datetime(2026, 12, 23, 11, tzinfo=UTC), tick=False)
    acknowledge(complaint, agent)

    due = datetime(2026, 12, 30, 17, tzinfo=UTC)
    time_machine.move_to(due, tick=False)
    sweep(due)

    summary = clock_of(complaint, "summary_resolution")
    assert (summary.state, summary.breached_at) == (ClockState.BREACHED, due)
    assert not Escalation.objects.filter(complaint=complaint).exists()


@pytest.mark.django_db
def test_cfpb_initial_response_is_stopped_by_the_acknowledgement(
    make_complaint, agent, time_machine
):
    received = datetime(2026, 11, 11, 10, tzinfo=NEW_YORK)
    time_machine.move_to(received, tick=False)
    complaint = make_complaint(jurisdiction="US", regulatory_profile="us_cfpb")

    initial = clock_of(complaint, "initial_response")
    assert (initial.basis, initial.regulatory_profile) == ("calendar", "us_cfpb")
    assert initial.due_at == datetime(2026, 11, 26, 10, tzinfo=NEW_YORK)
    assert initial.target_seconds == 15 * 24 * HOUR
    # The Standard policy's 40 business hours beat the CFPB's 60 days for resolve.
    assert clock_of(complaint, "resolve").policy.name == "Standard"

    time_machine.move_to(received + timedelta(days=2), tick=False)
    acknowledge(complaint, agent)
    initial.refresh_from_db()
    assert initial.state == ClockState.MET


@pytest.mark.django_db
def test_asic_24_hour_acknowledgement_beats_the_policys_business_day(make_complaint, time_machine):
    received = datetime(2026, 10, 3, 12, tzinfo=SYDNEY)  # Saturday, 02:00 UTC
    time_machine.move_to(received, tick=False)
    complaint = make_complaint(jurisdiction="AU", regulatory_profile="au_asic_rg271")

    ack = clock_of(complaint, "acknowledge")
    # Standard would give Monday 5 October 17:00 UTC; 24 hours is much earlier.
    assert (ack.regulatory_profile, ack.policy) == ("au_asic_rg271", None)
    assert ack.due_at == datetime(2026, 10, 4, 13, tzinfo=SYDNEY)
    assert ack.target_seconds == 24 * HOUR
    assert ack.warn_at == received.astimezone(UTC) + timedelta(hours=24 * 0.8)
    complaint.refresh_from_db()
    assert complaint.next_deadline_at == datetime(2026, 10, 4, 2, tzinfo=UTC)


@pytest.mark.django_db
def test_psd_exceptional_circumstances_move_the_resolve_deadline(make_complaint, time_machine):
    slow = SlaPolicy.objects.create(
        name="Slow", position=1, calendar=SlaPolicy.objects.get(name="Standard").calendar
    )
    SlaTarget.objects.create(policy=slow, clock="acknowledge", seconds=8 * HOUR)
    received = datetime(2027, 3, 18, 12, tzinfo=LONDON)
    time_machine.move_to(received, tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_psd")
    resolve = clock_of(complaint, "resolve")
    assert resolve.due_at == datetime(2027, 4, 12, 16, tzinfo=UTC)

    time_machine.move_to(datetime(2027, 4, 9, 12, tzinfo=LONDON), tick=False)
    clocks.extend_for_exceptional_circumstances(Complaint.objects.get(pk=complaint.pk))
    resolve.refresh_from_db()
    assert resolve.due_at == datetime(2027, 5, 11, 16, tzinfo=UTC)
    assert resolve.started_at == received


@pytest.mark.django_db
def test_a_receipt_time_given_in_local_time_gives_the_same_deadlines(make_complaint):
    """An import may pass the time of receipt in the office's zone; 24 hours stay 24 hours."""
    received = datetime(2026, 10, 3, 12, tzinfo=SYDNEY)  # 02:00 UTC, before AEDT starts
    complaint = make_complaint(received_at=received, regulatory_profile="au_asic_rg271")

    ack = clock_of(complaint, "acknowledge")
    assert ack.due_at == datetime(2026, 10, 4, 2, tzinfo=UTC)
    assert ack.target_seconds == 24 * HOUR
    assert ack.warn_at == datetime(2026, 10, 3, 21, 12, tzinfo=UTC)
