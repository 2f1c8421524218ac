"""The websocket consumers against the real ASGI stack and a real channels-redis layer.

Every test drives ``config.asgi.application`` (origin check, session and token auth, URL
routing) with ``WebsocketCommunicator``. Events are told the way production tells them: a
service writes the outbox row in its transaction, then ``notifications.delivery.deliver``
writes the inbox rows and, after commit, rings the groups through Redis.

Two choices keep the tests honest and independent:
- the Celery fast path is replaced by a recorder, so an event goes out exactly when a test
  calls ``deliver`` (no worker runs here, and nothing piles up in the broker);
- each test gets its own channel-layer prefix in Redis, so no test hears another's pushes.

The consumers read the database from other threads, so the tests commit for real
(``transaction=True``).
"""

import json
import logging
import uuid

import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.core import signing
from django.test import Client

from config.asgi import application
from notifications import delivery, replay
from notifications.models import Notification, Outbox, Presence
from recovery import roles
from recovery.services import api_tokens, messages, sla, tracking_links
from tests.conftest import acknowledge, close_loop, resolve
from tests.factories import api_token_for
from tests.processes import free_port

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://testserver")]
# Long enough for a push to cross Redis and the consumer on a loaded 2-core machine; a
# message that has not arrived by then is not coming.
RECEIVE_TIMEOUT_S = 5
# How long "nothing arrives" is watched for. Each such check is backed by a sentinel event
# sent afterwards on the same path, so a slow push cannot make a leak pass unnoticed.
QUIET_S = 0.3
LAYER_DOWN = "live updates unavailable, retrying"


@pytest.fixture(autouse=True)
def isolated_channel_layer(settings):
    """The real Redis layer of the test settings, under a prefix no other test uses."""
    layer = dict(settings.CHANNEL_LAYERS["default"])
    assert layer["BACKEND"] == "channels_redis.core.RedisChannelLayer", (
        "these tests need the channels-redis layer: run them with REDIS_URL set"
    )
    prefix = f"test-sockets-{uuid.uuid4().hex[:12]}"
    layer["CONFIG"] = {**layer["CONFIG"], "prefix": prefix}
    # Assigning through the settings fixture fires setting_changed, which makes Channels
    # drop its cached layer and build this one.
    settings.CHANNEL_LAYERS = {"default": layer}
    yield
    # Group memberships live for a day in Redis; take this test's with it.
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=500):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture(autouse=True)
def no_fast_path(monkeypatch):
    """Record the Celery enqueues instead of talking to a broker no worker reads."""
    enqueued = []
    monkeypatch.setattr(delivery, "enqueue", lambda task, *args: enqueued.append((task, args)))
    return enqueued


def deliver_pending() -> list[int]:
    """Deliver every event not yet delivered, oldest first, as the Celery task would."""
    ids = list(
        Outbox.objects.filter(delivered_at__isnull=True).order_by("id").values_list("pk", flat=True)
    )
    for outbox_id in ids:
        assert delivery.deliver(outbox_id)
    return ids


def token_for(user) -> str:
    return api_token_for(user)


def run(scenario):
    """Run an async scenario; its database calls come back to this thread (and connection)."""
    return async_to_sync(scenario)()


in_sync = sync_to_async  # the test's own database work, from inside a scenario


async def connect(path: str, *, token: str | None = None, headers=None):
    url = f"{path}?token={token}" if token else path
    communicator = WebsocketCommunicator(
        application, url, headers=ORIGIN if headers is None else headers
    )
    connected, detail = await communicator.connect(timeout=RECEIVE_TIMEOUT_S)
    return communicator, connected, detail


async def refused_with(path: str, *, token: str | None = None) -> int:
    """The close code of a refused socket, which must be accepted first and closed at once
    (closed in the handshake, a browser would see an HTTP 403 and no code)."""
    communicator, connected, detail = await connect(path, token=token)
    assert connected, f"refused in the handshake ({detail}), not accepted and closed"
    message = await communicator.receive_output(timeout=RECEIVE_TIMEOUT_S)
    assert message["type"] == "websocket.close", message
    return message["code"]


async def connect_staff(user):
    key = await in_sync(token_for)(user)
    communicator, connected, detail = await connect("/ws/events/", token=key)
    assert connected, f"{user.username} was refused: {detail}"
    return communicator


async def receive(communicator) -> dict:
    return await communicator.receive_json_from(timeout=RECEIVE_TIMEOUT_S)


async def receive_events(communicator, count: int) -> list[dict]:
    """The next ``count`` messages, each of which must be an event."""
    received = []
    for _ in range(count):
        message = await receive(communicator)
        assert message["type"] == "event", message
        received.append(message["event"])
    return received


async def assert_quiet(communicator):
    assert await communicator.receive_nothing(timeout=QUIET_S), await receive(communicator)


async def replay_after(communicator, last_id) -> list[dict]:
    """Say hello with ``last_id``; return the replayed events (the count must agree)."""
    await communicator.send_json_to({"type": "hello", "last_id": last_id})
    events = []
    while True:
        message = await receive(communicator)
        if message["type"] == "replayed":
            assert message["count"] == len(events)
            return events
        assert message["type"] == "event", message
        events.append(message["event"])


async def add_note(complaint, actor, body: str):
    await in_sync(messages.message_add)(complaint=complaint, actor=actor, body=body, internal=True)


def inbox_ids(user) -> list[int]:
    return list(
        Notification.objects.filter(user=user)
        .order_by("outbox_id")
        .values_list("outbox_id", flat=True)
    )


def outbox_id_of(complaint, event_type: str) -> int:
    return Outbox.objects.get(complaint_id=complaint.pk, event_type=event_type).pk


# -- authentication and authorisation -----------------------------------------------------


def test_anonymous_socket_is_closed_unauthenticated():
    async def scenario():
        assert await refused_with("/ws/events/") == 4401

    run(scenario)


def test_unknown_or_inactive_token_is_closed_unauthenticated(agent):
    key = token_for(agent)

    async def scenario():
        assert await refused_with("/ws/events/", token="0" * 40) == 4401
        await in_sync(type(agent).objects.filter(pk=agent.pk).update)(is_active=False)
        assert await refused_with("/ws/events/", token=key) == 4401

    run(scenario)


def test_a_demo_accounts_token_opens_no_socket_once_demos_are_off(agent, groups, settings):
    # The same rule as the REST API (recovery.auth.may_sign_in), checked on connect.
    agent.groups.add(groups[roles.DEMO])
    key = token_for(agent)

    async def scenario():
        socket, connected, _ = await connect("/ws/events/", token=key)
        assert connected
        await socket.disconnect(timeout=RECEIVE_TIMEOUT_S)
        settings.REDRESS_DEMO = False
        assert await refused_with("/ws/events/", token=key) == 4401

    run(scenario)


def test_a_staff_token_without_second_factor_opens_no_socket_once_required(agent, settings):
    # The REST API's rule (recovery.auth.may_use_token), checked on connect too.
    key = token_for(agent)
    settings.REDRESS_STAFF_2FA_REQUIRED = True

    async def scenario():
        assert await refused_with("/ws/events/", token=key) == 4401

    run(scenario)


def test_with_redis_unreachable_the_handshake_is_refused_try_again_not_a_500(
    agent, settings, caplog
):
    key = token_for(agent)
    layer = dict(settings.CHANNEL_LAYERS["default"])
    # Nothing listens there: the channel layer's Redis is down.
    dead = {"address": f"redis://127.0.0.1:{free_port()}/0", "socket_connect_timeout": 1}
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [dead]}}}

    async def scenario():
        assert await refused_with("/ws/events/", token=key) == 1013

    run(scenario)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert any("channel layer unreachable" in r.getMessage() for r in caplog.records)


def test_a_revoked_token_opens_no_socket(agent):
    key = token_for(agent)
    api_tokens.api_tokens_revoke_all(user=agent)

    async def scenario():
        assert await refused_with("/ws/events/", token=key) == 4401

    run(scenario)


def test_customer_and_roleless_users_are_forbidden_the_staff_socket(customer_user, outsider):
    customer_key, outsider_key = token_for(customer_user), token_for(outsider)

    async def scenario():
        for key in (customer_key, outsider_key):
            assert await refused_with("/ws/events/", token=key) == 4403

    run(scenario)


def test_staff_socket_accepts_the_session_cookie(agent):
    browser = Client()
    browser.force_login(agent)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()

    async def scenario():
        communicator, connected, detail = await connect(
            "/ws/events/", headers=[*ORIGIN, (b"cookie", cookie)]
        )
        assert connected, detail
        await communicator.send_json_to({"type": "heartbeat"})
        assert await receive(communicator) == {"type": "heartbeat"}
        await communicator.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


def test_socket_from_a_foreign_origin_is_refused(agent):
    key = token_for(agent)

    async def scenario():
        _, connected, _ = await connect(
            "/ws/events/", token=key, headers=[(b"origin", b"https://evil.example")]
        )
        assert not connected

    run(scenario)


def test_agent_receives_its_teams_events_and_never_another_teams(
    agent, other_agent, make_complaint, other_team, teammate
):
    ours = make_complaint()
    theirs = make_complaint(routed_to=other_team)
    deliver_pending()

    async def scenario():
        agent_socket = await connect_staff(agent)
        other_socket = await connect_staff(other_agent)

        await in_sync(acknowledge)(ours, teammate)
        await in_sync(deliver_pending)()
        (event,) = await receive_events(agent_socket, 1)
        assert event["id"] == await in_sync(outbox_id_of)(ours, "complaint.acknowledged")
        assert event["type"] == "complaint.acknowledged"
        assert event["complaint"] == ours.reference
        assert event["state"] == "acknowledged"
        assert event["v"] == 1
        assert "message_id" in event["parameters"]
        await assert_quiet(other_socket)

        # Sentinels: the other team's event reaches only the other agent, and our next one
        # only us; each socket's next message proves nothing else came before it.
        # (An event nobody caused: the other agent is not its author, so it is told.)
        await in_sync(sla.complaint_assign)(complaint=theirs, assignee=other_agent, reason="x")
        await add_note(ours, teammate, "Called the bank.")
        await in_sync(deliver_pending)()
        (theirs_event,) = await receive_events(other_socket, 1)
        assert theirs_event["complaint"] == theirs.reference
        (ours_event,) = await receive_events(agent_socket, 1)
        assert (ours_event["complaint"], ours_event["type"]) == (
            ours.reference,
            "complaint.note_added",
        )
        await assert_quiet(agent_socket)
        await assert_quiet(other_socket)

        await agent_socket.disconnect(timeout=RECEIVE_TIMEOUT_S)
        await other_socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)
    assert not Notification.objects.filter(user=other_agent, complaint_id=ours.pk).exists()


# -- replay after reconnect ---------------------------------------------------------------


def test_reconnect_replays_exactly_the_missed_events_in_order(
    agent, other_agent, make_complaint, other_team, root_causes, teammate
):
    complaint = make_complaint()
    elsewhere = make_complaint(routed_to=other_team)
    acknowledge(complaint, teammate)
    deliver_pending()
    seen: list[int] = []

    async def scenario():
        socket = await connect_staff(agent)
        first = await replay_after(socket, 0)
        assert [event["type"] for event in first] == ["complaint.acknowledged"]
        seen.extend(event["id"] for event in first)

        await add_note(complaint, teammate, "Called the bank.")
        await in_sync(deliver_pending)()
        seen.extend(event["id"] for event in await receive_events(socket, 1))
        # Laptop lid closes: the socket drops.
        await socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

        await in_sync(resolve)(complaint, teammate)
        await add_note(complaint, teammate, "Refund sent.")
        await in_sync(acknowledge)(elsewhere, other_agent)
        await in_sync(deliver_pending)()

        socket = await connect_staff(agent)
        missed = await replay_after(socket, seen[-1])
        assert [event["type"] for event in missed] == [
            "complaint.resolved",
            "complaint.note_added",
        ]
        assert all(event["complaint"] == complaint.reference for event in missed)
        seen.extend(event["id"] for event in missed)
        await assert_quiet(socket)

        # Live again after the replay: the next event is pushed, not replayed.
        await add_note(complaint, teammate, "Customer called back.")
        await in_sync(deliver_pending)()
        seen.extend(event["id"] for event in await receive_events(socket, 1))
        await socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)
    # No gap and no duplicate: the ids seen are the agent's inbox, each once, in order.
    assert seen == inbox_ids(agent)
    assert len(seen) == 5


def test_replay_after_the_latest_id_is_empty(agent, make_complaint, teammate):
    acknowledge(make_complaint(), teammate)
    deliver_pending()
    latest = inbox_ids(agent)[-1]

    async def scenario():
        socket = await connect_staff(agent)
        assert await replay_after(socket, latest) == []
        # Beyond any bigint: still an answer, not a database error.
        assert await replay_after(socket, 10**30) == []
        await socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


def test_too_old_a_last_id_is_told_to_refetch(
    agent, make_complaint, root_causes, monkeypatch, teammate
):
    monkeypatch.setattr(replay, "REPLAY_LIMIT", 3)
    complaint = make_complaint()
    acknowledge(complaint, teammate)
    resolve(complaint, teammate)
    close_loop(complaint, teammate)
    deliver_pending()
    acknowledged, resolved, loop_closed, survey_sent = inbox_ids(agent)

    async def scenario():
        socket = await connect_staff(agent)
        await socket.send_json_to({"type": "hello", "last_id": 0})
        assert await receive(socket) == {"type": "refetch"}
        await assert_quiet(socket)
        # Within the limit the same socket replays normally.
        replayed = await replay_after(socket, acknowledged)
        assert [event["id"] for event in replayed] == [resolved, loop_closed, survey_sent]
        await socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


# -- presence -----------------------------------------------------------------------------


def people(message) -> list[tuple[str, str]]:
    assert message["type"] == "presence", message
    return [(person["username"], person["mode"]) for person in message["people"]]


def test_two_agents_on_one_complaint_see_each_other_until_one_leaves(
    agent, supervisor, make_complaint
):
    complaint = make_complaint()
    reference = complaint.reference

    async def scenario():
        agent_socket = await connect_staff(agent)
        supervisor_socket = await connect_staff(supervisor)

        await agent_socket.send_json_to({"type": "open", "complaint": reference})
        message = await receive(agent_socket)
        assert message["complaint"] == reference
        assert people(message) == [("agent", "viewing")]

        await supervisor_socket.send_json_to(
            {"type": "open", "complaint": reference, "mode": "editing"}
        )
        both = [("agent", "viewing"), ("supervisor", "editing")]
        assert people(await receive(agent_socket)) == both
        assert people(await receive(supervisor_socket)) == both

        # Leaving by closing the complaint...
        await supervisor_socket.send_json_to({"type": "close", "complaint": reference})
        assert people(await receive(agent_socket)) == [("agent", "viewing")]
        await assert_quiet(supervisor_socket)

        # ...and by dropping the connection.
        await supervisor_socket.send_json_to(
            {"type": "open", "complaint": reference, "mode": "viewing"}
        )
        both = [("agent", "viewing"), ("supervisor", "viewing")]
        assert people(await receive(agent_socket)) == both
        assert people(await receive(supervisor_socket)) == both
        await supervisor_socket.disconnect(timeout=RECEIVE_TIMEOUT_S)
        assert people(await receive(agent_socket)) == [("agent", "viewing")]

        await agent_socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)
    assert not Presence.objects.filter(complaint_id=complaint.pk).exists()


def test_opening_a_complaint_the_user_may_not_see_is_an_error_and_no_presence(
    agent, supervisor, make_complaint, groups
):
    complaint = make_complaint()
    deliver_pending()
    reference = complaint.reference
    # Staff see every complaint through the view permission; an agent role without it
    # must not be able to watch one, nor show up on it.
    groups[roles.AGENT].permissions.remove(
        Permission.objects.get(codename="view_complaint", content_type__app_label="recovery")
    )

    async def scenario():
        supervisor_socket = await connect_staff(supervisor)
        await supervisor_socket.send_json_to({"type": "open", "complaint": reference})
        assert people(await receive(supervisor_socket)) == [("supervisor", "viewing")]

        agent_socket = await connect_staff(agent)
        for attempt in (
            {"type": "open", "complaint": reference},
            {"type": "open", "complaint": "RDR-2099-999999"},
            {"type": "open", "complaint": 42},
            {"type": "open"},
        ):
            await agent_socket.send_json_to(attempt)
            answer = await receive(agent_socket)
            assert answer["type"] == "error", (attempt, answer)
        await assert_quiet(supervisor_socket)
        assert await in_sync(Presence.objects.filter(user=agent).exists)() is False

        # Nor does it get the complaint's events through the complaint group.
        await add_note(complaint, supervisor, "Looked into it.")
        await in_sync(deliver_pending)()
        (pushed,) = await receive_events(supervisor_socket, 1)
        assert pushed["type"] == "complaint.note_added"
        # The agent is on the team, so its own inbox copy arrives, once: not a second one
        # through the complaint it was refused.
        (own,) = await receive_events(agent_socket, 1)
        assert own["id"] == pushed["id"]
        await assert_quiet(agent_socket)

        await agent_socket.disconnect(timeout=RECEIVE_TIMEOUT_S)
        await supervisor_socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


# -- the customer's tracking socket -------------------------------------------------------


def test_tracking_socket_refuses_bad_and_forged_tokens(make_complaint, other_customer_user):
    mine = make_complaint()
    someone_elses = make_complaint(by=other_customer_user)
    good = replay.tracking_token(mine.pk)
    # The payload of the other complaint's token glued to this token's signature.
    forged = (
        replay.tracking_token(someone_elses.pk).rsplit(":", 1)[0] + ":" + good.rsplit(":", 1)[1]
    )
    wrong_salt = signing.dumps({"c": someone_elses.pk}, salt="something.else", compress=True)
    wrong_key = signing.dumps(
        {"c": someone_elses.pk}, key="not-our-secret-key", salt=replay.TRACKING_SALT
    )
    unsigned_shape = signing.dumps("just a string", salt=replay.TRACKING_SALT)

    async def scenario():
        for token in ("nonsense", forged, wrong_salt, wrong_key, unsigned_shape):
            assert await refused_with(f"/ws/track/{token}/") == 4403, token
        communicator, connected, detail = await connect(f"/ws/track/{good}/")
        assert connected, detail
        await communicator.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


def test_tracking_socket_shows_only_its_complaints_customer_visible_events(
    agent, make_complaint, other_customer_user, root_causes
):
    mine = make_complaint()
    someone_elses = make_complaint(by=other_customer_user)
    deliver_pending()
    token = replay.tracking_token(mine.pk)

    async def scenario():
        communicator, connected, detail = await connect(f"/ws/track/{token}/")
        assert connected, detail

        await in_sync(acknowledge)(mine, agent)
        await in_sync(deliver_pending)()
        (acknowledged,) = await receive_events(communicator, 1)
        assert acknowledged["id"] == await in_sync(outbox_id_of)(mine, "complaint.acknowledged")
        assert acknowledged["complaint"] == mine.reference
        assert "parameters" not in acknowledged

        # An internal note on this complaint and a change to someone else's: neither may
        # show; the resolution after them must be the very next message.
        await add_note(mine, agent, "Customer sounded upset.")
        await in_sync(acknowledge)(someone_elses, agent)
        await in_sync(resolve)(mine, agent)
        await in_sync(deliver_pending)()
        (resolved,) = await receive_events(communicator, 1)
        assert (resolved["type"], resolved["complaint"]) == ("complaint.resolved", mine.reference)
        assert "parameters" not in resolved
        await assert_quiet(communicator)

        # Replay tells the same story: customer-visible events of this complaint only.
        replayed = await replay_after(communicator, 0)
        assert [event["type"] for event in replayed] == [
            "complaint.received",
            "complaint.acknowledged",
            "complaint.resolved",
        ]
        assert {event["complaint"] for event in replayed} == {mine.reference}
        assert all("parameters" not in event for event in replayed)
        assert [event["id"] for event in replayed][1:] == [acknowledged["id"], resolved["id"]]
        await communicator.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


def test_tracking_socket_too_old_a_last_id_is_told_to_refetch(
    agent, make_complaint, root_causes, monkeypatch
):
    monkeypatch.setattr(replay, "REPLAY_LIMIT", 1)
    complaint = make_complaint()
    acknowledge(complaint, agent)
    deliver_pending()
    token = replay.tracking_token(complaint.pk)
    received = outbox_id_of(complaint, "complaint.received")

    async def scenario():
        communicator, _, _ = await connect(f"/ws/track/{token}/")
        await communicator.send_json_to({"type": "hello", "last_id": 0})
        assert await receive(communicator) == {"type": "refetch"}
        assert [event["type"] for event in await replay_after(communicator, received)] == [
            "complaint.acknowledged"
        ]
        await communicator.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


# -- malformed messages -------------------------------------------------------------------

# Raw ASGI frames (``websocket.receive`` contents), so empty and binary frames can be sent.
BAD_STAFF_MESSAGES = [
    {"text": "this is not JSON"},
    {"text": ""},
    {"text": '{"type": "hello", "last_id": 1'},
    {"bytes": b'{"type": "hello", "last_id": 0}'},
    {"text": json.dumps([1, 2, 3])},
    {"text": json.dumps("hello")},
    {"text": json.dumps({"type": 5})},
    {"text": json.dumps({"type": "subscribe", "group": "user.1"})},
    {"text": json.dumps({"type": "hello"})},
    {"text": json.dumps({"type": "hello", "last_id": -1})},
    {"text": json.dumps({"type": "hello", "last_id": "5"})},
    {"text": json.dumps({"type": "hello", "last_id": True})},
    {"text": json.dumps({"type": "hello", "last_id": 1.5})},
    {"text": json.dumps({"type": "hello", "last_id": None})},
    {"text": json.dumps({"type": "open", "complaint": "RDR-2026-000001", "mode": "admin"})},
    {"text": json.dumps({"type": "open", "complaint": ["RDR-2026-000001"]})},
    {"text": json.dumps({"type": "open", "complaint": "x" * 10_000})},
]


def test_staff_socket_answers_malformed_messages_with_errors_and_stays_usable(
    agent, make_complaint, teammate
):
    acknowledge(make_complaint(), teammate)
    deliver_pending()

    async def scenario():
        socket = await connect_staff(agent)
        for frame in BAD_STAFF_MESSAGES:
            await socket.send_input({"type": "websocket.receive", **frame})
            answer = await receive(socket)
            assert answer["type"] == "error", (frame, answer)
            assert answer["message"], frame
        # A close for something never opened changes nothing and says nothing.
        await socket.send_json_to({"type": "close", "complaint": 7})
        await socket.send_json_to({"type": "heartbeat"})
        assert await receive(socket) == {"type": "heartbeat"}
        assert [event["type"] for event in await replay_after(socket, 0)] == [
            "complaint.acknowledged"
        ]
        await socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


BAD_TRACKING_MESSAGES = [
    {"text": "not JSON either"},
    {"text": ""},
    {"bytes": b"\x00\xff"},
    {"text": json.dumps(["hello"])},
    {"text": json.dumps({"type": "open", "complaint": "RDR-2026-000001"})},
    {"text": json.dumps({"type": "hello", "last_id": -3})},
    {"text": json.dumps({"type": "hello", "last_id": "0"})},
    {"text": json.dumps({"type": "hello", "last_id": False})},
]


def test_tracking_socket_answers_malformed_messages_with_errors_and_stays_usable(
    make_complaint,
):
    complaint = make_complaint()
    deliver_pending()
    token = replay.tracking_token(complaint.pk)

    async def scenario():
        communicator, _, _ = await connect(f"/ws/track/{token}/")
        for frame in BAD_TRACKING_MESSAGES:
            await communicator.send_input({"type": "websocket.receive", **frame})
            answer = await receive(communicator)
            assert answer["type"] == "error", (frame, answer)
        assert [event["type"] for event in await replay_after(communicator, 0)] == [
            "complaint.received"
        ]
        await communicator.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


# -- revocation reaches sockets already open ------------------------------------------------


async def closed_with(communicator) -> int:
    """The code the server closes an open socket with (it must close, and soon)."""
    while True:
        message = await communicator.receive_output(timeout=RECEIVE_TIMEOUT_S)
        if message["type"] == "websocket.close":
            return message["code"]


def test_revoking_a_token_closes_the_sockets_it_opened_and_only_those(agent, teammate):
    from knox.models import AuthToken

    async def scenario():
        revoked = await connect_staff(agent)
        kept = await connect_staff(agent)
        key = await in_sync(
            lambda: AuthToken.objects.filter(user=agent).order_by("created").first().token_key
        )()
        await in_sync(api_tokens.api_token_revoke)(user=agent, token_key=key)
        assert await closed_with(revoked) == 4401
        # The other token's socket goes on, and can still open complaints.
        await kept.send_json_to({"type": "heartbeat"})
        assert await receive(kept) == {"type": "heartbeat"}
        await kept.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


def test_revoking_every_token_closes_every_socket_of_the_user(agent):
    async def scenario():
        first, second = await connect_staff(agent), await connect_staff(agent)
        await in_sync(api_tokens.api_tokens_revoke_all)(user=agent)
        assert await closed_with(first) == 4401
        assert await closed_with(second) == 4401

    run(scenario)


def test_deactivating_the_account_closes_its_session_socket(agent):
    browser = Client()
    browser.force_login(agent)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()

    async def scenario():
        socket, connected, _ = await connect("/ws/events/", headers=[*ORIGIN, (b"cookie", cookie)])
        assert connected

        def deactivate():
            agent.is_active = False
            agent.save()

        await in_sync(deactivate)()
        assert await closed_with(socket) == 4401

    run(scenario)


def test_changing_the_password_closes_the_sockets_its_tokens_opened(agent):
    async def scenario():
        socket = await connect_staff(agent)

        def change_password():
            agent.set_password("a-new-and-long-passphrase")
            agent.save()

        await in_sync(change_password)()
        assert await closed_with(socket) == 4401

    run(scenario)


def test_a_socket_rechecks_its_token_when_the_revocation_message_was_lost(agent, monkeypatch):
    from knox.models import AuthToken

    from notifications import consumers

    async def scenario():
        socket = await connect_staff(agent)
        # Deleted behind the service's back: no message reaches the socket.
        await in_sync(AuthToken.objects.filter(user=agent).delete)()
        monkeypatch.setattr(consumers, "CREDENTIAL_RECHECK_S", 0)
        await socket.send_json_to({"type": "open", "complaint": "RDR-2026-000001"})
        assert await closed_with(socket) == 4401

    run(scenario)


def test_reissuing_the_tracking_link_closes_sockets_opened_with_the_old_one(
    make_complaint, agent, no_fast_path
):
    complaint = make_complaint()
    deliver_pending()
    old = replay.tracking_token(complaint.pk)

    async def scenario():
        socket, connected, _ = await connect(f"/ws/track/{old}/")
        assert connected
        await in_sync(tracking_links.tracking_link_reissue)(
            complaint=complaint, actor=agent, reason="Sent to the wrong address."
        )
        assert await closed_with(socket) == 4403
        # The new link opens a socket, which receives the re-issue event.
        new = await in_sync(replay.tracking_token)(complaint.pk)
        fresh, connected, _ = await connect(f"/ws/track/{new}/")
        assert connected
        await in_sync(deliver_pending)()
        (event,) = await receive_events(fresh, 1)
        assert "tracking_link_reissued" in event["type"]
        await fresh.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


def test_a_revoked_link_is_told_no_event_even_if_the_recheck_message_was_lost(
    make_complaint, agent, monkeypatch
):
    from notifications import socket_auth

    complaint = make_complaint()
    deliver_pending()
    old = replay.tracking_token(complaint.pk)
    # The message that closes the socket at once is lost (as with Redis down at that moment).
    monkeypatch.setattr(socket_auth, "recheck_tracking_sockets", lambda complaint_id: None)

    async def scenario():
        socket, connected, _ = await connect(f"/ws/track/{old}/")
        assert connected
        await in_sync(tracking_links.tracking_link_reissue)(
            complaint=complaint, actor=agent, reason="Sent to the wrong address."
        )
        await in_sync(deliver_pending)()
        # Closed on the re-issue event, which it is not sent.
        message = await socket.receive_output(timeout=RECEIVE_TIMEOUT_S)
        assert message == {"type": "websocket.close", "code": 4403}, message

    run(scenario)


def test_with_redis_down_an_open_socket_answers_open_with_an_error_not_a_crash(
    agent, make_complaint, caplog, monkeypatch
):
    from channels_redis.core import RedisChannelLayer

    complaint = make_complaint()

    async def down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")

    async def scenario():
        socket = await connect_staff(agent)
        monkeypatch.setattr(RedisChannelLayer, "group_add", down)
        await socket.send_json_to({"type": "open", "complaint": complaint.reference})
        assert await receive(socket) == {
            "type": "error",
            "message": "live updates unavailable, retrying",
        }
        monkeypatch.undo()
        await socket.send_json_to({"type": "heartbeat"})
        assert await receive(socket) == {"type": "heartbeat"}
        await socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_an_error_echoes_at_most_the_start_of_a_long_value(agent):
    async def scenario():
        socket = await connect_staff(agent)
        await socket.send_json_to({"type": "open", "complaint": "x" * 10_000})
        answer = await receive(socket)
        assert answer["type"] == "error"
        assert len(answer["message"]) < 80, answer
        assert answer["message"].endswith("….")
        await socket.send_json_to({"type": "y" * 10_000})
        assert len((await receive(socket))["message"]) < 80
        await socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


# -- the supervisors' board: rung by every complaint's change ------------------------------


@pytest.fixture
def second_supervisor(groups, team):
    """Billing's other supervisor: acts while ``supervisor`` has the board open."""
    from tests.factories import UserFactory

    user = UserFactory(username="second_supervisor")
    user.groups.add(groups[roles.SUPERVISOR])
    team.members.add(user)
    return user


async def next_of_type(communicator, kind: str) -> dict:
    """The next message of ``kind``, passing over the user's own event pushes."""
    while True:
        message = await receive(communicator)
        if message["type"] == kind:
            return message
        assert message["type"] == "event", message


def test_a_board_is_rung_when_another_supervisor_changes_a_complaint(
    supervisor, second_supervisor, agent, make_complaint
):
    complaint = make_complaint()
    deliver_pending()
    seen = Outbox.objects.order_by("-id").first().pk

    async def scenario():
        socket = await connect_staff(supervisor)
        await socket.send_json_to({"type": "board", "last_id": seen})
        await assert_quiet(socket)  # nothing changed since the board was read
        # Assigning is the agents' routine: the supervisor is told nothing of it in person,
        # but the board that shows the card is rung.
        await in_sync(sla.complaint_assign)(
            complaint=complaint, assignee=agent, actor=second_supervisor
        )
        delivered = await in_sync(deliver_pending)()
        assert await next_of_type(socket, "board") == {"type": "board", "id": delivered[-1]}
        await socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


def test_a_board_that_missed_a_ring_is_told_on_its_next_board_message(
    supervisor, second_supervisor, agent, make_complaint
):
    complaint = make_complaint()
    deliver_pending()
    seen = Outbox.objects.order_by("-id").first().pk
    # Changed while the board's socket was down, and rung to nobody.
    sla.complaint_assign(complaint=complaint, assignee=agent, actor=second_supervisor)
    delivered = deliver_pending()

    async def scenario():
        socket = await connect_staff(supervisor)
        await socket.send_json_to({"type": "board", "last_id": seen})
        assert await next_of_type(socket, "board") == {"type": "board", "id": delivered[-1]}
        # Said again with the newest id (the resync): nothing more to tell.
        await socket.send_json_to({"type": "board", "last_id": delivered[-1]})
        await assert_quiet(socket)
        await socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


def test_an_agent_may_not_follow_the_board_and_is_never_rung(
    agent, supervisor, teammate, make_complaint
):
    complaint = make_complaint()
    deliver_pending()

    async def scenario():
        socket = await connect_staff(agent)
        await socket.send_json_to({"type": "board", "last_id": 0})
        assert await receive(socket) == {
            "type": "error",
            "message": "Only supervisors follow the board.",
        }
        for bad in (-1, "7", True, None):
            await socket.send_json_to({"type": "board", "last_id": bad})
            assert (await receive(socket))["type"] == "error"
        # A change the agent is told of arrives as their event, and no ring comes with it:
        # the event is the sentinel that the ring, had there been one, would have beaten.
        await add_note(complaint, teammate, "Called back")
        await in_sync(deliver_pending)()
        message = await receive(socket)
        assert message["type"] == "event", message
        await assert_quiet(socket)
        await socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


def test_a_supervisor_who_lost_the_permission_is_no_longer_rung(
    supervisor, second_supervisor, agent, groups, make_complaint
):
    complaint = make_complaint()
    deliver_pending()

    async def scenario():
        socket = await connect_staff(supervisor)
        await socket.send_json_to({"type": "board", "last_id": 10**9})
        await assert_quiet(socket)
        await in_sync(supervisor.groups.set)([groups[roles.AGENT]])
        await socket.send_json_to({"type": "board", "last_id": 10**9})  # the resync
        assert (await receive(socket))["message"] == "Only supervisors follow the board."
        await in_sync(sla.complaint_assign)(
            complaint=complaint, assignee=agent, actor=second_supervisor
        )
        await in_sync(deliver_pending)()
        # An agent now, told of the team's routine as its event; the board's ring, sent
        # after it in the same delivery, does not follow.
        assert (await receive(socket))["type"] == "event"
        await assert_quiet(socket)
        await socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)


# -- a client that goes away mid-message ---------------------------------------------------


def _writer_tasks() -> list:
    """The team-push writer tasks (``SocketPushes._write``) still running in this loop."""
    import asyncio

    return [
        task
        for task in asyncio.all_tasks()
        if not task.done() and task.get_coro().__qualname__ == "SocketPushes._write"
    ]


def test_a_client_that_leaves_mid_message_logs_no_warning_and_leaves_no_task(agent, caplog):
    """A page left or reloaded while its socket's message is answered: the server raises
    from ``send`` (uvicorn's ClientDisconnected, an OSError with an empty message), then
    says the socket disconnected. That is normal: no warning, no error, and the consumer
    ends as for any close, its writer task with it."""
    from uvicorn.protocols.utils import ClientDisconnected

    client_gone = False

    async def server(scope, receive, send):
        async def send_to_client(message):
            if client_gone and message["type"] == "websocket.send":
                raise ClientDisconnected
            await send(message)

        await application(scope, receive, send_to_client)

    async def scenario():
        nonlocal client_gone
        key = await in_sync(token_for)(agent)
        socket = WebsocketCommunicator(server, f"/ws/events/?token={key}", headers=ORIGIN)
        connected, detail = await socket.connect(timeout=RECEIVE_TIMEOUT_S)
        assert connected, detail
        assert _writer_tasks()
        client_gone = True
        await socket.send_json_to({"type": "heartbeat"})
        await socket.send_input({"type": "websocket.disconnect", "code": 1001})
        await socket.wait(timeout=RECEIVE_TIMEOUT_S)  # raises if the consumer raised
        assert not _writer_tasks()

    with caplog.at_level(logging.DEBUG, logger="notifications"):
        run(scenario)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "closed by its client while a websocket.receive was handled" in caplog.text


def test_a_layer_failure_with_an_empty_message_is_named_by_its_class(
    agent, make_complaint, caplog, monkeypatch
):
    from channels_redis.core import RedisChannelLayer

    complaint = make_complaint()

    async def down(*args, **kwargs):
        raise redis.exceptions.TimeoutError()

    async def scenario():
        socket = await connect_staff(agent)
        monkeypatch.setattr(RedisChannelLayer, "group_add", down)
        await socket.send_json_to({"type": "open", "complaint": complaint.reference})
        assert await receive(socket) == {"type": "error", "message": LAYER_DOWN}
        monkeypatch.undo()
        await socket.disconnect(timeout=RECEIVE_TIMEOUT_S)

    run(scenario)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "Staff socket message not handled: channel layer unreachable (TimeoutError)."
    ]
