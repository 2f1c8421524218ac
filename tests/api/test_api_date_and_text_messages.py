"""What the API says of an impossible date and of a NUL in one-line text: one precise
message per field (common/rest/fields.py)."""

import pytest

from tests.conftest import api_client

INTAKE = "/api/complaints/"
GOOD_INTAKE = {
    "subject": "Charged twice",
    "description": "Two charges for one order.",
    "customer": {"name": "Pat", "email": "pat@example.com"},
}


def _problems(agent, **changes) -> dict:
    answer = api_client(agent).post(INTAKE, {**GOOD_INTAKE, **changes}, format="json")
    assert answer.status_code == 400, answer.content
    return answer.json()["details"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("2026-02-30", "30 February 2026 is not a date."),
        ("2025-02-29", "29 February 2025 is not a date."),
        ("2026-04-31", "31 April 2026 is not a date."),
        ("2026-13-01", "2026-13-01 is not a date: there is no month 13."),
        ("0000-01-01", "0000-01-01 is not a date: years start at 0001."),
    ],
)
def test_an_impossible_date_is_named_as_such(given, message, agent):
    assert _problems(agent, occurred_on=given)["occurred_on"] == [message]


@pytest.mark.parametrize("given", ["last tuesday", "30/02/2026", "2026/02/03"])
def test_a_wrong_format_still_says_which_format(given, agent):
    [problem] = _problems(agent, occurred_on=given)["occurred_on"]
    assert "wrong format" in problem and "YYYY-MM-DD" in problem


def test_a_real_leap_day_is_accepted(agent):
    answer = api_client(agent).post(
        INTAKE, {**GOOD_INTAKE, "occurred_on": "2024-02-29"}, format="json"
    )
    assert answer.status_code == 201, answer.content


def test_a_nul_in_the_subject_is_one_message(agent):
    assert _problems(agent, subject="Charged\x00twice")["subject"] == [
        "Write this on one line: remove the control character (U+0000) at character 8."
    ]


def test_a_nul_in_the_customer_name_is_one_message(agent):
    problems = _problems(agent, customer={"name": "P\x00t", "email": "pat@example.com"})
    assert problems["customer"]["name"] == [
        "Write this on one line: remove the control character (U+0000) at character 2."
    ]
