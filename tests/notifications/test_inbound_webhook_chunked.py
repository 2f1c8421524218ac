"""The inbound-mail webhook behind the real ASGI server, sent a chunked body.

A chunked request declares no ``Content-Length``; the test client cannot send one, so these
tests post through uvicorn with httpx and a generator body (httpx then sends
``Transfer-Encoding: chunked``).
"""

import tempfile
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from notifications.models import InboundEmail
from tests.processes import start_web_server, subprocess_environment

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SECRET = "a-long-random-shared-secret"
# Small, so that a message over it is quick to send.
LIMIT = 64 * 1024
CHUNK = 1000


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), tempfile.TemporaryDirectory() as scratch:
        env = subprocess_environment()
        env.update(
            REDRESS_INBOUND_SECRET=SECRET,
            REDRESS_INBOUND_MAX_BYTES=str(LIMIT),
            MEDIA_ROOT=str(Path(scratch) / "media"),
        )
        child, base_url = start_web_server(env, Path(scratch))
        try:
            yield base_url
        finally:
            child.stop()


def _mail(body: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Pat Doe <pat@example.org>"
    message["To"] = "complaints@redress.invalid"
    message["Subject"] = "Wrong amount on my bill"
    message["Message-ID"] = "<chunked-1@mail.example.org>"
    message.set_content(body)
    return message.as_bytes()


def _in_chunks(raw: bytes):
    for start in range(0, len(raw), CHUNK):
        yield raw[start : start + CHUNK]


def _post_chunked(base_url: str, raw: bytes) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as client:
        request = client.build_request(
            "POST",
            "/api/inbound-email/",
            content=_in_chunks(raw),
            headers={"Content-Type": "message/rfc822", "X-Redress-Inbound-Secret": SECRET},
        )
        assert request.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in request.headers
        return client.send(request)


def test_a_chunked_message_is_stored_whole(server):
    raw = _mail("I was billed twice for March.\n" * 300)
    assert len(raw) > 5 * CHUNK

    response = _post_chunked(server, raw)

    assert response.status_code == 202, response.text
    stored = InboundEmail.objects.get(pk=response.json()["id"])
    assert stored.rfc_message_id == "chunked-1@mail.example.org"
    assert bytes(stored.raw) == raw


def test_a_chunked_message_over_the_limit_is_413_and_nothing_is_stored(server):
    raw = _mail("x" * 70 + "\n") * (LIMIT // 70 + 10)
    assert len(raw) > LIMIT

    response = _post_chunked(server, raw)

    assert response.status_code == 413, response.text
    assert f"{LIMIT:,}" in response.json()["message"]
    assert not InboundEmail.objects.exists()
