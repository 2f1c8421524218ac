"""One client address for every limiter: X-Forwarded-For counts only as deep as our proxies."""

import uuid

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from api.throttles import ClientAddressThrottle
from common.client_address import client_address


def request_with(forwarded: str | None, remote: str = "192.0.2.10"):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        # No proxy of ours: whatever the client wrote is ignored.
        (0, "198.51.100.1", "192.0.2.10"),
        (0, None, "192.0.2.10"),
        # One proxy: it appended the address it was reached from, the right-most entry.
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        (1, "198.51.100.1", "198.51.100.1"),
        # Two: the second from the right; what the client forged on the left stays unused.
        (2, "6.6.6.6, 198.51.100.1, 203.0.113.5", "198.51.100.1"),
        # Not an address (a proxy that passes garbage on): the peer's address instead.
        (1, "6.6.6.6, not-an-ip", "192.0.2.10"),
        (1, "", "192.0.2.10"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_address(settings, proxies, forwarded, expected):
    settings.REDRESS_TRUSTED_PROXIES = proxies

    assert client_address(request_with(forwarded)) == expected


def test_no_usable_address_is_none(settings):
    settings.REDRESS_TRUSTED_PROXIES = 0

    assert client_address(request_with(None, remote="")) is None


@pytest.fixture
def three_token_requests_a_minute(monkeypatch, db):
    # DRF reads the rates into the class at import; the test limit goes there too.
    monkeypatch.setattr(ClientAddressThrottle, "THROTTLE_RATES", {"token": "3/minute"})


def ask_for_token(**extra):
    return APIClient().post(
        "/api/auth/token/", {"username": "nobody", "password": "x"}, format="json", **extra
    )


def test_a_new_forwarded_for_per_request_does_not_escape_the_token_limit(
    settings, three_token_requests_a_minute
):
    settings.REDRESS_TRUSTED_PROXIES = 0
    remote = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.1"

    codes = [
        ask_for_token(REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code
        for n in range(5)
    ]

    assert codes == [400, 400, 400, 429, 429]


def test_behind_one_proxy_the_right_most_entry_is_the_client(
    settings, three_token_requests_a_minute
):
    settings.REDRESS_TRUSTED_PROXIES = 1
    proxy = "10.0.0.2"  # every request reaches us from the proxy
    client = f"198.51.100.{uuid.uuid4().int % 250}"

    # The client forges a new left-hand entry each time; the proxy appends the real one.
    same_client = [
        ask_for_token(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"6.6.6.{n}, {client}").status_code
        for n in range(4)
    ]
    another_client = ask_for_token(
        REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"{client}, 203.0.113.{uuid.uuid4().int % 250}"
    )

    assert same_client == [400, 400, 400, 429]
    assert another_client.status_code == 400
