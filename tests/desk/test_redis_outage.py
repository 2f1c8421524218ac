"""Degrade, don't fail: the rate limits' Redis goes away mid-run, and comes back.

A private ``redis-server`` (its own port, nothing saved) is the cache; the test kills it
between requests. The complaint form and the token endpoint must keep answering (no 5xx)
and keep limiting, each process counting in its own memory, with one warning for the
whole outage; once Redis is back the counters are in Redis again.
"""

import logging
import subprocess
import time

import pytest
import redis
from django.test import Client
from rest_framework.test import APIClient

from api.throttles import ClientAddressThrottle
from config import fallback_cache
from recovery.models import Complaint
from tests.desk.test_portal import form_data
from tests.processes import HOST, free_port

pytestmark = pytest.mark.django_db
START_TIMEOUT_S = 10


def start_redis(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host=HOST, port=port)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            client.ping()
            return server
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.05)


def stop(server: subprocess.Popen) -> None:
    server.kill()
    server.wait(timeout=START_TIMEOUT_S)


@pytest.fixture
def private_redis(settings, monkeypatch):
    port = free_port()
    server = start_redis(port)
    settings.CACHES = {
        "default": {
            "BACKEND": "config.fallback_cache.RedisCacheWithFallback",
            "LOCATION": f"redis://{HOST}:{port}/0",
            "KEY_PREFIX": "redress",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.REDRESS_PORTAL_RATE_LIMIT = 2
    monkeypatch.setattr(ClientAddressThrottle, "THROTTLE_RATES", {"token": "3/minute"})
    # Try Redis again on every call, so the test sees the recovery without waiting.
    monkeypatch.setattr(fallback_cache, "RETRY_AFTER_SECONDS", 0.0)
    state = {"port": port, "server": server}
    yield state
    if state["server"].poll() is None:
        stop(state["server"])


def send_complaint(address: str, n: int):
    return Client().post("/", form_data(email=f"c{n}@example.com"), REMOTE_ADDR=address)


def ask_for_token(address: str):
    return APIClient().post(
        "/api/auth/token/",
        {"username": "nobody", "password": "wrong"},
        format="json",
        REMOTE_ADDR=address,
    )


def counters_in(port: int) -> list[bytes]:
    return redis.Redis(host=HOST, port=port).keys("redress:*throttle*")


def test_limits_survive_a_redis_outage_and_return_to_redis(
    private_redis, groups, touchpoint, category, caplog
):
    port = private_redis["port"]
    # 1. Redis up: counted in Redis.
    assert send_complaint("192.0.2.1", 0).status_code == 302
    assert ask_for_token("192.0.2.1").status_code == 400
    assert len(counters_in(port)) == 2

    # 2. Redis gone: answers as usual, limits still enforced (in this process's memory).
    stop(private_redis["server"])
    caplog.set_level(logging.WARNING, logger="config.fallback_cache")
    form = [send_complaint("192.0.2.2", n).status_code for n in range(1, 4)]
    tokens = [ask_for_token("192.0.2.2").status_code for _ in range(4)]

    assert form == [302, 302, 429]
    assert tokens == [400, 400, 400, 429]
    assert Complaint.objects.count() == 3
    outage_lines = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(outage_lines) == 1, outage_lines
    assert outage_lines[0].exc_info is None  # a warning, not a traceback

    # 3. Redis back: counted in Redis again, and the recovery is logged once.
    private_redis["server"] = start_redis(port)
    assert send_complaint("192.0.2.3", 9).status_code == 302
    assert ask_for_token("192.0.2.3").status_code == 400

    assert len(counters_in(port)) == 2
    assert [r.getMessage() for r in caplog.records if "reachable again" in r.getMessage()]


def test_every_cache_object_of_a_process_shares_one_outage_and_one_recovery(caplog, monkeypatch):
    # Django makes a cache object per thread and per async context (``caches`` is local
    # to them): the outage must be the process's, logged once each way, whichever object
    # meets it and whichever sees Redis back.
    monkeypatch.setattr(fallback_cache, "RETRY_AFTER_SECONDS", 0.0)
    port = free_port()
    server = start_redis(port)
    location = f"redis://{HOST}:{port}/0"
    options = {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}

    def cache_object():
        return fallback_cache.RedisCacheWithFallback(location, options)

    first, second = cache_object(), cache_object()
    caplog.set_level(logging.INFO, logger="config.fallback_cache")
    try:
        stop(server)
        first.set("k", 1)
        second.incr("k")  # the fallback memory is the process's too: the counter is there
        assert cache_object().get("k") == 2
        server = start_redis(port)
        assert cache_object().get("k") is None  # Redis again (empty after its restart)
        second.get("k")
    finally:
        if server.poll() is None:
            stop(server)

    said = [r.getMessage() for r in caplog.records if r.name == "config.fallback_cache"]
    assert len(said) == 2, said
    assert "unreachable" in said[0]
    assert "reachable again" in said[1]
