"""Ireland: the Central Bank's Consumer Protection Code 2012, Provision 10.9.

Acknowledge within 5 business days, update the consumer at least every 20 business days,
resolve within 40; all counted as close of business (17:00 in Dublin) on the Nth business day
after the day of receipt. Every expected instant is worked out by hand and written as a
literal, with the count in a comment.

Dates that matter (Irish public holidays, checked against the `holidays` package):
- Dublin: IST (UTC+1) from Sun 29 Mar 2026, Sun 28 Mar 2027; GMT again from Sun 25 Oct 2026.
- 2026: St Patrick's Day Tue 17 Mar, Easter Monday 6 Apr, October bank holiday Mon 26 Oct,
  Christmas Fri 25 Dec, St Stephen's Day Sat 26 Dec.
- 2027: New Year's Day Fri 1 Jan, St Brigid's Day Mon 1 Feb, St Patrick's Day Wed 17 Mar,
  Easter Monday 29 Mar (Good Friday is not a public holiday), May bank holiday Mon 3 May;
  Christmas Sat 25 and St Stephen's Day Sun 26 Dec.
- 2028: New Year's Day Sat 1 Jan, St Brigid's Day Mon 7 Feb; 2028 is a leap year.
- Irish law gives no weekday in lieu of a public holiday on a weekend: Mon 28 Dec 2026, Mon
  27 and Tue 28 Dec 2027 and Mon 3 Jan 2028 are business days.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from common.errors import TransitionNotAllowed, ValidationFailed
from escalation import regulatory
from escalation.models import Clock, ClockState
from escalation.services.sweeper import sweep
from recovery.models import Complaint, ComplaintEvent, EventType
from recovery.services import lifecycle, messages
from tests.conftest import acknowledge, resolve

DUBLIN = ZoneInfo("Europe/Dublin")
CPC = regulatory.PROFILES["ie_cbi_cpc"]


def deadline(clock: str) -> regulatory.Deadline:
    return next(d for d in CPC.deadlines if d.clock == clock)


CASES = [
    # -- 10.9(a): acknowledge within 5 business days.
    pytest.param(
        "acknowledge",
        datetime(2026, 3, 25, 23, 59, tzinfo=DUBLIN),  # Wed 23:59, GMT
        # Thu 26 (1), Fri 27 (2); IST from Sun 29; Mon 30 (3), Tue 31 (4), Wed 1 Apr (5).
        datetime(2026, 4, 1, 16, tzinfo=UTC),
        id="ack-at-23-59-over-ist-start",
    ),
    pytest.param(
        "acknowledge",
        datetime(2026, 3, 17, 10, tzinfo=DUBLIN),  # St Patrick's Day
        # Wed 18 (1), Thu 19 (2), Fri 20 (3), Mon 23 (4), Tue 24 (5).
        datetime(2026, 3, 24, 17, tzinfo=UTC),
        id="ack-received-on-st-patricks-day",
    ),
    pytest.param(
        "acknowledge",
        datetime(2026, 12, 23, 12, tzinfo=DUBLIN),
        # Thu 24 (1); Fri 25 off; Mon 28 (2), no day in lieu of St Stephen's; Tue 29 (3),
        # Wed 30 (4), Thu 31 (5).
        datetime(2026, 12, 31, 17, tzinfo=UTC),
        id="ack-christmas-2026-no-day-in-lieu",
    ),
    pytest.param(
        "acknowledge",
        datetime(2027, 12, 24, 9, tzinfo=DUBLIN),
        # Christmas and St Stephen's fall on the weekend: Mon 27 (1), Tue 28 (2), Wed 29
        # (3), Thu 30 (4), Fri 31 (5).
        datetime(2027, 12, 31, 17, tzinfo=UTC),
        id="ack-christmas-2027",
    ),
    # -- 10.9(c): an update at least every 20 business days.
    pytest.param(
        "customer_update",
        datetime(2026, 10, 19, 10, tzinfo=DUBLIN),  # Mon, IST
        # Tue 20 .. Fri 23 (4); Mon 26 off; Tue 27 .. Fri 30 (8); GMT since Sun 25;
        # Mon 2 .. Fri 6 Nov (13); 9 .. 13 (18); Mon 16 (19), Tue 17 Nov (20).
        datetime(2026, 11, 17, 17, tzinfo=UTC),
        id="update-20-days-over-ist-end-and-the-october-holiday",
    ),
    pytest.param(
        "customer_update",
        datetime(2028, 2, 14, 10, tzinfo=DUBLIN),  # Mon
        # Tue 15 .. Fri 18 (4); 21 .. 25 (9); Mon 28 (10), Tue 29 Feb (11), Wed 1 Mar (12),
        # Thu 2 (13), Fri 3 (14); 6 .. 10 (19); Mon 13 Mar (20).
        datetime(2028, 3, 13, 17, tzinfo=UTC),
        id="update-20-days-over-a-leap-day",
    ),
    # -- 10.9(d): resolve within 40 business days.
    pytest.param(
        "resolve",
        datetime(2026, 12, 17, 14, tzinfo=DUBLIN),  # Thu
        # Fri 18 (1); 21 .. 24 (5); 25 off; Mon 28 .. Thu 31 (9); 1 Jan off; 4 .. 8 (14);
        # 11 .. 15 (19); 18 .. 22 (24); 25 .. 29 (29); Mon 1 Feb off (St Brigid's);
        # Tue 2 .. Fri 5 (33); 8 .. 12 (38); Mon 15 (39), Tue 16 Feb 2027 (40).
        datetime(2027, 2, 16, 17, tzinfo=UTC),
        id="resolve-40-days-over-new-year-2027-and-st-brigids-day",
    ),
    pytest.param(
        "resolve",
        datetime(2027, 12, 26, 11, tzinfo=DUBLIN),  # St Stephen's Day, a Sunday
        # Mon 27 (1) .. Fri 31 (5); Mon 3 Jan (6), no day in lieu of 1 Jan; 3 .. 7 (10);
        # 10 .. 14 (15); 17 .. 21 (20); 24 .. 28 (25); Mon 31 Jan (26) .. Fri 4 Feb (30);
        # Mon 7 Feb off (St Brigid's); Tue 8 .. Fri 11 (34); 14 .. 18 (39); Mon 21 Feb (40).
        datetime(2028, 2, 21, 17, tzinfo=UTC),
        id="resolve-40-days-received-on-st-stephens-day-2027",
    ),
    pytest.param(
        "resolve",
        datetime(2027, 3, 8, 23, 59, tzinfo=DUBLIN),  # Mon 23:59, GMT
        # Tue 9 .. Fri 12 (4); Mon 15 (5), Tue 16 (6), Wed 17 off, Thu 18 (7), Fri 19 (8);
        # 22 .. Fri 26 (13), Good Friday being a working day; Mon 29 off; IST since Sun 28;
        # Tue 30 .. Fri 2 Apr (17); 5 .. 9 (22); 12 .. 16 (27); 19 .. 23 (32); 26 .. 30
        # (37); Mon 3 May off; Tue 4 (38), Wed 5 (39), Thu 6 May (40), 17:00 IST.
        datetime(2027, 5, 6, 16, tzinfo=UTC),
        id="resolve-40-days-at-23-59-over-ist-start-and-easter-2027",
    ),
    pytest.param(
        "resolve",
        datetime(2026, 10, 24, 10, tzinfo=DUBLIN),  # Sat, IST
        # Mon 26 off; Tue 27 .. Fri 30 (4); GMT since Sun 25; Nov 2 .. 6 (9); 9 .. 13 (14);
        # 16 .. 20 (19); 23 .. 27 (24); 30 .. 4 Dec (29); 7 .. 11 (34); 14 .. 18 (39);
        # Mon 21 Dec (40).
        datetime(2026, 12, 21, 17, tzinfo=UTC),
        id="resolve-40-days-received-on-a-saturday-over-ist-end",
    ),
]


@pytest.mark.parametrize(("clock", "received", "expected"), CASES)
def test_statutory_deadline(clock, received, expected):
    assert CPC.due_at(deadline(clock), received, "IE") == expected


# -- the update obligation on a complaint ---------------------------------------------------

RECEIVED = datetime(2026, 10, 19, 10, tzinfo=DUBLIN)
FIRST_UPDATE_DUE = datetime(2026, 11, 17, 17, tzinfo=UTC)  # the case above


def update_clock(complaint) -> Clock:
    return Clock.objects.exclude(regulatory_profile="").get(
        complaint=complaint, kind="customer_update"
    )


def answers_of(complaint) -> list[dict]:
    rows = ComplaintEvent.objects.filter(complaint=complaint, type=EventType.OBLIGATION_ANSWERED)
    return [event.parameters for event in rows.order_by("id")]


@pytest.fixture
def irish_complaint(make_complaint, agent, time_machine):
    time_machine.move_to(RECEIVED, tick=False)
    complaint = make_complaint(regulatory_profile="ie_cbi_cpc", jurisdiction="IE")
    time_machine.move_to(RECEIVED + timedelta(hours=2), tick=False)
    return acknowledge(complaint, agent)


@pytest.mark.django_db
def test_an_irish_complaint_owes_all_three_obligations(irish_complaint):
    statutory = {
        clock.kind: (clock.rule, clock.due_at)
        for clock in Clock.objects.filter(complaint=irish_complaint).exclude(regulatory_profile="")
    }
    assert statutory == {
        # Mon 19 Oct: Tue 20 .. Fri 23 (4); Mon 26 off; Tue 27 Oct (5), on GMT.
        "acknowledge": ("CPC 2012 Provision 10.9(a)", datetime(2026, 10, 27, 17, tzinfo=UTC)),
        "customer_update": ("CPC 2012 Provision 10.9(c)", FIRST_UPDATE_DUE),
        # As the update's count, on: Wed 18 .. Fri 20 Nov (23); 23 .. 27 (28); 30 .. 4 Dec
        # (33); 7 .. 11 (38); Mon 14 (39), Tue 15 Dec (40).
        "resolve": ("CPC 2012 Provision 10.9(d)", datetime(2026, 12, 15, 17, tzinfo=UTC)),
    }


@pytest.mark.django_db
def test_each_message_to_the_customer_meets_the_update_and_starts_the_next(
    irish_complaint, agent, customer_user, time_machine
):
    time_machine.move_to(datetime(2026, 10, 30, 12, tzinfo=DUBLIN), tick=False)
    # Neither the customer's own message nor an internal note is an update.
    messages.message_add(complaint=irish_complaint, actor=customer_user, body="Any news?")
    messages.message_add(complaint=irish_complaint, actor=agent, body="Chased.", internal=True)
    assert (update_clock(irish_complaint).cycle, update_clock(irish_complaint).state) == (
        1,
        ClockState.RUNNING,
    )

    sent_at = datetime(2026, 11, 5, 11, tzinfo=DUBLIN)
    time_machine.move_to(sent_at, tick=False)
    reply = messages.message_add(complaint=irish_complaint, actor=agent, body="Still on it.")

    clock = update_clock(irish_complaint)
    # Thu 5 Nov: Fri 6 (1); 9 .. 13 (6); 16 .. 20 (11); 23 .. 27 (16); Mon 30 (17),
    # Tue 1 Dec (18), Wed 2 (19), Thu 3 Dec (20).
    assert (clock.cycle, clock.state, clock.started_at, clock.due_at) == (
        2,
        ClockState.RUNNING,
        sent_at,
        datetime(2026, 12, 3, 17, tzinfo=UTC),
    )
    [answer] = answers_of(irish_complaint)
    assert answer == {
        "clock": "customer_update",
        "cycle": 1,
        "statutory": True,
        "regulatory_profile": "ie_cbi_cpc",
        "rule": "CPC 2012 Provision 10.9(c)",
        "letter_rule": "",
        "jurisdiction": "IE",
        "due_at": FIRST_UPDATE_DUE.isoformat(),
        "state": "met",
        "answered_at": sent_at.astimezone(UTC).isoformat(),
        "before_deadline": True,
        "message_id": reply.pk,
        "message_kind": "reply",
    }


@pytest.mark.django_db
def test_a_missed_update_breaches_escalates_and_the_late_one_starts_the_next(
    irish_complaint, agent, time_machine
):
    due = FIRST_UPDATE_DUE
    time_machine.move_to(due + timedelta(seconds=1), tick=False)
    sweep(due + timedelta(seconds=1))
    assert update_clock(irish_complaint).state == ClockState.BREACHED
    assert update_clock(irish_complaint).escalation_level == 1

    late = datetime(2026, 12, 7, 9, 30, tzinfo=DUBLIN)
    time_machine.move_to(late, tick=False)
    messages.complaint_send_holding_reply(
        complaint=irish_complaint, actor=agent, message="We are still waiting for records."
    )

    [answer] = answers_of(irish_complaint)
    assert (answer["cycle"], answer["state"], answer["before_deadline"]) == (1, "breached", False)
    assert answer["message_kind"] == "holding"
    clock = update_clock(irish_complaint)
    # Mon 7 Dec: Tue 8 .. Fri 11 (4); 14 .. 18 (9); Mon 21 .. Thu 24 (13); Fri 25 off;
    # Mon 28 (14) .. Thu 31 (17); Fri 1 Jan off; Mon 4 (18), Tue 5 (19), Wed 6 Jan 2027 (20).
    assert (clock.cycle, clock.state, clock.escalation_level, clock.due_at) == (
        2,
        ClockState.RUNNING,
        0,
        datetime(2027, 1, 6, 17, tzinfo=UTC),
    )


@pytest.mark.django_db
def test_resolution_ends_the_updates_and_reopening_starts_them_again(
    irish_complaint, agent, supervisor, root_causes, time_machine
):
    time_machine.move_to(datetime(2026, 11, 10, 12, tzinfo=DUBLIN), tick=False)
    resolve(Complaint.objects.get(pk=irish_complaint.pk), agent)
    clock = update_clock(irish_complaint)
    assert (clock.cycle, clock.state) == (1, ClockState.MET)
    # Letters to a resolved complaint's customer restart nothing.
    messages.message_add(complaint=irish_complaint, actor=agent, body="For your records.")
    assert update_clock(irish_complaint).state == ClockState.MET

    reopened_at = datetime(2026, 11, 12, 12, tzinfo=DUBLIN)
    time_machine.move_to(reopened_at, tick=False)
    lifecycle.complaint_reopen(
        complaint=Complaint.objects.get(pk=irish_complaint.pk), actor=supervisor, reason="No"
    )
    clock = update_clock(irish_complaint)
    # Thu 12 Nov: Fri 13 (1); 16 .. 20 (6); 23 .. 27 (11); 30 .. 4 Dec (16); Mon 7 (17),
    # Tue 8 (18), Wed 9 (19), Thu 10 Dec (20).
    assert (clock.cycle, clock.state, clock.due_at) == (
        2,
        ClockState.RUNNING,
        datetime(2026, 12, 10, 17, tzinfo=UTC),
    )


@pytest.mark.django_db
def test_the_delay_notification_after_40_days_is_an_update_too(
    irish_complaint, agent, time_machine
):
    after_forty = datetime(2026, 12, 16, 10, tzinfo=DUBLIN)
    time_machine.move_to(after_forty, tick=False)

    # 10.9(d) requires the anticipated timeframe: the date may not be left out.
    with pytest.raises(ValidationFailed) as undated:
        messages.complaint_send_delay_notification(
            complaint=irish_complaint, actor=agent, reason="The valuation report is late."
        )
    assert undated.value.details == {"expected_by": ["Required."]}
    messages.complaint_send_delay_notification(
        complaint=irish_complaint,
        actor=agent,
        reason="The valuation report is late.",
        expected_by=date(2027, 1, 15),
    )

    notice = ComplaintEvent.objects.get(complaint=irish_complaint, type=EventType.DELAY_NOTIFIED)
    # 10.9(d) asks for it once the 40 days have passed: it is recorded as after them.
    assert (notice.parameters["rule"], notice.parameters["before_deadline"]) == (
        "CPC 2012 Provision 10.9(d)",
        False,
    )
    assert update_clock(irish_complaint).started_at == after_forty


@pytest.mark.django_db
def test_the_delay_notification_is_refused_before_the_40_days_have_passed(
    irish_complaint, agent, time_machine
):
    time_machine.move_to(datetime(2026, 12, 1, 10, tzinfo=DUBLIN), tick=False)
    with pytest.raises(TransitionNotAllowed) as early:
        messages.complaint_send_delay_notification(
            complaint=irish_complaint,
            actor=agent,
            reason="The valuation report is late.",
            expected_by=date(2027, 1, 15),
        )
    assert "once the deadline has passed (CPC 2012 Provision 10.9(d))" in early.value.message
    assert not ComplaintEvent.objects.filter(
        complaint=irish_complaint, type=EventType.DELAY_NOTIFIED
    ).exists()
