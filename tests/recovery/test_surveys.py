"""The survey: sent at loop closing, opened without effect, answered once, on submit only."""

import pytest

from common.errors import Conflict, NotFound, ValidationFailed
from recovery.models import Survey
from recovery.services.surveys import (
    survey_create,
    survey_for_token,
    survey_submit,
    survey_token,
)
from tests.conftest import acknowledge, api_client, close_loop, resolve


@pytest.fixture
def survey(make_complaint, agent, root_causes):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    resolve(complaint, agent)
    close_loop(complaint, agent)
    return Survey.objects.get(complaint=complaint)


def test_loop_closing_sends_one_survey(survey):
    assert survey.complaint.events.filter(type="survey_sent").count() == 1
    assert survey.submitted_at is None


def test_a_complaint_keeps_its_first_survey(survey):
    """A loop closed again (after a reopening) sends no second survey."""
    assert survey_create(complaint=survey.complaint) is None
    assert Survey.objects.get(complaint=survey.complaint).nonce == survey.nonce


def test_a_new_survey_is_saved_as_returned(make_complaint):
    complaint = make_complaint()
    made = survey_create(complaint=complaint)
    stored = Survey.objects.get(complaint=complaint)
    assert (made.pk, made.nonce, made.sent_at) == (stored.pk, stored.nonce, stored.sent_at)


def test_opening_the_link_records_nothing(survey):
    client = api_client()
    token = survey_token(survey)
    for _ in range(3):  # a mail scanner following the link, then the customer
        response = client.get(f"/api/surveys/{token}/")
        assert response.status_code == 200
        assert response.json()["answered"] is False
    survey.refresh_from_db()
    assert survey.submitted_at is None and survey.csat is None


def test_submit_records_once(survey):
    token = survey_token(survey)
    answered = survey_submit(token=token, csat=4, ces="2", nps=9, comment=" Quick. ")
    assert (answered.csat, answered.ces, answered.nps, answered.comment) == (4, 2, 9, "Quick.")
    assert answered.complaint.events.filter(type="survey_answered").count() == 1
    with pytest.raises(Conflict, match="already been answered"):
        survey_submit(token=token, csat=1, ces=7, nps=0)
    survey.refresh_from_db()
    assert survey.csat == 4


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"csat": 0, "ces": 1, "nps": 0}, "csat"),
        ({"csat": 6, "ces": 1, "nps": 0}, "csat"),
        ({"csat": 3, "ces": 8, "nps": 0}, "ces"),
        ({"csat": 3, "ces": 0, "nps": 0}, "ces"),
        ({"csat": 3, "ces": 2, "nps": 11}, "nps"),
        ({"csat": 3, "ces": 2, "nps": "ten"}, "nps"),
        ({"csat": True, "ces": 2, "nps": 5}, "csat"),
        ({"csat": None, "ces": 2, "nps": 5}, "csat"),
    ],
)
def test_out_of_scale_answers_are_refused(survey, answers, field):
    with pytest.raises(ValidationFailed) as refused:
        survey_submit(token=survey_token(survey), **answers)
    assert field in refused.value.details
    survey.refresh_from_db()
    assert survey.submitted_at is None


def test_a_tampered_or_foreign_token_finds_nothing(survey):
    token = survey_token(survey)
    with pytest.raises(NotFound):
        survey_for_token(token[:-2] + ("aa" if not token.endswith("aa") else "bb"))
    with pytest.raises(NotFound):
        survey_for_token("not-a-token")
    # A token signed for the tracking page does not open the survey.
    from notifications.replay import tracking_token

    with pytest.raises(NotFound):
        survey_for_token(tracking_token(survey.complaint_id))


def test_api_answers_and_refuses_a_second_time(survey):
    client = api_client()
    url = f"/api/surveys/{survey_token(survey)}/"
    bad = client.post(url, {"csat": 9, "ces": 1, "nps": 1}, format="json")
    assert bad.status_code == 400 and "csat" in bad.json()["details"]
    first = client.post(url, {"csat": 5, "ces": 1, "nps": 10, "comment": ""}, format="json")
    assert first.status_code == 201
    second = client.post(url, {"csat": 1, "ces": 7, "nps": 0}, format="json")
    assert second.status_code == 409
    assert client.get("/api/surveys/garbage/").status_code == 404
    unknown = client.post(url, {"csat": 5, "ces": 1, "nps": 10, "extra": 1}, format="json")
    assert unknown.status_code == 400
