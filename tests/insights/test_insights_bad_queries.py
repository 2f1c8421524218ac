"""Every insight page, and the manager's dashboard, answers a bad query string with a 400
page that says what is wrong (or ignores what it does not take): never a 500.

The pages are taken from the URL configuration, so a new insight page is walked too.
"""

import re

import pytest
from django.urls import reverse

from insights.urls import page_patterns
from recovery.models import CorrectiveAction
from tests.insights.insights_fixtures import at

PAGE_NAMES = [pattern.name for pattern in page_patterns[0]]

BAD_QUERIES = [
    "within_days=-5",
    "within_days=many",
    "within_days=99999999999999999999999",
    "top=-1",
    "top=two",
    "weeks=-3",
    "weeks=99999999999999999999",
    "start=2026-13-01",
    "start=2026-02-30",
    "end=0000-00-00",
    "start=99999-01-01",
    "start=2026-12-31&end=2026-01-01",
    "start=1800-01-01&end=2026-01-01",
    "start=-5",
    "by=planet",
    "measure=weight",
    "causes=some",
    "codes=no.such.cause",
    "channel=pigeon",
    "team=nobody",
    "touchpoint=%00",
    "product=" + "x" * 300,
    "channel=web&channel=email",
    "utm_source=newsletter",
    "format=xml",
]


def _url(name: str, action: CorrectiveAction) -> str:
    return reverse(
        f"insights:{name}", kwargs={"action_id": action.pk} if "<" in _route(name) else None
    )


def _route(name: str) -> str:
    return next(str(p.pattern) for p in page_patterns[0] if p.name == name)


@pytest.fixture
def done_action(manager):
    return CorrectiveAction.objects.create(
        title="Stop double charging", owner=manager, status="done", done_at=at(2026, 3, 2)
    )


@pytest.mark.parametrize("name", PAGE_NAMES)
@pytest.mark.parametrize("query", BAD_QUERIES)
def test_a_bad_query_is_a_400_with_a_message_or_ignored(name, query, manager, done_action, client):
    client.force_login(manager)
    answer = client.get(f"{_url(name, done_action)}?{query}")
    assert answer.status_code in (200, 400), (name, query, answer.status_code)
    if answer.status_code == 400:
        page = answer.content.decode()
        summary = re.search(r'class="error-summary".*?</div>', page, re.S)
        assert summary, (name, query)
        assert re.search(r"<li>[^<]{5,}</li>", summary.group()), (name, query, summary.group())


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_a_tracking_tag_on_a_link_is_ignored(name, manager, done_action, client):
    client.force_login(manager)
    answer = client.get(f"{_url(name, done_action)}?utm_source=newsletter&utm_medium=email")
    assert answer.status_code == 200, answer.content.decode()[:2000]


def test_repeats_with_a_bad_number_of_days_shows_the_form_again(manager, client):
    client.force_login(manager)
    answer = client.get("/insights/repeats/?within_days=-5")
    assert answer.status_code == 400
    page = answer.content.decode()
    assert "Again within (days): Ensure this value is greater than or equal to 1." in page
    assert 'name="within_days" min="1" max="365" value="-5"' in page


def test_a_reversed_period_names_the_fields_by_their_labels(manager, client):
    client.force_login(manager)
    answer = client.get("/insights/repeats/?start=2026-12-31&end=2026-01-01")
    assert answer.status_code == 400
    page = answer.content.decode()
    assert "<li>From 31 Dec 2026 is after To 1 Jan 2026.</li>" in page
    assert "start:" not in page


def test_a_known_parameter_with_a_bad_value_stays_a_400(manager, client):
    client.force_login(manager)
    answer = client.get("/insights/dashboard/?utm_source=mail&channel=pigeon")
    assert answer.status_code == 400
    assert "<li>Channel must be one of: web, email" in answer.content.decode()


def test_the_trends_and_effectiveness_pages_name_their_own_fields(manager, done_action, client):
    client.force_login(manager)
    trends = client.get("/insights/trends/?top=99").content.decode()
    assert "<li>Or the top N causes: Ensure this value is less than or equal to 12.</li>" in trends
    url = f"/insights/corrective-actions/{done_action.pk}/?weeks=0"
    page = client.get(url).content.decode()
    assert (
        "<li>Weeks before and after: Ensure this value is greater than or equal to 1.</li>" in page
    )
