"""EU payment services, PSD2 Article 101(2): a reply within 15 business days, or, after a
holding reply in exceptional situations, a final reply within 35, on the public holidays of
the member state the complaint is handled in (IE, DE, FR, NL, ES, IT), each in its own zone.

Every expected instant is worked out by hand and written as a literal, with the count in a
comment: close of business (17:00 local) on the Nth business day after the day of receipt,
a business day being Monday to Friday and not a national public holiday of that state.

Dates that matter (national holidays, checked against the `holidays` package):
- Clock changes, everywhere at 01:00 UTC: summer time from Sun 28 Mar 2027, winter time from
  Sun 31 Oct 2027. Dublin is UTC+0/+1; Berlin, Paris, Amsterdam, Madrid and Rome +1/+2.
- Christmas 2026: Fri 25 Dec everywhere; St Stephen's / the second day Sat 26 (IE, DE, NL,
  IT); New Year's Day Fri 1 Jan 2027; Epiphany Wed 6 Jan 2027 (ES, IT).
- Christmas 2027 and New Year 2028 fall on weekends, with no weekday in lieu in any of the
  six; Epiphany Thu 6 Jan 2028 (ES, IT).
- Easter 2027: Good Friday 26 Mar (DE, NL, ES), Easter Monday 29 Mar (IE, DE, FR, NL, IT).
- Ireland: St Brigid's Day Mon 1 Feb 2027, St Patrick's Day Fri 17 Mar 2028, October bank
  holiday Mon 25 Oct 2027. France: All Saints Mon 1 Nov 2027, Armistice Wed 11 Nov 2026 and
  Thu 11 Nov 2027. Spain: All Saints Mon 1 Nov 2027. Italy: Immaculate Conception Tue 8 Dec
  2026 and Wed 8 Dec 2027, All Saints Mon 1 Nov 2027. Netherlands: King's Day Tue 27 Apr,
  Ascension Thu 6 May and Whit Monday 17 May 2027 (Whit Monday in Germany too).
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from common.errors import ValidationFailed
from escalation import regulatory
from escalation.models import Clock
from recovery.models import Complaint, ComplaintEvent, EventType
from recovery.services import messages

PSD2 = regulatory.PROFILES["eu_psd2"]
DUBLIN = ZoneInfo("Europe/Dublin")
BERLIN = ZoneInfo("Europe/Berlin")
PARIS = ZoneInfo("Europe/Paris")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MADRID = ZoneInfo("Europe/Madrid")
ROME = ZoneInfo("Europe/Rome")
ZONES = {"IE": DUBLIN, "DE": BERLIN, "FR": PARIS, "NL": AMSTERDAM, "ES": MADRID, "IT": ROME}

FIFTEEN = PSD2.deadlines[0]
THIRTY_FIVE = PSD2.extended_deadlines[0]


def case(region, received, expected, id, deadline=FIFTEEN):
    assert received.tzinfo is ZONES[region]
    return pytest.param(deadline, region, received, expected, id=id)


CASES = [
    # -- Christmas and New Year 2026/27, from Mon 21 Dec 2026 at noon.
    # Tue 22 .. Thu 24 (3); Fri 25 off; Mon 28 .. Thu 31 (7); Fri 1 Jan off; Mon 4 .. Fri 8
    # (12); Mon 11 (13), Tue 12 (14), Wed 13 Jan (15).
    case(
        "IE",
        datetime(2026, 12, 21, 12, tzinfo=DUBLIN),
        datetime(2027, 1, 13, 17, tzinfo=UTC),
        "ie-xmas-26",
    ),
    case(
        "DE",
        datetime(2026, 12, 21, 12, tzinfo=BERLIN),
        datetime(2027, 1, 13, 16, tzinfo=UTC),
        "de-xmas-26",
    ),
    case(
        "FR",
        datetime(2026, 12, 21, 12, tzinfo=PARIS),
        datetime(2027, 1, 13, 16, tzinfo=UTC),
        "fr-xmas-26",
    ),
    case(
        "NL",
        datetime(2026, 12, 21, 12, tzinfo=AMSTERDAM),
        datetime(2027, 1, 13, 16, tzinfo=UTC),
        "nl-xmas-26",
    ),
    # Spain and Italy keep Epiphany, Wed 6 Jan: one day later, Thu 14 Jan.
    case(
        "ES",
        datetime(2026, 12, 21, 12, tzinfo=MADRID),
        datetime(2027, 1, 14, 16, tzinfo=UTC),
        "es-xmas-26",
    ),
    case(
        "IT",
        datetime(2026, 12, 21, 12, tzinfo=ROME),
        datetime(2027, 1, 14, 16, tzinfo=UTC),
        "it-xmas-26",
    ),
    # -- Christmas and New Year 2027/28, from Thu 23 Dec 2027 at 23:59.
    # Fri 24 (1); the holidays fall on the weekend; Mon 27 .. Fri 31 (6); Mon 3 .. Fri 7 Jan
    # (11); Mon 10 (12), Tue 11 (13), Wed 12 (14), Thu 13 Jan (15).
    case(
        "IE",
        datetime(2027, 12, 23, 23, 59, tzinfo=DUBLIN),
        datetime(2028, 1, 13, 17, tzinfo=UTC),
        "ie-xmas-27",
    ),
    case(
        "DE",
        datetime(2027, 12, 23, 23, 59, tzinfo=BERLIN),
        datetime(2028, 1, 13, 16, tzinfo=UTC),
        "de-xmas-27",
    ),
    case(
        "FR",
        datetime(2027, 12, 23, 23, 59, tzinfo=PARIS),
        datetime(2028, 1, 13, 16, tzinfo=UTC),
        "fr-xmas-27",
    ),
    case(
        "NL",
        datetime(2027, 12, 23, 23, 59, tzinfo=AMSTERDAM),
        datetime(2028, 1, 13, 16, tzinfo=UTC),
        "nl-xmas-27",
    ),
    # Epiphany, Thu 6 Jan 2028: Fri 14 Jan.
    case(
        "ES",
        datetime(2027, 12, 23, 23, 59, tzinfo=MADRID),
        datetime(2028, 1, 14, 16, tzinfo=UTC),
        "es-xmas-27",
    ),
    case(
        "IT",
        datetime(2027, 12, 23, 23, 59, tzinfo=ROME),
        datetime(2028, 1, 14, 16, tzinfo=UTC),
        "it-xmas-27",
    ),
    # -- Summer time from Sun 28 Mar 2027, over Easter, from Thu 18 Mar 2027 at 23:59.
    # IE: Fri 19 (1); Mon 22 .. Fri 26 (6), Good Friday a working day; Mon 29 off; Tue 30 ..
    # Fri 2 Apr (10); Mon 5 .. Fri 9 (15), 17:00 IST.
    case(
        "IE",
        datetime(2027, 3, 18, 23, 59, tzinfo=DUBLIN),
        datetime(2027, 4, 9, 16, tzinfo=UTC),
        "ie-summer-27",
    ),
    # DE, NL: Fri 19 (1); Mon 22 .. Thu 25 (5); Fri 26, Mon 29 off; Tue 30 .. Fri 2 Apr (9);
    # Mon 5 .. Fri 9 (14); Mon 12 Apr (15), 17:00 CEST.
    case(
        "DE",
        datetime(2027, 3, 18, 23, 59, tzinfo=BERLIN),
        datetime(2027, 4, 12, 15, tzinfo=UTC),
        "de-summer-27",
    ),
    case(
        "NL",
        datetime(2027, 3, 18, 23, 59, tzinfo=AMSTERDAM),
        datetime(2027, 4, 12, 15, tzinfo=UTC),
        "nl-summer-27",
    ),
    # FR, IT: Easter Monday only: as Ireland, Fri 9 Apr, 17:00 CEST.
    case(
        "FR",
        datetime(2027, 3, 18, 23, 59, tzinfo=PARIS),
        datetime(2027, 4, 9, 15, tzinfo=UTC),
        "fr-summer-27",
    ),
    case(
        "IT",
        datetime(2027, 3, 18, 23, 59, tzinfo=ROME),
        datetime(2027, 4, 9, 15, tzinfo=UTC),
        "it-summer-27",
    ),
    # ES: Good Friday only (Easter Monday is regional): Fri 19 (1); 22 .. 25 (5); Fri 26
    # off; Mon 29 (6) .. Fri 2 Apr (10); 5 .. 9 (15).
    case(
        "ES",
        datetime(2027, 3, 18, 23, 59, tzinfo=MADRID),
        datetime(2027, 4, 9, 15, tzinfo=UTC),
        "es-summer-27",
    ),
    # -- Winter time from Sun 31 Oct 2027, from Fri 22 Oct 2027 at 23:59.
    # IE: Mon 25 off; Tue 26 .. Fri 29 (4); Mon 1 Nov .. Fri 5 (9); 8 .. 12 (14); Mon 15
    # (15), 17:00 GMT.
    case(
        "IE",
        datetime(2027, 10, 22, 23, 59, tzinfo=DUBLIN),
        datetime(2027, 11, 15, 17, tzinfo=UTC),
        "ie-winter-27",
    ),
    # DE, NL: Mon 25 .. Fri 29 (5); 1 .. 5 Nov (10); 8 .. 12 (15), 17:00 CET.
    case(
        "DE",
        datetime(2027, 10, 22, 23, 59, tzinfo=BERLIN),
        datetime(2027, 11, 12, 16, tzinfo=UTC),
        "de-winter-27",
    ),
    case(
        "NL",
        datetime(2027, 10, 22, 23, 59, tzinfo=AMSTERDAM),
        datetime(2027, 11, 12, 16, tzinfo=UTC),
        "nl-winter-27",
    ),
    # FR: 25 .. 29 (5); Mon 1 off; Tue 2 .. Fri 5 (9); Mon 8 (10), Tue 9 (11), Wed 10 (12),
    # Thu 11 off, Fri 12 (13); Mon 15 (14), Tue 16 Nov (15).
    case(
        "FR",
        datetime(2027, 10, 22, 23, 59, tzinfo=PARIS),
        datetime(2027, 11, 16, 16, tzinfo=UTC),
        "fr-winter-27",
    ),
    # ES, IT: 25 .. 29 (5); Mon 1 off; 2 .. 5 (9); 8 .. 12 (14); Mon 15 Nov (15).
    case(
        "ES",
        datetime(2027, 10, 22, 23, 59, tzinfo=MADRID),
        datetime(2027, 11, 15, 16, tzinfo=UTC),
        "es-winter-27",
    ),
    case(
        "IT",
        datetime(2027, 10, 22, 23, 59, tzinfo=ROME),
        datetime(2027, 11, 15, 16, tzinfo=UTC),
        "it-winter-27",
    ),
    # -- The leap day, received Tue 29 Feb 2028 at 23:59.
    # IE: Wed 1 .. Fri 3 Mar (3); 6 .. 10 (8); 13 .. 16 (12); Fri 17 off; Mon 20 (13), Tue 21
    # (14), Wed 22 Mar (15), still GMT.
    case(
        "IE",
        datetime(2028, 2, 29, 23, 59, tzinfo=DUBLIN),
        datetime(2028, 3, 22, 17, tzinfo=UTC),
        "ie-leap-day",
    ),
    # DE: 1 .. 3 (3); 6 .. 10 (8); 13 .. 17 (13); Mon 20 (14), Tue 21 Mar (15).
    case(
        "DE",
        datetime(2028, 2, 29, 23, 59, tzinfo=BERLIN),
        datetime(2028, 3, 21, 16, tzinfo=UTC),
        "de-leap-day",
    ),
    # -- Received on a public holiday: the next business day is day 1.
    # IE, St Brigid's Day Mon 1 Feb 2027: Tue 2 .. Fri 5 (4); 8 .. 12 (9); 15 .. 19 (14);
    # Mon 22 Feb (15).
    case(
        "IE",
        datetime(2027, 2, 1, 9, tzinfo=DUBLIN),
        datetime(2027, 2, 22, 17, tzinfo=UTC),
        "ie-on-st-brigids",
    ),
    # DE, Whit Monday 17 May 2027: Tue 18 .. Fri 21 (4); 24 .. 28 (9); Mon 31 (10) .. Fri
    # 4 Jun (14), Corpus Christi being regional; Mon 7 Jun (15), 17:00 CEST.
    case(
        "DE",
        datetime(2027, 5, 17, 10, tzinfo=BERLIN),
        datetime(2027, 6, 7, 15, tzinfo=UTC),
        "de-on-whit-monday",
    ),
    # FR, Armistice Wed 11 Nov 2026: Thu 12, Fri 13 (2); 16 .. 20 (7); 23 .. 27 (12);
    # Mon 30 (13), Tue 1 Dec (14), Wed 2 Dec (15).
    case(
        "FR",
        datetime(2026, 11, 11, 9, tzinfo=PARIS),
        datetime(2026, 12, 2, 16, tzinfo=UTC),
        "fr-on-armistice",
    ),
    # NL, King's Day Tue 27 Apr 2027: Wed 28 .. Fri 30 (3); Mon 3 .. Wed 5 May (6); Thu 6
    # off; Fri 7 (7); 10 .. 14 (12); Mon 17 off; Tue 18 (13), Wed 19 (14), Thu 20 May (15).
    case(
        "NL",
        datetime(2027, 4, 27, 10, tzinfo=AMSTERDAM),
        datetime(2027, 5, 20, 15, tzinfo=UTC),
        "nl-on-kings-day",
    ),
    # ES, Epiphany Wed 6 Jan 2027: Thu 7, Fri 8 (2); 11 .. 15 (7); 18 .. 22 (12); Mon 25
    # (13), Tue 26 (14), Wed 27 Jan (15).
    case(
        "ES",
        datetime(2027, 1, 6, 12, tzinfo=MADRID),
        datetime(2027, 1, 27, 16, tzinfo=UTC),
        "es-on-epiphany",
    ),
    # IT, Immaculate Conception Tue 8 Dec 2026: Wed 9 .. Fri 11 (3); 14 .. 18 (8); 21 .. 24
    # (12); Fri 25 off; Mon 28 (13), Tue 29 (14), Wed 30 Dec (15).
    case(
        "IT",
        datetime(2026, 12, 8, 10, tzinfo=ROME),
        datetime(2026, 12, 30, 16, tzinfo=UTC),
        "it-on-dec-8",
    ),
    # -- 35 business days after a holding reply.
    # DE from Mon 14 Dec 2026: Tue 15 .. Fri 18 (4); 21 .. 24 (8); Fri 25 off; 28 .. 31
    # (12); Fri 1 off; 4 .. 8 Jan (17); 11 .. 15 (22); 18 .. 22 (27); 25 .. 29 (32); Mon 1
    # (33), Tue 2 (34), Wed 3 Feb 2027 (35).
    case(
        "DE",
        datetime(2026, 12, 14, 10, tzinfo=BERLIN),
        datetime(2027, 2, 3, 16, tzinfo=UTC),
        "de-35-days-over-new-year-2027",
        deadline=THIRTY_FIVE,
    ),
    # IT from Wed 1 Dec 2027: Thu 2, Fri 3 (2); Mon 6, Tue 7 (4); Wed 8 off; Thu 9, Fri 10
    # (6); 13 .. 17 (11); 20 .. 24 (16); Mon 27 .. Fri 31 (21); Mon 3 .. Wed 5 Jan (24);
    # Thu 6 off; Fri 7 (25); 10 .. 14 (30); 17 .. 21 Jan 2028 (35).
    case(
        "IT",
        datetime(2027, 12, 1, 10, tzinfo=ROME),
        datetime(2028, 1, 21, 16, tzinfo=UTC),
        "it-35-days-over-new-year-2028",
        deadline=THIRTY_FIVE,
    ),
]


@pytest.mark.parametrize(("rule", "region", "received", "expected"), CASES)
def test_statutory_deadline(rule, region, received, expected):
    assert PSD2.due_at(rule, received, region) == expected


def test_each_member_state_is_its_own_region():
    assert {code: region.time_zone for code, region in PSD2.regions_by_code.items()} == {
        "IE": "Europe/Dublin",
        "DE": "Europe/Berlin",
        "FR": "Europe/Paris",
        "NL": "Europe/Amsterdam",
        "ES": "Europe/Madrid",
        "IT": "Europe/Rome",
    }
    assert (FIFTEEN.citation, THIRTY_FIVE.citation) == (
        "PSD2 Art. 101(2)",
        "PSD2 Art. 101(2), second subparagraph",
    )


# -- on complaints ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("jurisdiction", ["", "PL", "GB-ENG"])
def test_a_payment_services_complaint_names_its_member_state(make_complaint, jurisdiction):
    with pytest.raises(ValidationFailed) as refused:
        make_complaint(regulatory_profile="eu_psd2", jurisdiction=jurisdiction)

    assert refused.value.message == (
        "eu_psd2 counts on the public holidays of the member state the complaint is handled "
        "in: give jurisdiction as one of IE, DE, FR, NL, ES, IT."
    )
    assert not Complaint.objects.exists()


@pytest.mark.django_db
def test_an_exceptional_holding_reply_moves_the_italian_deadline_to_35_days(
    make_complaint, agent, time_machine
):
    time_machine.move_to(datetime(2026, 12, 8, 10, tzinfo=ROME), tick=False)  # a holiday
    complaint = make_complaint(regulatory_profile="eu_psd2", jurisdiction="IT")
    statutory = Clock.objects.exclude(regulatory_profile="").get(complaint=complaint)
    assert (statutory.rule, statutory.jurisdiction, statutory.due_at) == (
        "PSD2 Art. 101(2)",
        "IT",
        datetime(2026, 12, 30, 16, tzinfo=UTC),  # the case it-on-dec-8
    )

    time_machine.move_to(datetime(2026, 12, 29, 15, tzinfo=ROME), tick=False)
    messages.complaint_send_holding_reply(
        complaint=complaint,
        actor=agent,
        message="The payee's bank has not answered; we will reply by 29 January.",
        exceptional=True,
    )

    statutory.refresh_from_db()
    # From Tue 8 Dec: as it-on-dec-8 to Wed 30 (15); Thu 31 (16); Fri 1 off; Mon 4, Tue 5
    # (18); Wed 6 off; Thu 7, Fri 8 (20); 11 .. 15 (25); 18 .. 22 (30); 25 .. 29 Jan (35).
    assert (statutory.rule, statutory.due_at) == (
        "PSD2 Art. 101(2), second subparagraph",
        datetime(2027, 1, 29, 16, tzinfo=UTC),
    )
    extended = ComplaintEvent.objects.get(complaint=complaint, type=EventType.DEADLINE_EXTENDED)
    assert (extended.parameters["ground"], extended.parameters["previous_rule"]) == (
        "holding_reply",
        "PSD2 Art. 101(2)",
    )
