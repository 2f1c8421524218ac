"""Inputs that used to answer 500: each now gets a precise 4xx.

- ``OPTIONS`` with ``Accept: text/csv`` on every API URL of the URL conf;
- a datetime query parameter with an unusual (but valid) or impossible UTC offset;
- a websocket to a path no consumer serves;
- a NUL (which PostgreSQL cannot store) in a URL path or a token, and a token that is not
  UTF-8.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from config.asgi import application
from recovery.regulation_form import RegulationChangeForm
from tests.conftest import api_client

pytestmark = pytest.mark.django_db

# A stand-in for every URL argument: a path converter that wants an int gets "1".
SAMPLE_ARGUMENT = "1"


def api_urls() -> list[str]:
    """Every URL under /api/ in the URL conf, with each argument filled in."""

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield route

    urls = set()
    for route in walk(get_resolver().url_patterns, ""):
        if not route.startswith("api/") or "(?P" in route or "\\" in route:
            continue
        parts = []
        for part in route.split("/"):
            parts.append(SAMPLE_ARGUMENT if part.startswith("<") else part)
        urls.add("/" + "/".join(parts))
    return sorted(urls)


def test_the_url_conf_yields_the_insight_endpoints():
    urls = api_urls()
    assert "/api/insights/pareto/" in urls
    assert len(urls) > 20


@pytest.mark.parametrize("url", api_urls())
def test_options_asking_for_csv_is_never_a_server_error(url, manager):
    response = api_client(manager).options(url, HTTP_ACCEPT="text/csv")
    assert response.status_code < 500, (url, response.status_code, response.content[:300])


@pytest.mark.parametrize("accept", ["text/csv", "application/x-foo", "text/html"])
@pytest.mark.parametrize("url", api_urls())
def test_options_answers_its_description_in_json_whatever_accept_asks(url, accept, manager):
    # It used to be a 406: the description exists in JSON only, and a refusal helps no one.
    response = api_client(manager).options(url, HTTP_ACCEPT=accept)
    if response.status_code == 404:  # a sample argument that names nothing: JSON too
        assert response["Content-Type"].startswith("application/json"), url
        return
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    media_type = response["Content-Type"].split(";")[0]
    assert media_type == "application/json" or media_type.endswith("+json"), url
    assert json.loads(response.content)["name"], url


def test_options_on_an_insight_endpoint_asking_for_csv_describes_it(manager):
    response = api_client(manager).options("/api/insights/pareto/", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["name"]


@pytest.mark.parametrize("offset", ["+22:29", "-23:59", "+14:00"])
@pytest.mark.parametrize("parameter", ["received_before", "received_after"])
def test_a_datetime_with_a_far_utc_offset_is_read_not_a_500(parameter, offset, customer_user):
    response = api_client(customer_user).get(
        "/api/complaints/", {parameter: f"2024-03-01T10:00:00{offset}"}
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("value", ["2024-03-01T10:00:00+24:00", "2024-03-01T10:00:00+99:99"])
@pytest.mark.parametrize("parameter", ["received_before", "received_after"])
def test_an_impossible_utc_offset_is_a_400_naming_the_parameter(parameter, value, customer_user):
    response = api_client(customer_user).get("/api/complaints/", {parameter: value})
    assert response.status_code == 400, response.content
    assert parameter in response.json()["details"]


def test_a_websocket_to_an_unknown_path_is_closed_not_raised():
    async def scenario():
        communicator = WebsocketCommunicator(
            application, "/ws/nowhere/", headers=[(b"origin", b"http://testserver")]
        )
        # Accepted, then closed with the code: a refused handshake would hide it (HTTP 403).
        assert await communicator.connect(timeout=5) == (True, None)
        closing = await communicator.receive_output(timeout=5)
        assert (closing["type"], closing["code"]) == ("websocket.close", 4404)

    async_to_sync(scenario)()


def test_the_regulation_form_reads_a_far_offset_in_utc(make_complaint):
    form = RegulationChangeForm(
        {"sent_to_company_at": "2024-03-01T10:00:00+22:29", "reason": "Sent on by the CFPB."},
        complaint=make_complaint(),
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["sent_to_company_at"] == datetime(2024, 2, 29, 11, 31, tzinfo=UTC)
    assert form.cleaned_data["sent_to_company_at"].utcoffset() == timedelta(0)


def test_the_regulation_form_refuses_an_instant_that_does_not_exist_in_utc(make_complaint):
    form = RegulationChangeForm(
        {"sent_to_company_at": "0001-01-01T00:10:00+05:00", "reason": "Typo."},
        complaint=make_complaint(),
    )
    assert not form.is_valid()
    assert "out of range" in str(form.errors["sent_to_company_at"])


@pytest.mark.parametrize(
    "path", ["/api/auth/tokens/%00/", "/api/complaints/RDR%00/", "/track/%00/"]
)
def test_a_nul_in_a_url_path_is_a_400(path, agent):
    client = Client()
    client.force_login(agent)

    assert client.get(path).status_code == 400
    assert client.delete(path).status_code == 400


def test_a_nul_in_a_url_path_of_the_api_is_a_json_400(agent):
    response = api_client(agent).delete("/api/auth/tokens/ab%00cd/")

    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert "NUL" in response.json()["message"]


@pytest.mark.parametrize("token", ["\xe9\xe9\xe9", "abc\x00def", "\x01" * 64])
def test_a_token_that_is_not_printable_text_is_a_401(token):
    # "\xe9" goes out as one raw non-UTF-8 byte (headers are Latin-1 on the wire).
    response = Client().get("/api/complaints/", HTTP_AUTHORIZATION=f"Token {token}")

    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


@pytest.mark.parametrize("token", ["%00", "ab%00cd", "%E9%E9"])
def test_a_websocket_with_a_nul_or_garbled_token_is_refused_not_raised(token):
    async def scenario():
        communicator = WebsocketCommunicator(
            application, f"/ws/events/?token={token}", headers=[(b"origin", b"http://testserver")]
        )
        # Accepted, then closed with the code: a refused handshake would hide it (HTTP 403).
        assert await communicator.connect(timeout=5) == (True, None)
        closing = await communicator.receive_output(timeout=5)
        assert (closing["type"], closing["code"]) == ("websocket.close", 4401)

    async_to_sync(scenario)()
