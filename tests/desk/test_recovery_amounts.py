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
