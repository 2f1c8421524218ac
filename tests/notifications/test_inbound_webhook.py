"""Tests for the inbound-mail webhook, ``POST /api/inbound-email/`` (notifications.inbound_api).

The provider is anonymous to Django: the shared secret header is its only credential.
"""

from __future__ import annotations

import random
from email.message import EmailMessage

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from common.rest.parsers import RequestTooLarge
from notifications import inbound_api
from notifications.models import InboundEmail, InboundStatus
from recovery.models import Complaint

URL = "/api/inbound-email/"
SECRET = "a-long-random-shared-secret"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def configured(settings):
    settings.REDRESS_INBOUND_SECRET = SECRET


def _mail(message_id: str = "<webhook-1@mail.example.org>") -> bytes:
    message = EmailMessage()
    message["From"] = "Pat Doe <pat@example.org>"
    message["To"] = "complaints@redress.invalid"
    message["Subject"] = "Wrong amount on my bill"
    message["Message-ID"] = message_id
    message.set_content("I was billed twice for March.")
    return message.as_bytes()


def _post(body: bytes, *, secret: str | None = SECRET, content_type="message/rfc822"):
    headers = {"HTTP_X_REDRESS_INBOUND_SECRET": secret} if secret is not None else {}
    return APIClient().post(URL, data=body, content_type=content_type, **headers)


# --- authentication ----------------------------------------------------------------------


@pytest.mark.django_db
def test_without_a_configured_secret_the_endpoint_is_closed(settings):
    settings.REDRESS_INBOUND_SECRET = ""

    response = _post(_mail(), secret="anything")

    assert response.status_code == 503
    assert response.json()["error"] == "inbound_email_not_configured"
    assert "REDRESS_INBOUND_SECRET" in response.json()["message"]
    assert not InboundEmail.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"], ids=repr)
def test_a_missing_or_wrong_secret_is_refused(configured, secret):
    response = _post(_mail(), secret=secret)

    assert response.status_code == 403
    assert response.json()["error"] == "inbound_secret_refused"
    assert "X-Redress-Inbound-Secret" in response.json()["message"]
    assert not InboundEmail.objects.exists()


@pytest.mark.django_db
def test_the_secret_is_checked_before_the_body_is_read(configured, settings):
    settings.REDRESS_INBOUND_MAX_BYTES = 100

    response = _post(b"x" * 1000, secret="wrong")

    assert response.status_code == 403  # not 413: strangers learn nothing, and we read nothing


@pytest.mark.django_db
def test_session_and_token_users_get_no_way_around_the_secret(configured, agent):
    client = APIClient()
    client.force_authenticate(agent)

    response = client.post(URL, data=_mail(), content_type="message/rfc822")

    assert response.status_code == 403


# --- content -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content_type",
    ["message/rfc822", "application/octet-stream", "message/rfc822; charset=utf-8"],
)
def test_a_customer_email_opens_a_complaint(configured, content_type):
    response = _post(_mail(), content_type=content_type)

    assert response.status_code == 202
    body = response.json()
    complaint = Complaint.objects.get()
    assert body["status"] == InboundStatus.ACCEPTED
    assert body["reference"] == complaint.reference
    assert body["reason"] == f"opened {complaint.reference}"
    assert body["duplicate"] is False
    inbound = InboundEmail.objects.get(pk=body["id"])
    assert inbound.source.startswith("webhook:")
    assert complaint.subject == "Wrong amount on my bill"


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "multipart/form-data"])
def test_other_content_types_are_refused(configured, content_type):
    response = _post(_mail(), content_type=content_type)

    assert response.status_code == 415
    assert not InboundEmail.objects.exists()


@pytest.mark.django_db
def test_a_message_over_the_size_limit_is_refused_with_413(configured, settings):
    settings.REDRESS_INBOUND_MAX_BYTES = 200
    raw = _mail()
    assert len(raw) > 200

    response = _post(raw)

    assert response.status_code == 413
    assert "200" in response.json()["message"]
    assert not InboundEmail.objects.exists()


@pytest.mark.django_db
def test_a_body_longer_than_its_declared_length_is_not_read_past_the_limit(configured, settings):
    settings.REDRESS_INBOUND_MAX_BYTES = 200
    parser = inbound_api.RawMIMEParser()

    class Stream:
        def __init__(self):
            self.read_sizes = []

        def read(self, size=-1):
            self.read_sizes.append(size)
            return b"y" * (size if size > 0 else 10_000)

    stream = Stream()
    with pytest.raises(RequestTooLarge):
        parser.parse(stream, "message/rfc822", {})
    assert stream.read_sizes == [201]


@pytest.mark.django_db
def test_the_same_message_twice_is_a_200_duplicate(configured):
    first = _post(_mail())
    second = _post(_mail())

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["duplicate"] is True
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["reference"] == first.json()["reference"]
    assert Complaint.objects.count() == 1


@pytest.mark.django_db
def test_garbage_is_quarantined_with_a_202_not_a_server_error(configured):
    # Random bytes with no line that could be a header (no ":" at all): not a message.
    garbage = random.Random(5).randbytes(512).replace(b":", b"\x01")

    response = _post(garbage, content_type="application/octet-stream")

    assert response.status_code == 202
    assert response.json()["status"] == InboundStatus.QUARANTINED
    assert response.json()["reason"].startswith("unparseable: ")
    assert response.json()["reference"] == ""
    assert bytes(InboundEmail.objects.get().raw) == garbage


@pytest.mark.django_db
def test_a_bounce_is_stored_and_ignored(configured):
    bounce = EmailMessage()
    bounce["From"] = "MAILER-DAEMON@mx.example.org"
    bounce["Subject"] = "Undelivered Mail Returned to Sender"
    bounce["Message-ID"] = "<bounce-1@mx.example.org>"
    bounce.set_content("The mail system could not deliver your message.")

    response = _post(bounce.as_bytes())

    assert response.status_code == 202
    assert response.json()["status"] == InboundStatus.IGNORED
    assert not Complaint.objects.exists()


@pytest.mark.django_db
def test_an_empty_body_is_a_400(configured):
    response = _post(b"")

    assert response.status_code == 400
    assert response.json()["error"] == "empty_message"
    assert not InboundEmail.objects.exists()


@pytest.mark.django_db
def test_a_database_failure_is_a_503_so_the_provider_retries(configured, monkeypatch):
    def database_down(raw, *, source):
        raise OperationalError("connection refused")

    monkeypatch.setattr(inbound_api, "ingest_message", database_down)

    response = _post(_mail())

    assert response.status_code == 503
    assert response.json()["error"] == "inbound_email_unavailable"


@pytest.mark.django_db
def test_only_post_is_allowed(configured):
    response = APIClient().get(URL, HTTP_X_REDRESS_INBOUND_SECRET=SECRET)

    assert response.status_code == 405
