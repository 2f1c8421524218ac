"""A recovery's amount typed wrong gets a message that says what is wrong, on the desk and
in the API, never "A currency needs an amount" and never a 500.

Personas (tests/conftest.py): ``agent`` works the complaint and offers the recovery.
"""

import html

import pytest

from recovery.models import RecoveryAction
from tests.conftest import acknowledge, api_client
from tests.desk.conftest import signed_in

# What was typed, and the words the answer must hold.
BAD_AMOUNTS = [
    ("1e309", "too large: the maximum is 9999999999.99"),
    ("1e20", "too large: the maximum is 9999999999.99"),
    ("inf", "'inf' is not a number"),
    ("NaN", "'NaN' is not a number"),
    ("ten", "'ten' is not a number"),
    ("-5", "must not be negative"),
    ("0.001", "0.001 has too many decimal places: use at most 2"),
    ("10,50", "10,50: use a point for decimals, like 10.50"),
    ("1.000,50", "1.000,50: use a point for decimals, like 1000.50"),
    ("1,00.5", "1,00.5: commas only group thousands, in threes"),
    ("12,34,567", "12,34,567: commas only group thousands, in threes"),
]

# Typed, currency, type: refused for the remedy or the currency, with the words and field.
BAD_MONEY = [
    ("0", "GBP", "refund", "amount", "A refund of 0.00 is not a refund: enter the sum"),
    (
        "0.00",
        "EUR",
        "account_credit",
        "amount",
        "An account credit of 0.00 is not an account credit",
    ),
    ("0", "GBP", "goodwill", "amount", "A goodwill gesture of 0.00 is not a goodwill gesture"),
    ("0", "JPY", "refund", "amount", "A refund of 0 is not a refund"),
    ("12.5", "JPY", "refund", "amount", "JPY has no decimal places: 12.5 → enter 12 or 13"),
    ("12.50", "KRW", "refund", "amount", "KRW has no decimal places: 12.5 → enter 12 or 13"),
    ("1,000.01", "ISK", "goodwill", "amount", "ISK has no decimal places: 1000.01 → enter"),
    ("10.00", "XYZ", "refund", "currency", "XYZ is not a currency code we know (ISO 4217)"),
]

# Typed, and the amount kept: commas grouping thousands, digits of any script.
GOOD_AMOUNTS = [
    ("1,000.50", "1000.50"),
    ("12,345", "12345.00"),
    ("1,234,567.5", "1234567.50"),
    ("\u0661\u0662", "12.00"),  # Arabic-Indic ١٢ is the number it is
    ("\u0661,\u0662\u0663\u0664", "1234.00"),
]


@pytest.fixture
def complaint(make_complaint, agent):
    return acknowledge(make_complaint(), agent)


def offer_url(complaint) -> str:
    return f"/desk/complaints/{complaint.reference}/recovery/"


@pytest.mark.parametrize(("typed", "words"), BAD_AMOUNTS)
def test_the_desk_form_says_what_is_wrong_with_the_amount(complaint, agent, typed, words):
    answer = signed_in(agent).post(
        offer_url(complaint),
        {"recovery-type": "refund", "recovery-amount": typed, "recovery-currency": "GBP"},
    )

    assert answer.status_code == 400
    page = html.unescape(answer.content.decode())
    assert words in page
    assert "A currency needs an amount" not in page
    # What was typed is kept, so it can be corrected.
    assert f'value="{typed}"' in page
    assert not RecoveryAction.objects.exists()


def test_the_amount_field_keeps_what_was_typed(complaint, agent):
    page = signed_in(agent).get(f"/desk/complaints/{complaint.reference}/").content.decode()
    # A number input would be emptied by the browser for 1e309 or "inf", and the server
    # would hear of no amount at all.
    field = page[page.index('name="recovery-amount"') - 200 :][:400]
    assert 'type="text"' in field and 'inputmode="decimal"' in field


@pytest.mark.parametrize(("typed", "words"), BAD_AMOUNTS)
def test_the_api_says_what_is_wrong_with_the_amount(complaint, agent, typed, words):
    answer = api_client(agent).post(
        f"/api/complaints/{complaint.reference}/recoveries/",
        {"type": "refund", "amount": typed, "currency": "GBP"},
        format="json",
    )

    assert answer.status_code == 400, answer.content
    assert words in " ".join(answer.json()["details"]["amount"])


@pytest.mark.parametrize(
    ("number", "words"),
    [
        ("1e309", "too large"),  # a float reads it as infinity
        ("1e20", "too large"),
        ("-5", "must not be negative"),
        ("0.001", "too many decimal places"),
    ],
)
def test_the_api_says_what_is_wrong_with_a_json_number(complaint, agent, number, words):
    answer = api_client(agent).post(
        f"/api/complaints/{complaint.reference}/recoveries/",
        f'{{"type": "refund", "amount": {number}, "currency": "GBP"}}',
        content_type="application/json",
    )

    assert answer.status_code == 400, answer.content
    assert words in " ".join(answer.json()["details"]["amount"])


@pytest.mark.parametrize(("typed", "currency", "type", "field", "words"), BAD_MONEY)
def test_the_desk_form_refuses_money_the_remedy_or_currency_cannot_hold(
    complaint, agent, typed, currency, type, field, words
):
    answer = signed_in(agent).post(
        offer_url(complaint),
        {"recovery-type": type, "recovery-amount": typed, "recovery-currency": currency},
    )

    assert answer.status_code == 400
    page = html.unescape(answer.content.decode())
    assert words in page
    assert f'value="{typed}"' in page
    assert not RecoveryAction.objects.exists()


@pytest.mark.parametrize(("typed", "currency", "type", "field", "words"), BAD_MONEY)
def test_the_api_refuses_money_the_remedy_or_currency_cannot_hold(
    complaint, agent, typed, currency, type, field, words
):
    answer = api_client(agent).post(
        f"/api/complaints/{complaint.reference}/recoveries/",
        {"type": type, "amount": typed, "currency": currency},
        format="json",
    )

    assert answer.status_code == 400, answer.content
    assert words in " ".join(answer.json()["details"][field])
    assert not RecoveryAction.objects.exists()


def test_the_api_refuses_a_json_number_finer_than_the_yen(complaint, agent):
    answer = api_client(agent).post(
        f"/api/complaints/{complaint.reference}/recoveries/",
        '{"type": "refund", "amount": 12.5, "currency": "JPY"}',
        content_type="application/json",
    )

    assert answer.status_code == 400, answer.content
    assert answer.json()["details"]["amount"] == [
        "JPY has no decimal places: 12.5 → enter 12 or 13."
    ]


def test_a_replacement_may_cost_nothing(complaint, agent):
    # Only money remedies must carry a sum; a replacement's cost may be nil.
    answer = api_client(agent).post(
        f"/api/complaints/{complaint.reference}/recoveries/",
        {"type": "replacement", "amount": "0", "currency": "GBP"},
        format="json",
    )

    assert answer.status_code == 201, answer.content
    assert RecoveryAction.objects.get().amount == 0


@pytest.mark.parametrize(("typed", "kept"), GOOD_AMOUNTS)
def test_the_desk_form_reads_grouped_and_non_latin_digits(complaint, agent, typed, kept):
    answer = signed_in(agent).post(
        offer_url(complaint),
        {"recovery-type": "refund", "recovery-amount": typed, "recovery-currency": "GBP"},
    )

    assert answer.status_code == 302, answer.content.decode()[-2000:]
    assert str(RecoveryAction.objects.get().amount) == kept


@pytest.mark.parametrize(("typed", "kept"), GOOD_AMOUNTS)
def test_the_api_reads_grouped_and_non_latin_digits(complaint, agent, typed, kept):
    answer = api_client(agent).post(
        f"/api/complaints/{complaint.reference}/recoveries/",
        {"type": "refund", "amount": typed, "currency": "GBP"},
        format="json",
    )

    assert answer.status_code == 201, answer.content
    assert str(RecoveryAction.objects.get().amount) == kept


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [("1200", "JPY", "Refund 1200 JPY"), ("12.5", "BHD", "Refund 12.500 BHD")],
)
def test_the_desk_shows_an_amount_with_its_currency_decimals(
    complaint, agent, amount, currency, shown
):
    signed_in(agent).post(
        offer_url(complaint),
        {"recovery-type": "refund", "recovery-amount": amount, "recovery-currency": currency},
    )

    page = signed_in(agent).get(f"/desk/complaints/{complaint.reference}/").content.decode()
    assert shown in html.unescape(page)
    assert str(RecoveryAction.objects.get()) == shown
