"""Regulation E: a provisional credit within the first deadline extends the investigation
(12 CFR 1005.11(c)(2)), recorded by a service call.

Personas (tests/conftest.py): ``agent`` works ``team``, to which the complaints are routed;
``customer_user`` complained.

The notices of error arrive on Monday 21 December 2026 at noon in New York. Ten business days
end at 17:00 EST on Wednesday 6 January 2027 (Fri 25 Dec and Fri 1 Jan are holidays); 45 days
end with Thursday 4 February 2027 (tests/escalation/test_regulatory_us.py works both out).
"""

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from common.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from escalation.models import Clock, ClockState
from recovery.models import Complaint, ComplaintEvent, EventType
from recovery.services import regulation
from tests.conftest import acknowledge, api_client, resolve

NEW_YORK = ZoneInfo("America/New_York")
TEN_BUSINESS_DAYS = datetime(2027, 1, 6, 22, tzinfo=UTC)
FORTY_FIVE_DAYS = datetime(2027, 2, 5, 4, 59, 59, 999999, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def notice(make_complaint, time_machine):
    time_machine.move_to(datetime(2026, 12, 21, 12, tzinfo=NEW_YORK), tick=False)
    return make_complaint(regulatory_profile="us_reg_e")


def statutory(complaint) -> Clock:
    return Clock.objects.exclude(regulatory_profile="").get(complaint=complaint, kind="resolve")


def credit(complaint, actor, amount="125.00", currency="USD"):
    return regulation.complaint_record_provisional_credit(
        complaint=Complaint.objects.get(pk=complaint.pk),
        actor=actor,
        amount=Decimal(amount),
        currency=currency,
    )


def test_credited_in_time_the_investigation_may_take_45_days(notice, agent, time_machine):
    assert (statutory(notice).due_at, statutory(notice).basis) == (TEN_BUSINESS_DAYS, "business")
    time_machine.move_to(datetime(2027, 1, 4, 10, tzinfo=NEW_YORK), tick=False)

    credit(notice, agent)

    clock = statutory(notice)
    assert (clock.rule, clock.basis, clock.due_at, clock.state) == (
        "12 CFR 1005.11(c)(2)",
        "calendar",
        FORTY_FIVE_DAYS,
        ClockState.RUNNING,
    )
    extended = ComplaintEvent.objects.get(complaint=notice, type=EventType.DEADLINE_EXTENDED)
    assert extended.actor == agent
    assert extended.parameters == {
        "clock": "resolve",
        "cycle": 1,
        "statutory": True,
        "regulatory_profile": "us_reg_e",
        "rule": "12 CFR 1005.11(c)(2)",
        "jurisdiction": "US",
        "due_at": FORTY_FIVE_DAYS.isoformat(),
        "ground": "provisional_credit",
        "previous_rule": "12 CFR 1005.11(c)(1)",
        "previous_due_at": TEN_BUSINESS_DAYS.isoformat(),
        "amount": "125.00",
        "currency": "USD",
    }


def test_at_the_last_instant_of_the_tenth_business_day_it_is_in_time(notice, agent, time_machine):
    time_machine.move_to(TEN_BUSINESS_DAYS, tick=False)
    credit(notice, agent)
    assert statutory(notice).due_at == FORTY_FIVE_DAYS


def test_credited_late_or_twice_it_extends_nothing(notice, agent, time_machine):
    time_machine.move_to(datetime(2027, 1, 6, 17, 0, 1, tzinfo=NEW_YORK), tick=False)
    with pytest.raises(TransitionNotAllowed) as late:
        credit(notice, agent)
    assert late.value.message == (
        f"A provisional credit extends the resolve deadline of {notice.reference} only before "
        "it passes; it passed at 17:00 EST on 6 January 2027 (12 CFR 1005.11(c)(1))."
    )
    assert statutory(notice).due_at == TEN_BUSINESS_DAYS

    time_machine.move_to(datetime(2027, 1, 5, 10, tzinfo=NEW_YORK), tick=False)
    credit(notice, agent)
    with pytest.raises(TransitionNotAllowed) as twice:
        credit(notice, agent, amount="10.00")
    assert twice.value.message == (
        f"The resolve deadline of {notice.reference} already runs to 23:59 EST on 4 February "
        "2027 (12 CFR 1005.11(c)(2))."
    )
    assert ComplaintEvent.objects.filter(type=EventType.DEADLINE_EXTENDED).count() == 1


def test_only_regulation_e_and_staff_who_work_it(make_complaint, notice, agent, customer_user):
    with pytest.raises(PermissionDenied):
        credit(notice, customer_user)
    reg_z = make_complaint(regulatory_profile="us_reg_z")
    with pytest.raises(ValidationFailed) as elsewhere:
        credit(reg_z, agent)
    assert elsewhere.value.message == (
        "A provisional credit extends no deadline under us_reg_z (US Regulation Z billing "
        f"errors), the profile of {reg_z.reference}; it does under us_reg_e (US Regulation E "
        "error resolution), us_reg_e_pos_foreign (US Regulation E: point-of-sale and "
        "foreign-initiated transfers), us_reg_e_new_account (US Regulation E: new accounts)."
    )
    with pytest.raises(ValidationFailed) as nothing:
        credit(notice, agent, amount="0")
    assert nothing.value.details == {"amount": ["Must be > 0."]}


def test_a_resolved_complaint_takes_no_credit(notice, agent, root_causes):
    resolve(acknowledge(notice, agent), agent)
    with pytest.raises(TransitionNotAllowed) as closed:
        credit(notice, agent)
    assert closed.value.details == {"state": "resolved"}


def test_the_api_records_it_and_answers_with_the_moved_clock(
    notice, agent, customer_user, time_machine
):
    time_machine.move_to(datetime(2027, 1, 4, 10, tzinfo=NEW_YORK), tick=False)
    url = f"/api/complaints/{notice.reference}/provisional-credit/"
    assert api_client(customer_user).post(url, {}, format="json").status_code == 403
    bad = api_client(agent).post(url, {"amount": 12.5, "currency": "usd"}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["details"]) == {"currency"}

    answer = api_client(agent).post(url, {"amount": "125.00"}, format="json")

    assert answer.status_code == 200, answer.json()
    [clock] = [c for c in answer.json()["clocks"] if c["kind"] == "resolve" and c["statutory"]]
    assert (clock["rule"], clock["due_at"]) == (
        "12 CFR 1005.11(c)(2)",
        "2027-02-05T04:59:59.999999Z",
    )
    again = api_client(agent).post(url, {"amount": "125.00"}, format="json")
    assert again.status_code == 409
