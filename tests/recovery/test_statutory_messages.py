"""Letters a regime gives a legal effect: the FCA written response (DISP 1.6.2R(2)), which
meets the eight-week obligation, and ASIC's IDR delay notification (RG 271.64-271.66), which
is recorded against the 30 days and leaves them running.

Personas (tests/conftest.py): ``agent`` works ``team`` (Billing), to which the complaints are
routed; ``other_agent`` works another team; ``customer_user`` complained; ``outsider`` has no
role at all.

The FCA complaints are received on Friday 20 March 2026 at 23:30 UTC (GMT in London). The
eight weeks of DISP 1.6.2R end with the local date 56 days on: Friday 15 May 2026, on BST by
then, so at 22:59:59.999999 UTC. The ASIC complaints are received on Friday 2 October 2026 at
10:00 in Sydney (AEST); 30 days on is Sunday 1 November, on AEDT by then (UTC+11).
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from common.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from escalation.models import Clock, ClockState
from escalation.services.sweeper import sweep
from recovery import selectors
from recovery.models import Complaint, ComplaintEvent, EventType, Message, State
from recovery.services import lifecycle, messages
from tests.conftest import acknowledge, api_client, resolve
from tests.desk.conftest import signed_in

LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
RECEIVED = datetime(2026, 3, 20, 23, 30, tzinfo=UTC)
EIGHT_WEEKS_END = datetime(2026, 5, 15, 22, 59, 59, 999999, tzinfo=UTC)
WHY = "We are waiting for the card network's records of the two payments."

pytestmark = pytest.mark.django_db


@pytest.fixture
def fca_complaint(make_complaint, agent, time_machine):
    time_machine.move_to(RECEIVED, tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    time_machine.move_to(RECEIVED + timedelta(days=1), tick=False)
    return acknowledge(complaint, agent)


def clock_of(complaint, kind: str = "resolve", *, statutory: bool = True) -> Clock:
    clocks = Clock.objects.filter(complaint=complaint, kind=kind)
    return (
        clocks.exclude(regulatory_profile="").get()
        if statutory
        else clocks.get(regulatory_profile="")
    )


def send(complaint, actor, *, reason=WHY, expected_by=date(2026, 6, 30)) -> Message:
    return messages.complaint_send_written_response(
        complaint=Complaint.objects.get(pk=complaint.pk),
        actor=actor,
        reason=reason,
        expected_by=expected_by,
    )


def answers_of(complaint) -> list[dict]:
    events = ComplaintEvent.objects.filter(
        complaint=complaint, type=EventType.OBLIGATION_ANSWERED
    ).order_by("id")
    return [event.parameters for event in events]


def clock_rows(complaint) -> list[dict]:
    return list(
        Clock.objects.filter(complaint=complaint)
        .order_by("kind", "regulatory_profile")
        .values("kind", "regulatory_profile", "state", "cycle", "due_at", "stopped_at")
    )


# -- the service ---------------------------------------------------------------------------


def test_in_time_it_meets_the_statutory_obligation_and_nothing_else(
    fca_complaint, agent, customer_user, time_machine
):
    sent_at = datetime(2026, 5, 14, 10, tzinfo=LONDON)
    time_machine.move_to(sent_at, tick=False)
    before = {(row["kind"], row["regulatory_profile"]): row for row in clock_rows(fca_complaint)}

    message = send(fca_complaint, agent)

    statutory = clock_of(fca_complaint)
    assert (statutory.state, statutory.stopped_at) == (ClockState.MET, sent_at)
    assert statutory.due_at == EIGHT_WEEKS_END
    # Everything else as it was: the internal resolve target runs on, nothing new started.
    after = {(row["kind"], row["regulatory_profile"]): row for row in clock_rows(fca_complaint)}
    assert after.keys() == before.keys()
    for key, row in after.items():
        if key != ("resolve", "uk_fca_disp"):
            assert row == before[key], key
    assert clock_of(fca_complaint, statutory=False).state == ClockState.RUNNING
    complaint = Complaint.objects.get(pk=fca_complaint.pk)
    assert (complaint.state, complaint.resolved_at) == (State.ACKNOWLEDGED, None)

    assert (message.kind, message.direction, message.author) == (
        "written_response",
        "outbound",
        agent,
    )
    assert message.body == f"{WHY}\n\nWe expect to send you our final response by 30 June 2026."
    assert answers_of(fca_complaint) == [
        {
            "clock": "resolve",
            "cycle": 1,
            "statutory": True,
            "regulatory_profile": "uk_fca_disp",
            "rule": "DISP 1.6.2R",
            "letter_rule": "DISP 1.6.2R(2)",
            "jurisdiction": "GB-ENG",
            "due_at": EIGHT_WEEKS_END.isoformat(),
            "state": "met",
            "answered_at": sent_at.astimezone(UTC).isoformat(),
            "before_deadline": True,
            "message_id": message.pk,
            "message_kind": "written_response",
        }
    ]
    # Bookkeeping for staff: the customer's timeline has the letter, not the obligation.
    theirs = selectors.complaint_detail(reference=complaint.reference, user=customer_user)
    assert EventType.OBLIGATION_ANSWERED not in {event.type for event in theirs.events.all()}
    assert message.pk in {m.pk for m in theirs.messages.all()}


def test_at_the_last_instant_of_the_eighth_week_it_is_in_time(fca_complaint, agent, time_machine):
    time_machine.move_to(EIGHT_WEEKS_END, tick=False)
    send(fca_complaint, agent)
    assert clock_of(fca_complaint).state == ClockState.MET


def test_late_it_answers_the_obligation_but_the_breach_stands(fca_complaint, agent, time_machine):
    late = EIGHT_WEEKS_END + timedelta(microseconds=1)
    time_machine.move_to(late, tick=False)
    send(fca_complaint, agent)

    statutory = clock_of(fca_complaint)
    assert (statutory.state, statutory.breached_at, statutory.stopped_at) == (
        ClockState.BREACHED,
        EIGHT_WEEKS_END,
        late,
    )
    [answer] = answers_of(fca_complaint)
    assert (answer["state"], answer["before_deadline"]) == ("breached", False)


def test_after_the_sweeper_breached_it_the_answer_ends_the_ladder(
    fca_complaint, agent, time_machine
):
    after = EIGHT_WEEKS_END + timedelta(seconds=1)
    time_machine.move_to(after, tick=False)
    sweep(after)
    breached = clock_of(fca_complaint)
    assert breached.state == ClockState.BREACHED
    assert breached.next_escalation_at is not None

    time_machine.move_to(datetime(2026, 5, 18, 9, tzinfo=LONDON), tick=False)
    send(fca_complaint, agent)

    statutory = clock_of(fca_complaint)
    assert (statutory.state, statutory.breached_at) == (ClockState.BREACHED, EIGHT_WEEKS_END)
    assert statutory.stopped_at == datetime(2026, 5, 18, 9, tzinfo=LONDON)
    assert (statutory.next_escalation_at, statutory.escalation_level) == (None, 1)


def test_a_second_one_answers_nothing_and_is_refused(fca_complaint, agent, time_machine):
    time_machine.move_to(datetime(2026, 5, 14, 10, tzinfo=LONDON), tick=False)
    send(fca_complaint, agent)
    time_machine.move_to(datetime(2026, 5, 20, 10, tzinfo=LONDON), tick=False)

    with pytest.raises(TransitionNotAllowed) as refused:
        send(fca_complaint, agent, expected_by=date(2026, 7, 31))

    assert refused.value.message == (
        f"The resolve obligation of {fca_complaint.reference} (DISP 1.6.2R, uk_fca_disp) was "
        "already answered on 14 May 2026 and is met; another written response would answer "
        "nothing. Send a reply instead."
    )
    assert Message.objects.filter(complaint=fca_complaint, kind="written_response").count() == 1
    assert len(answers_of(fca_complaint)) == 1


def test_a_reopened_complaint_has_a_new_obligation_to_answer(
    fca_complaint, agent, supervisor, root_causes, time_machine
):
    time_machine.move_to(datetime(2026, 4, 1, 10, tzinfo=LONDON), tick=False)
    resolve(Complaint.objects.get(pk=fca_complaint.pk), agent)
    time_machine.move_to(datetime(2026, 4, 2, 10, tzinfo=LONDON), tick=False)
    lifecycle.complaint_reopen(
        complaint=Complaint.objects.get(pk=fca_complaint.pk), actor=supervisor, reason="Wrong"
    )
    time_machine.move_to(datetime(2026, 5, 26, 10, tzinfo=LONDON), tick=False)

    send(fca_complaint, agent, expected_by=date(2026, 6, 30))

    [answer] = answers_of(fca_complaint)
    # Reopened Thu 2 Apr (BST): 56 days on is Thu 28 May 2026.
    assert (answer["cycle"], answer["state"]) == (2, "met")
    assert answer["due_at"] == datetime(2026, 5, 28, 22, 59, 59, 999999, tzinfo=UTC).isoformat()


@pytest.mark.parametrize("close", ["resolve", "withdraw"])
def test_a_closed_complaint_takes_none(fca_complaint, agent, root_causes, close):
    if close == "resolve":
        resolve(Complaint.objects.get(pk=fca_complaint.pk), agent)
    else:
        lifecycle.complaint_withdraw(
            complaint=Complaint.objects.get(pk=fca_complaint.pk), actor=agent, reason="Duplicate"
        )
    state = Complaint.objects.get(pk=fca_complaint.pk).state

    with pytest.raises(TransitionNotAllowed) as refused:
        send(fca_complaint, agent)

    assert refused.value.message == (
        f"{fca_complaint.reference} is {state}; a written response is for an open complaint."
    )
    assert refused.value.details == {"state": state}


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (
            "au_asic_rg271",
            "A written response has no legal effect under au_asic_rg271 (Australia ASIC RG "
            "271), the profile of {ref}; it has one under uk_fca_disp (UK FCA DISP). Send a "
            "reply instead.",
        ),
        # Payment services keep their own scheme: a holding reply and 35 business days.
        (
            "uk_fca_psd",
            "A written response has no legal effect under uk_fca_psd (UK FCA payment services "
            "(DISP 1.6.2AR)), the profile of {ref}; it has one under uk_fca_disp (UK FCA "
            "DISP). Send a reply instead.",
        ),
        (
            "",
            "{ref} is under no regulatory profile, so a written response would have no legal "
            "effect; it has one under uk_fca_disp (UK FCA DISP). Send a reply instead.",
        ),
    ],
)
def test_a_complaint_under_another_regime_takes_none(
    make_complaint, agent, profile, expected, time_machine
):
    time_machine.move_to(RECEIVED, tick=False)
    complaint = make_complaint(regulatory_profile=profile)

    with pytest.raises(ValidationFailed) as refused:
        send(complaint, agent)

    assert refused.value.message == expected.format(ref=complaint.reference)
    assert not Message.objects.filter(complaint=complaint, kind="written_response").exists()


def test_only_staff_who_work_the_complaint_send_one(
    fca_complaint, customer_user, outsider, other_agent
):
    for actor in (customer_user, outsider, other_agent):
        with pytest.raises(PermissionDenied) as refused:
            send(fca_complaint, actor)
        assert refused.value.message == f"You may not write on {fca_complaint.reference}."
    assert clock_of(fca_complaint).state == ClockState.RUNNING


def test_it_needs_a_reason_and_a_date_still_to_come(fca_complaint, agent, time_machine):
    time_machine.move_to(datetime(2026, 5, 14, 0, 30, tzinfo=LONDON), tick=False)
    with pytest.raises(ValidationFailed) as blank:
        send(fca_complaint, agent, reason="  ")
    assert blank.value.details == {"reason": ["Required."]}

    # 00:30 on 14 May in London is still 13 May in UTC: "today" is London's.
    with pytest.raises(ValidationFailed) as passed:
        send(fca_complaint, agent, expected_by=date(2026, 5, 13))
    assert passed.value.details == {"expected_by": ["Give a date from 2026-05-14 on."]}

    send(fca_complaint, agent, expected_by=date(2026, 5, 14))
    assert clock_of(fca_complaint).state == ClockState.MET


# -- through the API -----------------------------------------------------------------------


def url_of(complaint) -> str:
    return f"/api/complaints/{complaint.reference}/written-response/"


def test_the_api_sends_it_and_the_detail_shows_which_obligation_it_met(
    fca_complaint, agent, time_machine
):
    time_machine.move_to(datetime(2026, 5, 14, 10, tzinfo=LONDON), tick=False)
    client = api_client(agent)

    answer = client.post(
        url_of(fca_complaint), {"reason": WHY, "expected_by": "2026-06-30"}, format="json"
    )

    assert answer.status_code == 201, answer.json()
    assert answer.json()["kind"] == "written_response"
    detail = client.get(f"/api/complaints/{fca_complaint.reference}/").json()
    [statutory] = [c for c in detail["clocks"] if c["kind"] == "resolve" and c["statutory"]]
    assert (statutory["state"], statutory["rule"]) == ("met", "DISP 1.6.2R")
    [event] = [e for e in detail["timeline"] if e["type"] == "obligation_answered"]
    assert event["parameters"]["message_id"] == answer.json()["id"]
    assert event["parameters"]["letter_rule"] == "DISP 1.6.2R(2)"
    assert detail["state"] == "acknowledged"


def test_the_api_answers_who_state_and_profile_before_the_fields(
    fca_complaint, make_complaint, agent, customer_user, outsider, root_causes
):
    empty = {}
    mine = api_client(customer_user).post(url_of(fca_complaint), empty, format="json")
    assert mine.status_code == 403
    # Someone without a role cannot see the complaint at all.
    unseen = api_client(outsider).post(url_of(fca_complaint), empty, format="json")
    assert unseen.status_code == 404
    other = make_complaint(regulatory_profile="au_asic_rg271")
    refused = api_client(agent).post(url_of(other), empty, format="json")
    assert refused.status_code == 400
    assert refused.json()["details"] == {
        "regulatory_profile": ["au_asic_rg271 has no written response."]
    }

    missing = api_client(agent).post(url_of(fca_complaint), {"reason": WHY}, format="json")
    assert missing.status_code == 400
    assert set(missing.json()["details"]) == {"expected_by"}

    resolve(Complaint.objects.get(pk=fca_complaint.pk), agent)
    closed = api_client(agent).post(url_of(fca_complaint), empty, format="json")
    assert closed.status_code == 409
    assert closed.json()["error"] == "transition_not_allowed"


# -- through the desk ----------------------------------------------------------------------


def desk_url(complaint) -> str:
    return f"/desk/complaints/{complaint.reference}/"


def test_the_desk_offers_it_only_where_it_answers_an_obligation(
    fca_complaint, make_complaint, agent
):
    client = signed_in(agent)
    assert "Send the written response" in client.get(desk_url(fca_complaint)).content.decode()
    other = make_complaint(regulatory_profile="uk_fca_psd")
    assert "Send the written response" not in client.get(desk_url(other)).content.decode()


def test_the_desk_form_sends_it(fca_complaint, agent, time_machine):
    time_machine.move_to(datetime(2026, 5, 14, 10, tzinfo=LONDON), tick=False)
    client = signed_in(agent)

    sent = client.post(
        f"{desk_url(fca_complaint)}written-response/",
        {"written_response-reason": WHY, "written_response-expected_by": "2026-06-30"},
        follow=True,
    )

    assert sent.redirect_chain == [(desk_url(fca_complaint), 302)]
    page = sent.content.decode()
    assert "Written response sent: the statutory deadline is answered" in page
    assert "Statutory obligation answered (DISP 1.6.2R)" in page
    assert clock_of(fca_complaint).state == ClockState.MET

    again = client.post(
        f"{desk_url(fca_complaint)}written-response/",
        {"written_response-reason": WHY, "written_response-expected_by": "2026-06-30"},
    )
    assert again.status_code == 409
    assert "was already answered on 14 May 2026" in again.content.decode()


def test_the_desk_form_says_what_is_missing(fca_complaint, agent):
    answer = signed_in(agent).post(f"{desk_url(fca_complaint)}written-response/", {})
    assert answer.status_code == 400
    page = answer.content.decode()
    assert "Say why there is no final response yet." in page
    assert "Say when the final response is expected." in page


# -- the IDR delay notification --------------------------------------------------------------

THIRTY_DAYS_END = datetime(2026, 11, 1, 12, 59, 59, 999999, tzinfo=UTC)
DELAY = "We need your other bank's statements, which it has not yet sent us."


@pytest.fixture
def asic_complaint(make_complaint, agent, time_machine):
    time_machine.move_to(datetime(2026, 10, 2, 10, tzinfo=SYDNEY), tick=False)
    complaint = make_complaint(regulatory_profile="au_asic_rg271", jurisdiction="AU-NSW")
    return acknowledge(complaint, agent)


def notify(complaint, actor, **fields) -> Message:
    return messages.complaint_send_delay_notification(
        complaint=Complaint.objects.get(pk=complaint.pk), actor=actor, reason=DELAY, **fields
    )


def notices_of(complaint) -> list[dict]:
    events = ComplaintEvent.objects.filter(
        complaint=complaint, type=EventType.DELAY_NOTIFIED
    ).order_by("id")
    return [event.parameters for event in events]


def test_a_delay_notification_is_recorded_and_the_30_days_run_on(
    asic_complaint, agent, root_causes, time_machine
):
    sent_at = datetime(2026, 10, 28, 15, tzinfo=SYDNEY)
    time_machine.move_to(sent_at, tick=False)

    message = notify(asic_complaint, agent, expected_by=date(2026, 11, 13))

    assert message.body == f"{DELAY}\n\nWe expect to send you our response by 13 November 2026."
    statutory = clock_of(asic_complaint)
    assert (statutory.state, statutory.stopped_at, statutory.due_at) == (
        ClockState.RUNNING,
        None,
        THIRTY_DAYS_END,
    )
    assert notices_of(asic_complaint) == [
        {
            "clock": "resolve",
            "cycle": 1,
            "statutory": True,
            "regulatory_profile": "au_asic_rg271",
            "rule": "RG 271.56",
            "letter_rule": "RG 271.64-271.66",
            "jurisdiction": "AU-NSW",
            "due_at": THIRTY_DAYS_END.isoformat(),
            "state": "running",
            "answered_at": sent_at.astimezone(UTC).isoformat(),
            "before_deadline": True,
            "message_id": message.pk,
            "message_kind": "delay_notification",
        }
    ]
    assert answers_of(asic_complaint) == []

    # The law's own rule decides: a response after the 30 days is late, notice or not.
    time_machine.move_to(datetime(2026, 11, 3, 10, tzinfo=SYDNEY), tick=False)
    resolve(Complaint.objects.get(pk=asic_complaint.pk), agent)
    statutory.refresh_from_db()
    assert (statutory.state, statutory.breached_at) == (ClockState.BREACHED, THIRTY_DAYS_END)


def test_a_notice_after_the_timeframe_is_recorded_as_late_and_several_may_be_sent(
    asic_complaint, agent, time_machine
):
    time_machine.move_to(datetime(2026, 10, 30, 9, tzinfo=SYDNEY), tick=False)
    notify(asic_complaint, agent)
    time_machine.move_to(datetime(2026, 11, 2, 9, tzinfo=SYDNEY), tick=False)
    notify(asic_complaint, agent)

    first, second = notices_of(asic_complaint)
    assert (first["before_deadline"], second["before_deadline"]) == (True, False)
    assert clock_of(asic_complaint).stopped_at is None


def test_a_delay_notification_has_no_effect_under_the_fca(fca_complaint, agent):
    with pytest.raises(ValidationFailed) as refused:
        notify(fca_complaint, agent)

    assert refused.value.message == (
        "A delay notification has no legal effect under uk_fca_disp (UK FCA DISP), the profile "
        f"of {fca_complaint.reference}; it has one under ie_cbi_cpc (Ireland Central Bank "
        "Consumer Protection Code), au_asic_rg271 (Australia ASIC RG 271), "
        "au_asic_rg271_credit (Australia ASIC RG 271: default and hardship notices), "
        "au_asic_rg271_super (Australia ASIC RG 271: superannuation trustees). Send a reply "
        "instead."
    )


def test_the_api_and_the_desk_send_a_delay_notification(asic_complaint, agent, customer_user):
    url = f"/api/complaints/{asic_complaint.reference}/delay-notification/"
    mine = api_client(customer_user).post(url, {"reason": DELAY}, format="json")
    assert mine.status_code == 403

    sent = api_client(agent).post(url, {"reason": DELAY}, format="json")
    assert sent.status_code == 201, sent.json()
    assert (sent.json()["kind"], sent.json()["body"]) == ("delay_notification", DELAY)

    client = signed_in(agent)
    page = client.post(
        f"{desk_url(asic_complaint)}delay-notification/",
        {"delay_notification-reason": DELAY},
        follow=True,
    ).content.decode()
    assert "Delay notification sent and recorded; the statutory deadline still stands." in page
    assert "Delay of a statutory response notified (RG 271.56)" in page
    assert len(notices_of(asic_complaint)) == 2
    assert "Send the written response" not in page
