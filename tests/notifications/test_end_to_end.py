"""End to end: a real ASGI server and a real Celery worker carry a transition to a socket.

The path under test is the production one, with nothing replaced:
HTTP API -> service (outbox row in the transaction) -> on commit, ``deliver_outbox`` on the
Redis broker -> Celery worker -> ``deliver`` -> channels-redis -> uvicorn's consumer -> the
agent's websocket.

Both servers run as subprocesses on the pytest-django test database, so they see what the
test commits (``transaction=True``), and on the test Redis.
"""

import asyncio
import contextlib
import json
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect as websocket_connect

from notifications.models import Outbox
from tests.factories import api_token_for
from tests.processes import (
    HOST,
    Child,
    free_port,
    solo_worker_command,
    subprocess_environment,
    uvicorn_command,
    wait_until_worker_idle,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# A cold start imports Django, DRF, Channels and Celery; 60 s covers a loaded 2-core box.
START_TIMEOUT_S = 60
# The fast path normally takes tens of milliseconds; seconds mean it is broken or stalled.
DELIVERY_TIMEOUT_S = 10


def wait_for_server(server: Child, base_url: str, token: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        server.check_alive()
        with contextlib.suppress(httpx.TransportError):
            answer = httpx.get(
                f"{base_url}/api/complaints/",
                headers={"Authorization": f"Token {token}"},
                timeout=5,
                trust_env=False,
            )
            assert answer.status_code == 200, f"{answer.status_code} {answer.text[:300]}"
            return
        time.sleep(0.2)
    raise AssertionError(f"server not ready in {START_TIMEOUT_S} s\n{server.log()}")


async def transition_and_listen(
    base_url: str, token: str, actor_token: str, reference: str
) -> tuple[list, float]:
    """Open the agent's socket, acknowledge over HTTP as a teammate (nobody is pushed their
    own action), and collect events until ours came."""
    ws_url = base_url.replace("http://", "ws://") + f"/ws/events/?token={token}"
    events: list[dict] = []
    async with websocket_connect(ws_url, origin=base_url, open_timeout=10) as websocket:
        # The socket is joined to the agent's group once it answers a message.
        await websocket.send(json.dumps({"type": "heartbeat"}))
        assert json.loads(await asyncio.wait_for(websocket.recv(), 10)) == {"type": "heartbeat"}
        async with httpx.AsyncClient(base_url=base_url, timeout=10, trust_env=False) as client:
            answer = await client.post(
                f"/api/complaints/{reference}/transitions/",
                json={
                    "transition": "acknowledge",
                    "message": f"Thanks, your reference is {reference}.",
                    "next_steps": "We will reply within 5 days.",
                },
                headers={"Authorization": f"Token {actor_token}"},
            )
        committed_at = time.monotonic()
        assert answer.status_code == 200, answer.text
        deadline = committed_at + DELIVERY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(websocket.recv(), deadline - time.monotonic())
            except TimeoutError:
                break
            message = json.loads(raw)
            if message["type"] == "event":
                events.append(message["event"])
                if message["event"]["type"] == "complaint.acknowledged":
                    return events, time.monotonic() - committed_at
    return events, float("inf")


def test_transition_over_http_reaches_the_agents_socket(
    agent, teammate, make_complaint, celery_on_redis
):
    complaint = make_complaint()
    token = api_token_for(agent)
    actor_token = api_token_for(teammate)
    env = subprocess_environment()
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    node_name = f"e2e-{uuid.uuid4().hex[:8]}@{HOST}"
    with tempfile.TemporaryDirectory(prefix="redress-e2e-") as scratch:
        children: list[Child] = []
        try:
            server = Child(
                "uvicorn",
                uvicorn_command(port),
                env,
                Path(scratch),
            )
            children.append(server)
            worker = Child(
                "celery",
                solo_worker_command(node_name),
                env,
                Path(scratch),
            )
            children.append(worker)
            wait_for_server(server, base_url, token)
            wait_until_worker_idle(worker, node_name, START_TIMEOUT_S)

            events, latency_s = asyncio.run(
                transition_and_listen(base_url, token, actor_token, complaint.reference)
            )
            logs = "\n".join(child.log() for child in children)
            assert latency_s < DELIVERY_TIMEOUT_S, f"no acknowledged event; got {events}\n{logs}"
        finally:
            for child in children:
                child.stop()

    acknowledged = Outbox.objects.get(
        complaint_id=complaint.pk, event_type="complaint.acknowledged"
    )
    (pushed,) = [event for event in events if event["type"] == "complaint.acknowledged"]
    assert pushed["id"] == acknowledged.pk
    assert pushed["complaint"] == complaint.reference
    assert pushed["state"] == "acknowledged"
    # Delivered once, by the worker's fast path (the sweeper never ran: no beat here).
    assert acknowledged.delivered_at is not None
    assert acknowledged.attempts == 1
    # Whatever else arrived (the intake event, delivered when the worker started) is this
    # complaint's, and no event arrived twice.
    assert {event["complaint"] for event in events} == {complaint.reference}
    assert len({event["id"] for event in events}) == len(events)
