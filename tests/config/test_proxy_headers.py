"""The web process as the Procfile starts it counts the client's own address.

uvicorn rewrites the peer address from ``X-Forwarded-For`` by default (``--proxy-headers``,
trusting 127.0.0.1): behind a proxy on the same host that passes the header through, every
request could name its own address and slip past the per-address limits. Which entry of the
header to believe is ``REDRESS_TRUSTED_PROXIES``'s decision alone (common/client_address.py).
"""

import time
from pathlib import Path

import httpx
import pytest
from axes.models import AccessAttempt

from tests.config.test_shutdown import start_procfile_web
from tests.processes import START_TIMEOUT_S, subprocess_environment

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def serving(scratch: Path):
    """The Procfile's web process once it answers HTTP; the child and its base URL."""
    server, base = start_procfile_web(subprocess_environment(), scratch)
    http = base.replace("ws://", "http://")
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        server.check_alive()
        try:
            httpx.get(f"{http}/favicon.ico", timeout=10, trust_env=False)
            return server, http
        except httpx.TransportError:
            if time.monotonic() > deadline:
                server.stop()
                raise AssertionError(
                    f"not serving in {START_TIMEOUT_S} s\n{server.log()}"
                ) from None
            time.sleep(0.2)


def test_a_forged_forwarded_for_is_not_the_client_address(tmp_path: Path):
    server, http = serving(tmp_path)
    try:
        answer = httpx.post(
            f"{http}/api/auth/token/",
            json={"username": "nobody-here", "password": "wrong"},
            headers={"X-Forwarded-For": "10.7.7.7"},
            timeout=10,
            trust_env=False,
        )
    finally:
        server.stop()

    assert answer.status_code == 400, answer.text
    addresses = set(AccessAttempt.objects.values_list("ip_address", flat=True))
    assert addresses == {"127.0.0.1"}, (addresses, server.log())


def test_the_access_log_names_no_secret_and_a_bad_host_is_one_line(tmp_path: Path):
    server, http = serving(tmp_path)
    secret = "s3cr3t-link-token-0123456789"
    try:
        httpx.get(f"{http}/track/{secret}/", timeout=10, trust_env=False)
        httpx.get(f"{http}/api/complaints/?token={secret}", timeout=10, trust_env=False)
        bad_host = httpx.get(
            f"{http}/", headers={"Host": "evil.example"}, timeout=10, trust_env=False
        )
        time.sleep(0.5)
    finally:
        server.stop()
    log = server.log(lines=200)

    assert bad_host.status_code == 400
    assert secret not in log, log
    assert "/track/[redacted]/" in log and "token=[redacted]" in log, log
    assert "Traceback" not in log and "ERROR" not in log, log
