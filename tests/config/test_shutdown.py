"""SIGTERM stops the web process within its grace period, its websockets closed properly.

The web process is started from the Procfile's own command line (through a shell, as honcho
runs it), so the test also proves the grace period is wired to uvicorn there. It serves a
socket of every route (staff feeds, listening through the team fanout, and a customer's
tracking feed), each joined to its groups before the signal, after other sessions have run
and ended. One more client is uploading a body and has stalled: uvicorn waits for a request
in flight to finish, so without the grace period the process would never exit.
"""

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as websocket_connect
from websockets.exceptions import ConnectionClosed

from notifications.replay import tracking_token
from tests.factories import api_token_for
from tests.processes import (
    HOST,
    ROOT,
    START_TIMEOUT_S,
    Child,
    free_port,
    subprocess_environment,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

GRACE_S = 3
# Time for the interpreter to exit once uvicorn's shutdown is done, on a loaded 2-core box.
MARGIN_S = 3
# 1001 "going away" or 1012 "service restart": the client should reconnect, to another
# process or to this one once it is back.
CLOSE_CODES = {1001, 1012}
SOCKETS_PER_USER = 10


def procfile_command(process: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise AssertionError(f"no {process} process in the Procfile")


def start_procfile_web(env: dict[str, str], scratch: Path) -> tuple[Child, str]:
    port = free_port()
    env = {
        **env,
        "HOST": HOST,
        "PORT": str(port),
        "REDRESS_SHUTDOWN_GRACE_SECONDS": str(GRACE_S),
        # uvicorn bare, as honcho finds it: the virtualenv's.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    }
    server = Child("web", ["sh", "-c", f"exec {procfile_command('web')}"], env, scratch)
    return server, f"ws://{HOST}:{port}"


async def open_socket(url: str, origin: str, hello: dict, answer_type: str):
    """A socket that has answered a first message, so its consumer joined its groups."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            socket = await websocket_connect(url, origin=origin, open_timeout=10)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    await socket.send(json.dumps(hello))
    while json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] != answer_type:
        pass  # a replayed event
    return socket


async def close_code_of(socket) -> int | None:
    try:
        while True:
            await socket.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def start_a_stalled_upload(base: str):
    """A chunked POST whose body never ends: a request in flight as long as it is open."""
    host, port = base.removeprefix("ws://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /api/inbound-email/ HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: message/rfc822\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nFrom:\r\n".encode()
    )
    await writer.drain()
    return writer


async def wait_for_exit(server: Child, timeout_s: float) -> float:
    started = time.monotonic()
    while server.process.poll() is None and time.monotonic() - started < timeout_s:
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def test_the_process_files_give_uvicorn_the_grace_period():
    wired = "--timeout-graceful-shutdown ${REDRESS_SHUTDOWN_GRACE_SECONDS:-10}"
    assert wired in procfile_command("web")
    assert (
        '--timeout-graceful-shutdown "${REDRESS_SHUTDOWN_GRACE_SECONDS:-10}"'
        in (ROOT / "redress").read_text()
    )


def test_sigterm_closes_every_socket_and_exits_within_the_grace_period(
    agent, supervisor, make_complaint
):
    complaint = make_complaint()
    tokens = [api_token_for(user) for user in (agent, supervisor)]
    tracking = tracking_token(complaint.pk)

    async def open_every_route(base: str) -> list:
        origin = base.replace("ws://", "http://")
        sockets = [
            await open_socket(
                f"{base}/ws/events/?token={token}", origin, {"type": "heartbeat"}, "heartbeat"
            )
            for token in tokens * SOCKETS_PER_USER
        ]
        sockets.append(
            await open_socket(
                f"{base}/ws/track/{tracking}/", origin, {"type": "hello", "last_id": 0}, "replayed"
            )
        )
        return sockets

    async def scenario(server: Child, base: str):
        # Sessions that have run and ended (the client left), then sessions still open.
        for socket in await open_every_route(base):
            await socket.close()
        sockets = await open_every_route(base)
        upload = await start_a_stalled_upload(base)
        closing = [asyncio.create_task(close_code_of(socket)) for socket in sockets]
        server.process.send_signal(signal.SIGTERM)
        exited_after = await wait_for_exit(server, GRACE_S + MARGIN_S + 30)
        codes = await asyncio.wait_for(asyncio.gather(*closing), 5)
        upload.close()
        return codes, exited_after

    with tempfile.TemporaryDirectory(prefix="redress-shutdown-") as scratch:
        server, base = start_procfile_web(subprocess_environment(), Path(scratch))
        try:
            codes, exited_after = asyncio.run(scenario(server, base))
        finally:
            server.stop()
        log = server.log()

    assert set(codes) <= CLOSE_CODES, f"close codes {codes}\n{log}"
    assert exited_after < GRACE_S + MARGIN_S, f"exited after {exited_after:.1f} s\n{log}"
    # It was the grace period that ended the stalled upload.
    assert exited_after >= GRACE_S, f"exited after {exited_after:.1f} s\n{log}"
    # uvicorn exits by the signal it handled, once it has shut down.
    assert server.process.returncode in (0, -signal.SIGTERM), log


# An idle process has nothing to wait for: it must not sit out the grace period.
IDLE_EXIT_S = 2


async def refusal_code(url: str, origin: str) -> int | None:
    """The close code a refused socket reads: accepted, then closed (not an HTTP 403)."""
    async with websocket_connect(url, origin=origin, open_timeout=10) as socket:
        return await close_code_of(socket)


def test_refused_sockets_read_their_code_and_an_idle_process_stops_at_once(agent, customer_user):
    customer_token = api_token_for(customer_user)
    tokens = [api_token_for(agent)]

    async def scenario(server: Child, base: str):
        origin = base.replace("ws://", "http://")
        # The first socket of the process (it connects to Redis) and later ones, each ended
        # at once: a channel-layer read cancelled while it was starting used to be lost and
        # block, so the stop waited for the whole grace period and logged an error.
        await open_socket(
            f"{base}/ws/events/?token={tokens[0]}", origin, {"type": "heartbeat"}, "heartbeat"
        )
        codes = {
            "anonymous": await refusal_code(f"{base}/ws/events/", origin),
            "bad token": await refusal_code(f"{base}/ws/events/?token=nonsense", origin),
            "customer": await refusal_code(f"{base}/ws/events/?token={customer_token}", origin),
            "forged link": await refusal_code(f"{base}/ws/track/forged/", origin),
            "no such path": await refusal_code(f"{base}/ws/nowhere/", origin),
        }
        for _ in range(3):
            socket = await websocket_connect(f"{base}/ws/track/forged/", origin=origin)
            await socket.close()
        await asyncio.sleep(1)  # idle: nothing in flight, no socket open
        server.process.send_signal(signal.SIGTERM)
        return codes, await wait_for_exit(server, GRACE_S + MARGIN_S + 30)

    with tempfile.TemporaryDirectory(prefix="redress-shutdown-") as scratch:
        server, base = start_procfile_web(subprocess_environment(), Path(scratch))
        try:
            codes, exited_after = asyncio.run(scenario(server, base))
        finally:
            server.stop()
        log = server.log(lines=200)

    assert codes == {
        "anonymous": 4401,
        "bad token": 4401,
        "customer": 4403,
        "forged link": 4403,
        "no such path": 4404,
    }, log
    assert exited_after < IDLE_EXIT_S, f"exited after {exited_after:.1f} s\n{log}"
    assert "ERROR" not in log and "Traceback" not in log, log
