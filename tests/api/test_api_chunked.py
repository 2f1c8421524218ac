"""JSON API requests sent in chunks, behind the real ASGI server.

A chunked request declares no ``Content-Length``; DRF took that for "no body", so a
chunked sign-in answered "username: This field is required" and a body of any size was
never held to the limit. The test client cannot send chunks: these post through uvicorn
with httpx and a generator body (httpx then sends ``Transfer-Encoding: chunked``).
"""

import json
import tempfile
from pathlib import Path

import httpx
import pytest

from recovery.models import Complaint
from tests.processes import start_web_server, subprocess_environment

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
# Small, so that a body over it is quick to send.
LIMIT = 64 * 1024
CHUNK = 1000


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), tempfile.TemporaryDirectory() as scratch:
        env = subprocess_environment()
        env.update(REDRESS_MAX_JSON_BODY_BYTES=str(LIMIT))
        child, base_url = start_web_server(env, Path(scratch))
        try:
            yield base_url
        finally:
            child.stop()


def _in_chunks(raw: bytes):
    for start in range(0, len(raw), CHUNK):
        yield raw[start : start + CHUNK]


def _post_chunked(base_url: str, path: str, raw: bytes, **headers) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as client:
        request = client.build_request(
            "POST",
            path,
            content=_in_chunks(raw),
            headers={"Content-Type": "application/json", **headers},
        )
        assert request.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in request.headers
        return client.send(request)


def _sign_in(base_url: str, user) -> str:
    credentials = json.dumps({"username": user.username, "password": PASSWORD}).encode()
    response = _post_chunked(base_url, "/api/auth/token/", credentials)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def test_a_chunked_sign_in_and_complaint_are_read(server, customer_user):
    customer_user.set_password(PASSWORD)
    customer_user.save()

    token = _sign_in(server, customer_user)
    complaint = json.dumps(
        {"subject": "Charged twice", "description": "Two charges for one order."}
    ).encode()
    response = _post_chunked(server, "/api/complaints/", complaint, Authorization=f"Token {token}")

    assert response.status_code == 201, response.text
    assert Complaint.objects.get().subject == "Charged twice"


def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_stored(server, customer_user):
    customer_user.set_password(PASSWORD)
    customer_user.save()
    token = _sign_in(server, customer_user)
    huge = json.dumps({"subject": "Big", "description": "x" * (LIMIT + 10)}).encode()

    response = _post_chunked(server, "/api/complaints/", huge, Authorization=f"Token {token}")

    assert response.status_code == 413, response.text
    assert response.json()["error"] == "request_too_large"
    assert f"{LIMIT:,}" in response.json()["message"]
    assert not Complaint.objects.exists()
