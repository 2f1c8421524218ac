"""PostgreSQL connections come from a pool per web process (REDRESS_DB_POOL_SIZE).

Under ASGI every request runs in a thread of its own, so without a pool each request
opened a connection (a new PostgreSQL backend process) and closed it at its end. With the
pool a request borrows one opened before; when every connection stays busy past the pool's
timeout the request is answered 503 with Retry-After, not an error page.
"""

import tempfile
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from django.db import connection
from django.test import Client
from psycopg_pool import PoolTimeout

from tests.conftest import api_client
from tests.factories import api_token_for
from tests.processes import start_web_server, subprocess_environment, url_of_the_test_database

pytestmark = pytest.mark.django_db(transaction=True)

APPLICATION = "redress-pool-test"


def _sessions_opened() -> int:
    """How many sessions PostgreSQL has counted on the test database (its statistics are
    sent within a second)."""
    time.sleep(1.5)
    with psycopg.connect(url_of_the_test_database(), autocommit=True) as watcher:
        (count,) = watcher.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return count


def _server_backends() -> set[int]:
    """The PostgreSQL backends the test server holds open now."""
    with psycopg.connect(url_of_the_test_database(), autocommit=True) as watcher:
        rows = watcher.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [APPLICATION]
        ).fetchall()
    return {pid for (pid,) in rows}


@pytest.mark.slow
@pytest.mark.parametrize(("pool_size", "reused"), [("20", True), ("0", False)])
def test_requests_to_the_asgi_server_reuse_pooled_connections(agent, pool_size, reused):
    token = api_token_for(agent)
    with tempfile.TemporaryDirectory() as scratch:
        env = subprocess_environment()
        env.update(
            DATABASE_URL=f"{url_of_the_test_database()}?application_name={APPLICATION}",
            REDRESS_DB_POOL_SIZE=pool_size,
        )
        server, base_url = start_web_server(env, Path(scratch))
        try:
            seen = []
            sessions_before = _sessions_opened()
            with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as client:
                for _ in range(20):
                    answer = client.get(
                        "/api/complaints/", headers={"Authorization": f"Token {token}"}
                    )
                    assert answer.status_code == 200, answer.text
                    seen.append(_server_backends())
            opened = _sessions_opened() - sessions_before - len(seen) - 1  # the watchers'
        finally:
            server.stop()
    if reused:
        # The connections open before the first request served all twenty, open between them.
        assert seen[0] and all(now == seen[0] for now in seen), seen
        assert opened <= 3, opened
    else:
        # The check can fail: without the pool, each request opens a session of its own.
        assert opened >= 20, opened


def test_a_request_that_finds_every_connection_busy_is_told_to_retry(agent, monkeypatch):
    client = api_client(agent)
    client.raise_request_exception = False
    desk = Client(raise_request_exception=False)
    desk.force_login(agent)
    pool = connection.pool
    assert pool is not None, "PostgreSQL connections come from a pool"
    connection.close()  # back to the pool, so the loop below holds every connection
    monkeypatch.setattr(pool, "timeout", 0.3)
    held = []
    try:
        while True:
            held.append(pool.getconn(timeout=0.3))
    except PoolTimeout:
        pass
    try:
        busy = client.get("/api/complaints/")
        assert busy.status_code == 503
        assert busy["Retry-After"] == "5"
        assert busy.json()["error"] == "busy"
        assert "try again" in busy.json()["message"]
        page = desk.get("/desk/")
        assert page.status_code == 503 and page["Retry-After"] == "5"
    finally:
        for held_connection in held:
            pool.putconn(held_connection)
    assert client.get("/api/complaints/").status_code == 200
    assert desk.get("/desk/").status_code == 200
