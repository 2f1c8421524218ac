"""Regulatory profiles: statutory deadlines counted the way the rules count them.

Every expected instant below is worked out by hand, from the rules as docs/regulatory-profiles.md
states them, and written as a literal:
- "within N calendar days" ends with the local date N days after the local date of receipt
  (23:59:59.999999 in the profile's region);
- "by close of business on the Nth business day after receipt" is 17:00 local on the Nth
  Monday-Friday after the day of receipt that is not a public holiday of that region;
- ASIC's acknowledgement: 24 hours or close of business on the next business day, whichever
  is later.

Dates that matter (checked against the published bank-holiday lists):
- UK: BST starts Sun 29 Mar 2026 / Sun 28 Mar 2027, ends Sun 25 Oct 2026. Easter 2026: Good
  Friday 3 Apr, Easter Monday 6 Apr (England, Wales, N. Ireland only). St Patrick's Day Tue
  17 Mar 2026 (N. Ireland only). Christmas 2026: Fri 25, Boxing Day observed Mon 28, New Year
  Fri 1 Jan 2027; Scotland also Mon 4 Jan 2027 (2 January observed). Christmas 2027: Mon 27
  and Tue 28 Dec observed, New Year observed Mon 3 Jan 2028; Scotland also Tue 4 Jan 2028.
- New York: EDT starts Sun 8 Mar 2026 and ends Sun 1 Nov 2026; 2028 is a leap year.
- Sydney: AEDT starts Sun 4 Oct 2026 (Labour Day Mon 5 Oct, NSW); AEDT ends Sun 5 Apr 2026;
  Boxing Day Sat 26 Dec 2026 observed Mon 28 Dec. Melbourne Cup Tue 3 Nov 2026 (Victoria).
"""

from datetime import UTC, date, datetime, timedelta
from importlib import import_module
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps

from common.errors import TransitionNotAllowed, ValidationFailed
from escalation import calendars, regulatory
from escalation.models import Clock, ClockState, Escalation, SlaPolicy, SlaTarget
from escalation.services.sweeper import sweep
from notifications.models import Outbox
from recovery.models import Complaint, ComplaintEvent, EventType, Message
from recovery.services import messages, sla
from tests.conftest import acknowledge, resolve

HOUR = 3600
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
MELBOURNE = ZoneInfo("Australia/Melbourne")
LAST = 999999  # the last microsecond of a day: "by the end of" that day

DISP = regulatory.PROFILES["uk_fca_disp"]
PSD = regulatory.PROFILES["uk_fca_psd"]
CFPB = regulatory.PROFILES["us_cfpb"]
ASIC = regulatory.PROFILES["au_asic_rg271"]


def deadline(profile, clock: str, *, extended: bool = False) -> regulatory.Deadline:
    found = profile.extended_deadlines if extended else profile.deadlines
    return next(d for d in found if d.clock == clock)


def end_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, LAST, tzinfo=zone)


def test_each_region_counts_its_own_holidays_in_its_own_zone():
    england = DISP.calendar([2026, 2027])
    scotland = DISP.calendar([2026, 2027], "GB-SCT")
    assert not calendars.is_business_day(date(2026, 4, 6), england)  # Easter Monday
    assert calendars.is_business_day(date(2026, 4, 6), scotland)
    assert not calendars.is_business_day(date(2027, 1, 4), scotland)  # 2 January observed
    assert calendars.is_business_day(date(2027, 1, 4), england)
    assert not calendars.is_business_day(date(2026, 11, 30), scotland)  # St Andrew's Day
    assert not calendars.is_business_day(date(2026, 3, 17), DISP.calendar([2026], "GB-NIR"))
    assert not calendars.is_business_day(date(2026, 11, 26), CFPB.calendar([2026]))
    assert not calendars.is_business_day(date(2026, 10, 5), ASIC.calendar([2026]))
    assert not calendars.is_business_day(date(2026, 11, 3), ASIC.calendar([2026], "AU-VIC"))
    assert ASIC.region("AU-WA").time_zone == "Australia/Perth"
    # No part named, or one the profile does not know: England & Wales, New South Wales.
    assert DISP.region("").code == DISP.region("FR").code == "GB-ENG"
    assert ASIC.region("").code == "AU-NSW"
    assert regulatory.get_profile("") is None
    assert regulatory.get_profile("no_such_profile") is None


# --- the deadlines, pure ----------------------------------------------------------------------

CASES = [
    # -- FCA DISP 1.6.2R, eight weeks: the end of the same weekday eight weeks on.
    pytest.param(
        DISP,
        "resolve",
        "",
        datetime(2026, 3, 20, 23, 30, tzinfo=UTC),  # Fri, GMT
        # 20 Mar + 56 days = Fri 15 May, on BST by then.
        end_of(date(2026, 5, 15), LONDON),
        id="disp-8-weeks-late-friday-over-bst-start",
    ),
    pytest.param(
        DISP,
        "resolve",
        "",
        datetime(2026, 10, 24, 23, 59, tzinfo=LONDON),  # Sat 23:59 BST
        # 24 Oct + 56 days = Sat 19 Dec, on GMT.
        datetime(2026, 12, 19, 23, 59, 59, LAST, tzinfo=UTC),
        id="disp-8-weeks-at-23-59-over-bst-end",
    ),
    pytest.param(
        DISP,
        "resolve",
        "GB-SCT",
        datetime(2028, 2, 29, 10, tzinfo=LONDON),  # leap day
        # 29 Feb + 56 days = Tue 25 Apr 2028 (BST); holidays do not move calendar days.
        datetime(2028, 4, 25, 22, 59, 59, LAST, tzinfo=UTC),
        id="disp-8-weeks-from-a-leap-day",
    ),
    # -- FCA DISP 1.5, summary resolution: close of business on the third business day.
    pytest.param(
        DISP,
        "summary_resolution",
        "GB-ENG",
        datetime(2026, 4, 2, 10, tzinfo=LONDON),
        # Fri 3 Good Friday, Mon 6 Easter Monday; Tue 7 (1), Wed 8 (2), Thu 9 (3).
        datetime(2026, 4, 9, 17, tzinfo=LONDON),
        id="disp-summary-easter-england",
    ),
    pytest.param(
        DISP,
        "summary_resolution",
        "GB-SCT",
        datetime(2026, 4, 2, 10, tzinfo=LONDON),
        # Scotland works Easter Monday: Mon 6 (1), Tue 7 (2), Wed 8 (3).
        datetime(2026, 4, 8, 17, tzinfo=LONDON),
        id="disp-summary-easter-scotland",
    ),
    pytest.param(
        DISP,
        "summary_resolution",
        "GB-NIR",
        datetime(2026, 3, 16, 12, tzinfo=LONDON),
        # Tue 17 St Patrick's Day; Wed 18 (1), Thu 19 (2), Fri 20 (3).
        datetime(2026, 3, 20, 17, tzinfo=LONDON),
        id="disp-summary-st-patricks-northern-ireland",
    ),
    pytest.param(
        DISP,
        "summary_resolution",
        "",
        datetime(2026, 12, 25, 9, tzinfo=LONDON),
        # Received on Christmas Day; Mon 28 Boxing Day observed; Tue 29, Wed 30, Thu 31.
        datetime(2026, 12, 31, 17, tzinfo=LONDON),
        id="disp-summary-received-on-a-holiday",
    ),
    pytest.param(
        DISP,
        "summary_resolution",
        "",
        datetime(2026, 3, 26, 23, 59, tzinfo=LONDON),
        # Out of hours Thursday still counts from Thursday: Fri 27 (1), Mon 30 (2), Tue 31
        # (3) on BST.
        datetime(2026, 3, 31, 16, tzinfo=UTC),
        id="disp-summary-at-23-59-over-bst-start",
    ),
    # -- FCA DISP 1.6.2AR, payment services: 15 business days, across New Year.
    pytest.param(
        PSD,
        "resolve",
        "GB-ENG",
        datetime(2026, 12, 21, 12, tzinfo=LONDON),
        # Tue 22 .. Thu 24 (3); 25, 28 Dec off; Tue 29 .. Thu 31 (6); 1 Jan off;
        # Mon 4 .. Fri 8 (11); Mon 11 .. Thu 14 (15).
        datetime(2027, 1, 14, 17, tzinfo=LONDON),
        id="psd-15-days-new-year-2027-england",
    ),
    pytest.param(
        PSD,
        "resolve",
        "GB-SCT",
        datetime(2026, 12, 21, 12, tzinfo=LONDON),
        # As England, but Mon 4 Jan is off too: one day later.
        datetime(2027, 1, 15, 17, tzinfo=LONDON),
        id="psd-15-days-new-year-2027-scotland",
    ),
    pytest.param(
        PSD,
        "resolve",
        "GB-WLS",
        datetime(2027, 12, 23, 10, tzinfo=LONDON),
        # Fri 24 (1); Mon 27, Tue 28 off; Wed 29 .. Fri 31 (4); Mon 3 Jan off;
        # Tue 4 .. Fri 7 (8); Mon 10 .. Fri 14 (13); Mon 17 (14), Tue 18 (15).
        datetime(2028, 1, 18, 17, tzinfo=LONDON),
        id="psd-15-days-new-year-2028-wales",
    ),
    pytest.param(
        PSD,
        "resolve",
        "GB-SCT",
        datetime(2027, 12, 23, 10, tzinfo=LONDON),
        # As Wales, but Tue 4 Jan is off too.
        datetime(2028, 1, 19, 17, tzinfo=LONDON),
        id="psd-15-days-new-year-2028-scotland",
    ),
    # -- CFPB: 15 and 60 days, counted on New York dates.
    pytest.param(
        CFPB,
        "initial_response",
        "",
        datetime(2026, 10, 23, 22, 30, tzinfo=NEW_YORK),  # Friday night EDT, Saturday UTC
        # 23 Oct + 15 = Sat 7 Nov, on EST by then.
        datetime(2026, 11, 8, 4, 59, 59, LAST, tzinfo=UTC),
        id="cfpb-15-days-late-evening-over-dst-end",
    ),
    pytest.param(
        CFPB,
        "resolve",
        "",
        datetime(2026, 10, 23, 22, 30, tzinfo=NEW_YORK),
        # 23 Oct + 60 = Tue 22 Dec (EST).
        datetime(2026, 12, 23, 4, 59, 59, LAST, tzinfo=UTC),
        id="cfpb-60-days-over-dst-end",
    ),
    pytest.param(
        CFPB,
        "initial_response",
        "",
        datetime(2026, 2, 27, 23, 59, tzinfo=NEW_YORK),
        # 27 Feb + 15 = Sat 14 Mar, on EDT by then.
        datetime(2026, 3, 15, 3, 59, 59, LAST, tzinfo=UTC),
        id="cfpb-15-days-at-23-59-over-dst-start",
    ),
    pytest.param(
        CFPB,
        "initial_response",
        "",
        datetime(2028, 2, 15, 12, tzinfo=NEW_YORK),
        # 29 Feb is day 14 in 2028: day 15 is Wed 1 Mar.
        end_of(date(2028, 3, 1), NEW_YORK),
        id="cfpb-15-days-over-a-leap-day",
    ),
    pytest.param(
        CFPB,
        "initial_response",
        "",
        datetime(2026, 11, 11, 10, tzinfo=NEW_YORK),
        # Sent on Veterans Day, day 15 is Thanksgiving: calendar days do not roll over.
        end_of(date(2026, 11, 26), NEW_YORK),
        id="cfpb-15-days-holiday-to-holiday",
    ),
    # -- ASIC RG 271: 24 hours or one business day, whichever is later; 30 calendar days.
    pytest.param(
        ASIC,
        "acknowledge",
        "",
        datetime(2026, 10, 9, 22, tzinfo=SYDNEY),
        # Friday night: 24 h is Saturday night; Monday 12 Oct closes at 17:00.
        datetime(2026, 10, 12, 17, tzinfo=SYDNEY),
        id="asic-ack-friday-night",
    ),
    pytest.param(
        ASIC,
        "acknowledge",
        "",
        datetime(2026, 12, 26, 10, tzinfo=SYDNEY),
        # Boxing Day (Saturday); Sun 27; Mon 28 Boxing Day observed; Tue 29 17:00.
        datetime(2026, 12, 29, 17, tzinfo=SYDNEY),
        id="asic-ack-boxing-day",
    ),
    pytest.param(
        ASIC,
        "acknowledge",
        "",
        datetime(2026, 10, 3, 12, tzinfo=SYDNEY),  # AEST
        # AEDT starts Sun 4, Mon 5 is Labour Day: Tue 6 Oct 17:00 AEDT.
        datetime(2026, 10, 6, 6, tzinfo=UTC),
        id="asic-ack-over-aedt-start-and-labour-day",
    ),
    pytest.param(
        ASIC,
        "acknowledge",
        "",
        datetime(2026, 11, 10, 16, 30, tzinfo=SYDNEY),
        # Tuesday afternoon: 24 hours (Wed 16:30) ends before Wednesday's close (17:00).
        datetime(2026, 11, 11, 17, tzinfo=SYDNEY),
        id="asic-ack-weekday-afternoon",
    ),
    pytest.param(
        ASIC,
        "acknowledge",
        "",
        datetime(2026, 11, 10, 18, 30, tzinfo=SYDNEY),
        # After hours: 24 hours (Wed 18:30) is later than Wednesday's close.
        datetime(2026, 11, 11, 18, 30, tzinfo=SYDNEY),
        id="asic-ack-weekday-evening-24-hours-later",
    ),
    pytest.param(
        ASIC,
        "acknowledge",
        "AU-VIC",
        datetime(2026, 11, 2, 10, tzinfo=MELBOURNE),
        # Tue 3 is Melbourne Cup day in Victoria: Wed 4 Nov 17:00.
        datetime(2026, 11, 4, 17, tzinfo=MELBOURNE),
        id="asic-ack-melbourne-cup-victoria",
    ),
    pytest.param(
        ASIC,
        "resolve",
        "",
        datetime(2026, 10, 3, 12, tzinfo=SYDNEY),
        # 3 Oct + 30 = Mon 2 Nov (AEDT).
        end_of(date(2026, 11, 2), SYDNEY),
        id="asic-30-days-over-aedt-start",
    ),
    pytest.param(
        ASIC,
        "resolve",
        "",
        datetime(2026, 3, 15, 23, 59, tzinfo=SYDNEY),
        # 15 Mar + 30 = Tue 14 Apr, on AEST (+10) by then.
        datetime(2026, 4, 14, 13, 59, 59, LAST, tzinfo=UTC),
        id="asic-30-days-at-23-59-over-aedt-end",
    ),
]


@pytest.mark.parametrize(("profile", "clock", "region", "received", "expected"), CASES)
def test_statutory_deadline(profile, clock, region, received, expected):
    assert profile.due_at(deadline(profile, clock), received, region) == expected


def test_psd_exceptional_extension_is_35_business_days():
    received = datetime(2027, 3, 18, 12, tzinfo=LONDON)
    # Fri 19 .. Thu 25 (5); Good Friday, Easter Monday; Tue 30 Mar .. Fri 30 Apr (29);
    # Mon 3 May is May Day; Tue 4 .. Tue 11 May (35), 17:00 BST.
    assert PSD.due_at(deadline(PSD, "resolve", extended=True), received) == datetime(
        2027, 5, 11, 17, tzinfo=LONDON
    )


# --- obligations on complaints, beside internal targets ---------------------------------------


def clock_of(complaint, kind: str, *, statutory: bool) -> Clock:
    clocks_of_kind = Clock.objects.filter(complaint=complaint, kind=kind)
    if statutory:
        return clocks_of_kind.exclude(regulatory_profile="").get()
    return clocks_of_kind.get(regulatory_profile="")


@pytest.mark.django_db
def test_fca_complaint_has_both_the_internal_target_and_the_eight_week_obligation(
    make_complaint, time_machine
):
    time_machine.move_to(datetime(2026, 3, 20, 23, 30, tzinfo=UTC), tick=False)
    complaint = make_complaint(jurisdiction="GB-SCT", regulatory_profile="uk_fca_disp")

    internal = clock_of(complaint, "resolve", statutory=False)
    assert (internal.policy.name, internal.rule) == ("Standard", "")
    # The Standard policy: 40 business hours, Mon-Fri 09-17 UTC, from Friday night.
    assert internal.due_at == datetime(2026, 3, 27, 17, tzinfo=UTC)

    statutory = clock_of(complaint, "resolve", statutory=True)
    assert (statutory.regulatory_profile, statutory.rule) == ("uk_fca_disp", "DISP 1.6.2R")
    assert (statutory.jurisdiction, statutory.policy, statutory.pausable) == (
        "GB-SCT",
        None,
        False,
    )
    assert statutory.due_at == datetime(2026, 5, 15, 22, 59, 59, LAST, tzinfo=UTC)
    summary = clock_of(complaint, "summary_resolution", statutory=True)
    # Mon 23 (1), Tue 24 (2), Wed 25 (3), 17:00 GMT.
    assert summary.due_at == datetime(2026, 3, 25, 17, tzinfo=UTC)
    complaint.refresh_from_db()
    assert complaint.next_deadline_at == datetime(2026, 3, 23, 17, tzinfo=UTC)  # acknowledge


@pytest.mark.django_db
def test_breaching_the_internal_target_neither_meets_nor_hides_the_statutory_one(
    make_complaint, agent, supervisor, time_machine
):
    time_machine.move_to(datetime(2026, 3, 20, 23, 30, tzinfo=UTC), tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    acknowledge(complaint, agent)

    internal_due = datetime(2026, 3, 27, 17, tzinfo=UTC)
    time_machine.move_to(internal_due, tick=False)
    assert sweep(internal_due).escalated >= 1
    assert sweep(internal_due).escalated == 0  # once
    internal = clock_of(complaint, "resolve", statutory=False)
    statutory = clock_of(complaint, "resolve", statutory=True)
    assert internal.state == ClockState.BREACHED
    assert (statutory.state, statutory.breached_at) == (ClockState.RUNNING, None)
    complaint.refresh_from_db()
    # The queue still sorts it by a running deadline: the statutory one.
    assert complaint.next_deadline_at == statutory.due_at

    statutory_due = statutory.due_at
    after = statutory_due + timedelta(microseconds=1)
    time_machine.move_to(after, tick=False)
    sweep(after)
    sweep(after)
    statutory.refresh_from_db()
    assert (statutory.state, statutory.breached_at) == (ClockState.BREACHED, statutory_due)
    breaches = ComplaintEvent.objects.filter(complaint=complaint, type=EventType.CLOCK_BREACHED)
    by_kind = sorted(
        (e.parameters["clock"], e.parameters["statutory"], e.parameters["rule"])
        for e in breaches
        if e.parameters["clock"] == "resolve"
    )
    assert by_kind == [("resolve", False, ""), ("resolve", True, "DISP 1.6.2R")]
    # Each breach is told to staff once.
    told = Outbox.objects.filter(complaint_id=complaint.pk, event_type="complaint.clock_breached")
    # (and the summary resolution window, missed on Wednesday 25th, breached on its own).
    assert told.count() == breaches.count() == 3
    # The supervisor hears of the two that escalate, through their escalations (which name the
    # breach), and not of the summary window.
    assert not any(supervisor.pk in row.audience["users"] for row in told)
    escalated = Outbox.objects.filter(complaint_id=complaint.pk, event_type="complaint.escalated")
    assert sum(supervisor.pk in row.audience["users"] for row in escalated) == 2
    first_level = Escalation.objects.filter(complaint=complaint, level=1, manual=False)
    assert sorted(first_level.values_list("clock__regulatory_profile", flat=True)) == [
        "",
        "uk_fca_disp",
    ]
    reasons = set(first_level.values_list("reason", flat=True))
    assert "resolve statutory deadline (DISP 1.6.2R) breached" in reasons
    assert "resolve internal target breached" in reasons


@pytest.mark.django_db
def test_statutory_clocks_run_on_while_internal_ones_pause_for_the_customer(
    make_complaint, agent, time_machine
):
    time_machine.move_to(datetime(2026, 12, 23, 10, tzinfo=UTC), tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    time_machine.move_to(datetime(2026, 12, 23, 12, tzinfo=UTC), tick=False)
    sla.complaint_set_awaiting_customer(complaint=complaint, actor=agent, awaiting=True)

    assert clock_of(complaint, "resolve", statutory=False).state == ClockState.PAUSED
    assert clock_of(complaint, "resolve", statutory=True).state == ClockState.RUNNING
    assert clock_of(complaint, "summary_resolution", statutory=True).state == ClockState.RUNNING


@pytest.mark.django_db
def test_resolving_meets_or_breaches_each_resolve_clock_on_its_own(
    make_complaint, agent, root_causes, time_machine
):
    time_machine.move_to(datetime(2026, 3, 20, 12, tzinfo=UTC), tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    acknowledge(complaint, agent)
    # Five weeks on: far past the internal target, well within the eight weeks.
    time_machine.move_to(datetime(2026, 4, 24, 12, tzinfo=UTC), tick=False)
    resolve(Complaint.objects.get(pk=complaint.pk), agent)

    assert clock_of(complaint, "resolve", statutory=False).state == ClockState.BREACHED
    assert clock_of(complaint, "resolve", statutory=True).state == ClockState.MET


@pytest.mark.django_db
def test_cfpb_obligations_count_from_when_the_cfpb_sent_the_complaint(
    make_complaint, agent, time_machine
):
    received = datetime(2026, 11, 2, 10, tzinfo=NEW_YORK)
    sent = datetime(2026, 11, 11, 10, tzinfo=NEW_YORK)
    time_machine.move_to(sent, tick=False)
    complaint = make_complaint(
        received_at=received, sent_to_company_at=sent, regulatory_profile="us_cfpb"
    )

    initial = clock_of(complaint, "initial_response", statutory=True)
    assert initial.started_at == sent
    assert initial.due_at == end_of(date(2026, 11, 26), NEW_YORK)
    assert clock_of(complaint, "resolve", statutory=True).due_at == end_of(
        date(2027, 1, 10), NEW_YORK
    )
    time_machine.move_to(sent + timedelta(days=2), tick=False)
    acknowledge(complaint, agent)
    initial.refresh_from_db()
    assert initial.state == ClockState.MET


@pytest.mark.django_db
def test_asic_acknowledgement_beside_the_policys_own(make_complaint, time_machine):
    received = datetime(2026, 12, 26, 10, tzinfo=SYDNEY)  # Boxing Day, Saturday
    time_machine.move_to(received, tick=False)
    complaint = make_complaint(jurisdiction="AU-NSW", regulatory_profile="au_asic_rg271")

    ack = clock_of(complaint, "acknowledge", statutory=True)
    assert (ack.rule, ack.basis) == ("RG 271.51", "calendar")
    assert ack.due_at == datetime(2026, 12, 29, 17, tzinfo=SYDNEY)
    assert ack.target_seconds == round((ack.due_at - received).total_seconds())
    assert clock_of(complaint, "acknowledge", statutory=False).policy.name == "Standard"


@pytest.mark.django_db
def test_psd_exceptional_circumstances_move_only_the_statutory_deadline(
    make_complaint, agent, time_machine
):
    received = datetime(2027, 3, 18, 12, tzinfo=LONDON)
    time_machine.move_to(received, tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_psd")
    statutory = clock_of(complaint, "resolve", statutory=True)
    internal = clock_of(complaint, "resolve", statutory=False)
    assert statutory.due_at == datetime(2027, 4, 12, 16, tzinfo=UTC)

    time_machine.move_to(datetime(2027, 4, 9, 12, tzinfo=LONDON), tick=False)
    holding = messages.complaint_send_holding_reply(
        complaint=Complaint.objects.get(pk=complaint.pk),
        actor=agent,
        message="The card scheme's records take until May; we will answer by 11 May.",
        exceptional=True,
    )
    statutory.refresh_from_db()
    assert statutory.due_at == datetime(2027, 5, 11, 16, tzinfo=UTC)
    assert (statutory.started_at, statutory.rule) == (received, "DISP 1.6.2AR(2)")
    assert clock_of(complaint, "resolve", statutory=False).due_at == internal.due_at
    extended = ComplaintEvent.objects.get(complaint=complaint, type=EventType.DEADLINE_EXTENDED)
    assert extended.parameters == {
        "clock": "resolve",
        "cycle": 1,
        "statutory": True,
        "regulatory_profile": "uk_fca_psd",
        "rule": "DISP 1.6.2AR(2)",
        "jurisdiction": "GB-ENG",
        "due_at": datetime(2027, 5, 11, 16, tzinfo=UTC).isoformat(),
        "ground": "holding_reply",
        "previous_rule": "DISP 1.6.2AR(1)",
        "previous_due_at": datetime(2027, 4, 12, 16, tzinfo=UTC).isoformat(),
        "message_id": holding.pk,
    }

    with pytest.raises(TransitionNotAllowed) as again:
        messages.complaint_send_holding_reply(
            complaint=complaint, actor=agent, message="Still on it.", exceptional=True
        )
    assert again.value.message == (
        f"The resolve deadline of {complaint.reference} already runs to 17:00 BST on 11 May "
        "2027 (DISP 1.6.2AR(2))."
    )


@pytest.mark.django_db
def test_an_exceptional_holding_reply_after_the_15_days_or_elsewhere_is_refused(
    make_complaint, agent, time_machine
):
    time_machine.move_to(datetime(2027, 3, 18, 12, tzinfo=LONDON), tick=False)
    psd = make_complaint(regulatory_profile="uk_fca_psd")
    disp = make_complaint(regulatory_profile="uk_fca_disp")
    time_machine.move_to(datetime(2027, 4, 12, 17, 1, tzinfo=LONDON), tick=False)

    with pytest.raises(TransitionNotAllowed) as late:
        messages.complaint_send_holding_reply(
            complaint=psd, actor=agent, message="More time.", exceptional=True
        )
    assert late.value.message == (
        "An exceptional holding reply extends the resolve deadline of "
        f"{psd.reference} only before it passes; it passed at 17:00 BST on 12 April 2027 "
        "(DISP 1.6.2AR(1))."
    )
    with pytest.raises(ValidationFailed) as elsewhere:
        messages.complaint_send_holding_reply(
            complaint=disp, actor=agent, message="More time.", exceptional=True
        )
    assert elsewhere.value.message.startswith(
        "An exceptional holding reply extends no deadline under uk_fca_disp (UK FCA DISP), the "
        f"profile of {disp.reference}; it does under uk_fca_psd"
    )
    # Refused, nothing was sent; without ``exceptional`` it is an ordinary holding reply.
    assert not Message.objects.filter(kind="holding").exists()
    messages.complaint_send_holding_reply(complaint=psd, actor=agent, message="More time.")
    assert clock_of(psd, "resolve", statutory=True).rule == "DISP 1.6.2AR(1)"


@pytest.mark.django_db
def test_a_missed_summary_resolution_is_recorded_but_does_not_escalate(
    make_complaint, agent, time_machine
):
    quick = SlaPolicy.objects.create(
        name="Acknowledge only",
        position=1,
        calendar=SlaPolicy.objects.get(name="Standard").calendar,
    )
    SlaTarget.objects.create(policy=quick, clock="acknowledge", seconds=8 * HOUR)
    time_machine.move_to(datetime(2026, 12, 23, 10, tzinfo=UTC), tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    acknowledge(complaint, agent)

    # Thu 24 (1); Fri 25 and Mon 28 off; Tue 29 (2), Wed 30 (3).
    due = datetime(2026, 12, 30, 17, tzinfo=UTC)
    time_machine.move_to(due, tick=False)
    sweep(due)

    summary = clock_of(complaint, "summary_resolution", statutory=True)
    assert (summary.state, summary.breached_at) == (ClockState.BREACHED, due)
    assert not Escalation.objects.filter(complaint=complaint).exists()


@pytest.mark.django_db
def test_existing_complaints_get_their_obligations_planned_from_receipt(
    make_complaint, agent, time_machine
):
    """The data migration: complaints from before obligations were clocks of their own."""
    time_machine.move_to(datetime(2026, 3, 20, 23, 30, tzinfo=UTC), tick=False)
    open_one = make_complaint(regulatory_profile="uk_fca_disp", jurisdiction="GB-SCT")
    resolved = make_complaint(regulatory_profile="us_cfpb")
    acknowledge(resolved, agent)
    Clock.objects.exclude(regulatory_profile="").delete()
    Complaint.objects.filter(pk=resolved.pk).update(
        state="resolved", resolved_at=datetime(2026, 6, 1, tzinfo=UTC)
    )

    migration = import_module("escalation.migrations.0005_plan_statutory_clocks")
    migration.plan(apps, None)

    resolve_clock = clock_of(open_one, "resolve", statutory=True)
    assert (resolve_clock.state, resolve_clock.rule) == (ClockState.RUNNING, "DISP 1.6.2R")
    assert resolve_clock.due_at == datetime(2026, 5, 15, 22, 59, 59, LAST, tzinfo=UTC)
    assert clock_of(open_one, "summary_resolution", statutory=True).jurisdiction == "GB-SCT"
    # 60 days from Fri 20 Mar (New York) end on Tue 19 May; resolved 1 June: late.
    late = clock_of(resolved, "resolve", statutory=True)
    assert (late.state, late.breached_at) == (ClockState.BREACHED, late.due_at)
    assert late.due_at == end_of(date(2026, 5, 19), NEW_YORK)
    assert clock_of(resolved, "initial_response", statutory=True).state == ClockState.MET
    open_one.refresh_from_db()
    # The next statutory duty: eight weeks (the summary window is a chance, not a duty).
    assert open_one.next_statutory_deadline_at == resolve_clock.due_at
    # Running it again changes nothing.
    before = list(Clock.objects.order_by("pk").values())
    migration.plan(apps, None)
    assert list(Clock.objects.order_by("pk").values()) == before


@pytest.mark.django_db
def test_staff_notifications_tell_a_missed_obligation_from_a_missed_target(
    make_complaint, agent, time_machine
):
    from notifications.delivery import summary_of

    time_machine.move_to(datetime(2026, 3, 20, 23, 30, tzinfo=UTC), tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    acknowledge(complaint, agent)
    after = datetime(2026, 5, 16, tzinfo=UTC)
    time_machine.move_to(after, tick=False)
    sweep(after)

    told = Outbox.objects.filter(complaint_id=complaint.pk, event_type="complaint.clock_breached")
    summaries = sorted(summary_of(row) for row in told)
    about = f"{complaint.reference} “{complaint.subject}”"
    assert summaries == [
        f"{about}: resolve deadline breached",
        f"{about}: resolve statutory deadline (DISP 1.6.2R) breached",
        f"{about}: summary_resolution statutory deadline (DISP 1.5.1R) breached",
    ]
