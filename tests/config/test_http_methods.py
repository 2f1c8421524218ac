"""Pages answer GET, HEAD and POST only; the API answers JSON only and never TRACE."""

import pytest
from django.test import Client

from tests.conftest import api_client


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "PUT", "DELETE", "PATCH"])
def test_a_page_refuses_methods_it_does_not_serve(method, agent, make_complaint):
    complaint = make_complaint()
    client = Client()
    client.force_login(agent)

    answer = client.generic(method, f"/desk/complaints/{complaint.reference}/")

    assert answer.status_code == 405
    assert answer["Allow"] == "GET, HEAD, POST"
    assert complaint.subject not in answer.content.decode()


@pytest.mark.django_db
def test_pages_still_serve_get_head_and_post(agent, make_complaint):
    complaint = make_complaint()
    client = Client()
    client.force_login(agent)
    url = f"/desk/complaints/{complaint.reference}/"

    assert client.get(url).status_code == 200
    assert client.head(url).status_code == 200


@pytest.mark.django_db
def test_the_api_answers_trace_with_405_and_options_with_its_description(agent):
    client = api_client(agent)

    trace = client.generic("TRACE", "/api/complaints/")
    assert trace.status_code == 405
    assert "GET" in trace["Allow"]
    options = client.options("/api/complaints/")
    assert options.status_code == 200
    assert options["Content-Type"].startswith("application/json")


@pytest.mark.django_db
def test_the_api_serves_no_browsable_html(agent):
    client = api_client(agent)

    answer = client.get("/api/complaints/", HTTP_ACCEPT="text/html")
    by_format = client.get("/api/complaints/?format=api")

    assert answer.status_code == 406 or answer["Content-Type"].startswith("application/json")
    assert not by_format["Content-Type"].startswith("text/html")
