"""Websocket consumers: thin; authorisation and replay live in services and selectors.

Protocol (JSON, docs/notifications.md):
- client → ``{"type": "hello", "last_id": N}``: replay events after N, or ``{"type": "refetch"}``;
- client → ``{"type": "open", "complaint": "RDR-…", "mode": "viewing"|"editing"}`` /
  ``{"type": "close", "complaint": "RDR-…"}`` / ``{"type": "heartbeat"}``;
- server → ``{"type": "event", "event": {...}}``, ``{"type": "presence", ...}``.
"""

import asyncio
import logging
import time

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model

from notifications import audience, fanout, groups, presence, replay
from recovery import roles, rules
from recovery.models import Complaint

# Close codes in the private range (4000-4999): unauthenticated, forbidden, no such path.
logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
# RFC 6455 "Try Again Later": the channel layer (Redis) is unreachable; the client's
# reconnect with backoff gets in once it is back, and replays what it missed.
CLOSE_TRY_AGAIN = 1013
# A staff socket re-reads its user's teams on a heartbeat at most this often. Pushes name
# their recipients, so leaving a team stops its events at once; joining one starts its live
# events within this time (plus a heartbeat), and the inbox replays anything before that.
# Every read is a database connection, and a server holds hundreds of sockets.
TEAMS_REFRESH_S = 60
# An open socket re-checks the credential it was opened with (API token or session, tracking
# link) at most this often, when it handles a message. Revocation closes sockets at once
# through the channel layer (``socket_auth.close_user_sockets``); this is the backstop for a
# revocation message lost while Redis was down, or a link that expired.
CREDENTIAL_RECHECK_S = 30
# How much of a client's bad value an error message repeats.
ECHO_MAX_CHARS = 40
LAYER_DOWN_MESSAGE = "live updates unavailable, retrying"


def _echo(value) -> str:
    """``value`` as an error quotes it, cut short: a client's 10 kB string is not echoed."""
    text = repr(value)
    return text if len(text) <= ECHO_MAX_CHARS else text[:ECHO_MAX_CHARS] + "…"


def _token_still_valid(key: str, user_id: int) -> bool:
    from recovery.auth import user_for_token

    user = user_for_token(key)
    return user is not None and user.pk == user_id


def _may_follow_the_board(user_id: int) -> bool:
    """Whoever may open the supervisors' board (``desk.board``) may hear it ring; read
    afresh, not from the socket's user, whose permissions are cached for its lifetime."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    return user is not None and user.has_perm("recovery.work_any_complaint")


def _staff_teams(user) -> list[int] | None:
    """The user's teams, or None when the user is not (active) staff (one trip to the
    database). Team groups carry the team's complaints: the access policy
    (``recovery.access``) lets exactly the team's members see them."""
    if not user.is_active or not roles.is_staff_member(user):
        return None
    return audience.teams_of(user.pk)


class LayerOutageTolerant:
    """A consumer whose reading of its own channel survives a channel layer outage, and ends.

    Channels reads the consumer's channel (``channel_receive``) beside the socket and lets
    a layer error escape the application: with Redis down every socket ended in a 500 and
    a traceback. Here the read waits and retries (1, 2, 4 … up to 30 s) instead; the socket
    side still closes or serves as usual, and cancels the read when it ends: the read is
    made to end then (``fanout.cancellable``), or the consumer would wait for it forever
    (a stopping server waited its whole grace period for an idle process).
    """

    @property
    def channel_receive(self):
        return self._channel_receive_retrying

    @channel_receive.setter
    def channel_receive(self, receive) -> None:
        self._layer_receive = receive

    async def _channel_receive_retrying(self):
        delay = fanout.RETRY_S
        while True:
            try:
                return await fanout.cancellable(self._layer_receive())
            except asyncio.CancelledError:
                raise
            except Exception:  # the layer's Redis client, whatever it raised
                await asyncio.sleep(delay)
                delay = min(delay * 2, fanout.MAX_RETRY_S)


async def refuse(send, code: int) -> None:
    """Accept the handshake, then close with ``code``.

    Closing before accepting would refuse the handshake itself: the server answers HTTP 403
    and a browser's WebSocket sees only 1006, whatever the reason. Accepted first, the
    client reads the documented code (4401 sign in, 4403 forbidden, 4404 no such socket,
    1013 try again later) and can act on it.
    """
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code})


class ClientGone(Exception):
    """The client closed its socket while a message was being answered: nothing to fix.

    The server says so by raising from ``send`` (uvicorn's ``ClientDisconnected``, an
    ``OSError`` whose message is empty); its ``websocket.disconnect`` follows, and the
    consumer's ``disconnect`` tidies up as for any close.
    """


class JsonProtocolConsumer(LayerOutageTolerant, AsyncJsonWebsocketConsumer):
    """Channels' JSON consumer, but a frame that is not JSON text is answered, not fatal.

    The base class raises on binary or empty frames and on invalid JSON, which ends the
    connection: one bad message from a client would drop its live feed. A client that goes
    away while its message is answered (a page left or reloaded) is normal, not an error.
    """

    # Channel-layer messages whose handlers never touch the database.
    NO_DATABASE_MESSAGES = frozenset({groups.PUSH_TYPE, groups.BOARD_PUSH_TYPE, "presence.update"})

    async def dispatch(self, message):
        try:
            await self._dispatch(message)
        except ClientGone:
            # The server's websocket.disconnect comes next; the consumer ends as on any close.
            logger.debug("Socket closed by its client while a %s was handled.", message["type"])

    async def _dispatch(self, message):
        # Channels closes stale database connections before every message it dispatches,
        # through a hop to the one thread-sensitive executor thread. A team push reaches every
        # member's socket in the process, so that is one hop per socket, all queued on one
        # thread: most of the cost of a push. These handlers use no database; the others call
        # it through database_sync_to_async, which closes stale connections itself.
        handler = (
            getattr(self, get_handler_name(message), None)
            if message.get("type") in self.NO_DATABASE_MESSAGES
            else None
        )
        if handler is None:
            await super().dispatch(message)
        else:
            await handler(message)

    async def refuse(self, code: int) -> None:
        """Close with ``code`` after accepting, so the client reads it (``refuse``)."""
        await self.accept()
        await self.close(code=code)

    async def __call__(self, scope, receive, send):
        async def send_to_client(message):
            """The server's ``send``, but a socket the client has closed raises
            ``ClientGone``: told apart here, where only the client can have failed, it is
            never taken for the channel layer failing (both raise ``OSError``)."""
            try:
                await send(message)
            except OSError as exc:
                raise ClientGone from exc

        await super().__call__(scope, receive, send_to_client)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is None:
            await self.send_json({"type": "error", "message": "Send JSON text frames."})
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError:
            await self.send_json({"type": "error", "message": "Not valid JSON."})
            return
        await self.receive_json(content, **kwargs)

    async def send_missed(self, last_id, missed_after) -> None:
        """Answer ``hello``: every event after ``last_id`` from the database, or refetch."""
        if not isinstance(last_id, int) or isinstance(last_id, bool) or last_id < 0:
            await self.send_json({"type": "error", "message": "last_id must be an integer ≥ 0."})
            return
        missed = await database_sync_to_async(missed_after)(last_id)
        if missed is None:
            await self.send_json({"type": "refetch"})
            return
        for event in missed:
            await self.send_json({"type": "event", "event": event})
        await self.send_json({"type": "replayed", "count": len(missed)})


class StaffEventsConsumer(JsonProtocolConsumer):
    """An agent's or supervisor's live feed: their events, and the complaints they open.

    The socket listens on its user's group and the groups of the user's teams. A team push
    names the members it is for (``to``): the team group only carries it, and the server
    process's fanout hands it only to the sockets of the users it names, so someone who left
    a team (or muted the event) is never sent its events. Team membership is re-read on a
    heartbeat, at most every ``TEAMS_REFRESH_S``.
    """

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the consumer ended (``disconnect`` is not called when it raised or was
            # cancelled), its writer task ends with it rather than being destroyed pending.
            if hasattr(self, "team_pushes"):
                await self.team_pushes.stop()

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        team_ids = await database_sync_to_async(_staff_teams)(user)
        if team_ids is None:
            await self.refuse(CLOSE_FORBIDDEN)
            return
        self.user = user
        self.open_complaints: dict[str, int] = {}
        self.listening: set[str] = set()
        self.on_board = False
        self.team_pushes = fanout.SocketPushes(user.pk, self._send_text)
        try:
            await self._listen_to(groups.staff_groups(user.pk, team_ids))
        except Exception as exc:  # the channel layer's Redis, whatever its client raised
            fanout.team_fanout().forget(self.team_pushes)
            self.listening = set()
            await self._refuse_layer_down(exc)
            return
        self.teams_read_at = self.credential_checked_at = time.monotonic()
        await self.accept()
        self.team_pushes.start()

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _refuse_layer_down(self, failure: Exception) -> None:
        logger.warning(
            "Staff socket refused: channel layer unreachable (%s).",
            fanout.describe_failure(failure),
        )
        await self.refuse(CLOSE_TRY_AGAIN)

    async def _listen_to(self, wanted: list[str]) -> None:
        """Join the groups in ``wanted`` not yet joined, and leave the joined ones not in it.

        Team groups are joined through this process's fanout (``notifications.fanout``), the
        user's own group through the channel layer.
        """
        for group in sorted(set(wanted) - self.listening):
            if groups.is_team_group(group):
                await fanout.team_fanout().join(group, self.team_pushes)
            else:
                await self.channel_layer.group_add(group, self.channel_name)
        for group in sorted(self.listening - set(wanted)):
            await self._leave(group)
        self.listening = set(wanted)

    async def _leave(self, group: str) -> None:
        if groups.is_team_group(group):
            await fanout.team_fanout().leave(group, self.team_pushes)
        else:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def disconnect(self, code):
        if not hasattr(self, "user"):
            return
        await self.team_pushes.stop()
        for group in sorted(self.listening):
            await self._leave(group)
        for complaint_id in self.open_complaints.values():
            await self.channel_layer.group_discard(
                groups.complaint_group(complaint_id), self.channel_name
            )
        if self.on_board:
            await self.channel_layer.group_discard(groups.BOARD_GROUP, self.channel_name)
        cleared = await database_sync_to_async(presence.presence_clear)(
            channel_name=self.channel_name
        )
        for complaint_id in cleared:
            await self._announce_presence(complaint_id)

    async def receive_json(self, content, **kwargs):
        if not await self._credential_still_valid():
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            await self._handle(content)
        except Exception as exc:  # the channel layer's Redis, whatever its client raised
            if not _is_layer_failure(exc):
                raise
            # The socket stays: its channel read waits for the layer (LayerOutageTolerant).
            logger.warning(
                "Staff socket message not handled: channel layer unreachable (%s).",
                fanout.describe_failure(exc),
            )
            await self.send_json({"type": "error", "message": LAYER_DOWN_MESSAGE})

    async def _credential_still_valid(self) -> bool:
        """The token or session the socket was opened with, re-checked at most every
        ``CREDENTIAL_RECHECK_S``: still valid, for an active member of staff."""
        if time.monotonic() - self.credential_checked_at < CREDENTIAL_RECHECK_S:
            return True
        key = self.scope.get("api_token")
        if key:
            valid = await database_sync_to_async(_token_still_valid)(key, self.user.pk)
        else:
            from channels.auth import get_user

            # The session again: signed out, password changed (its hash), deactivated.
            user = await get_user(self.scope)
            valid = user.is_authenticated and user.pk == self.user.pk
        if valid:
            self.credential_checked_at = time.monotonic()
        return valid

    async def credentials_revoked(self, message):
        """A credential of this user was revoked (``socket_auth.close_user_sockets``)."""
        token_key = message.get("token_key")
        if token_key is None or token_key == self.scope.get("api_token_key"):
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _handle(self, content):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "hello":
            await self._replay(content.get("last_id"))
        elif kind == "open":
            await self._open(content.get("complaint"), content.get("mode", "viewing"))
        elif kind == "close":
            await self._close(content.get("complaint"))
        elif kind == "heartbeat":
            await self._heartbeat()
        elif kind == "board":
            await self._follow_board(content.get("last_id"))
        else:
            await self.send_json(
                {"type": "error", "message": f"Unknown message type {_echo(kind)}."}
            )

    async def _replay(self, last_id):
        await self.send_missed(last_id, lambda after: replay.missed_by_user(self.user.pk, after))

    async def _follow_board(self, last_id):
        """``{"type": "board", "last_id": N}``: ring this socket whenever a complaint changes,
        and answer ``{"type": "board", "id": M}`` at once if one changed after N (a ring
        missed while disconnected, or dropped by the layer). Sent on connecting and again
        with each resync; the permission is read every time, so losing it stops the rings.
        """
        if not isinstance(last_id, int) or isinstance(last_id, bool) or last_id < 0:
            await self.send_json({"type": "error", "message": "last_id must be an integer ≥ 0."})
            return
        if not await database_sync_to_async(_may_follow_the_board)(self.user.pk):
            if self.on_board:
                await self.channel_layer.group_discard(groups.BOARD_GROUP, self.channel_name)
                self.on_board = False
            await self.send_json({"type": "error", "message": "Only supervisors follow the board."})
            return
        if not self.on_board:
            await self.channel_layer.group_add(groups.BOARD_GROUP, self.channel_name)
            self.on_board = True
        latest = await database_sync_to_async(replay.latest_complaint_event)(last_id)
        if latest is not None:
            await self.send_json({"type": "board", "id": latest})

    async def _open(self, reference, mode):
        if mode not in presence.MODES:
            await self.send_json({"type": "error", "message": "mode must be viewing or editing."})
            return
        complaint_id = await self._visible_complaint(reference)
        if complaint_id is None:
            await self.send_json({"type": "error", "message": f"No complaint {_echo(reference)}."})
            return
        self.open_complaints[reference] = complaint_id
        await self.channel_layer.group_add(groups.complaint_group(complaint_id), self.channel_name)
        await database_sync_to_async(presence.presence_set)(
            complaint_id=complaint_id, user=self.user, channel_name=self.channel_name, mode=mode
        )
        await self._announce_presence(complaint_id)

    async def _close(self, reference):
        complaint_id = (
            self.open_complaints.pop(reference, None) if isinstance(reference, str) else None
        )
        if complaint_id is None:
            return
        await self.channel_layer.group_discard(
            groups.complaint_group(complaint_id), self.channel_name
        )
        await database_sync_to_async(presence.presence_clear)(
            channel_name=self.channel_name, complaint_id=complaint_id
        )
        await self._announce_presence(complaint_id)

    async def _heartbeat(self):
        if time.monotonic() - self.teams_read_at >= TEAMS_REFRESH_S:
            # Joined or left a team since: listen to the teams the user is on now.
            team_ids = await database_sync_to_async(audience.teams_of)(self.user.pk)
            await self._listen_to(groups.staff_groups(self.user.pk, team_ids))
            self.teams_read_at = time.monotonic()
        for complaint_id in self.open_complaints.values():
            await database_sync_to_async(presence.presence_set)(
                complaint_id=complaint_id,
                user=self.user,
                channel_name=self.channel_name,
                mode=await self._mode_of(complaint_id),
            )
        await self.send_json({"type": "heartbeat"})

    @database_sync_to_async
    def _mode_of(self, complaint_id):
        from notifications.models import Presence

        row = Presence.objects.filter(
            complaint_id=complaint_id, channel_name=self.channel_name
        ).first()
        return row.mode if row else "viewing"

    @database_sync_to_async
    def _visible_complaint(self, reference) -> int | None:
        if not isinstance(reference, str) or len(reference) > 32:
            return None
        complaint = Complaint.objects.filter(reference=reference.upper()).first()
        if complaint is None or not rules.may_view(complaint, self.user):
            return None
        return complaint.pk

    async def _announce_presence(self, complaint_id):
        people = await database_sync_to_async(presence.presence_list)(complaint_id)
        await self.channel_layer.group_send(
            groups.complaint_group(complaint_id),
            {"type": "presence.update", "complaint_id": complaint_id, "people": people},
        )

    async def event_push(self, message):
        if groups.addressed_to(message, self.user.pk):
            await self.send(text_data=message["text"])

    async def board_changed(self, message):
        if self.on_board:
            await self.send(text_data=message["text"])

    async def presence_update(self, message):
        reference = next(
            (ref for ref, cid in self.open_complaints.items() if cid == message["complaint_id"]),
            None,
        )
        await self.send_json(
            {"type": "presence", "complaint": reference, "people": message["people"]}
        )


class TrackingConsumer(JsonProtocolConsumer):
    """A customer's read-only feed of one complaint, reached by its signed tracking token."""

    async def connect(self):
        token = self.scope["url_route"]["kwargs"]["token"]
        # Revoked and expired links are refused too: that needs the complaint's row.
        complaint_id = await database_sync_to_async(replay.complaint_of_tracking_token)(token)
        if complaint_id is None:
            await self.refuse(CLOSE_FORBIDDEN)
            return
        try:
            await self.channel_layer.group_add(
                groups.tracking_group(complaint_id), self.channel_name
            )
        except Exception as exc:  # the channel layer's Redis, whatever its client raised
            logger.warning(
                "Tracking socket refused: channel layer unreachable (%s).",
                fanout.describe_failure(exc),
            )
            await self.refuse(CLOSE_TRY_AGAIN)
            return
        self.complaint_id = complaint_id
        self.token = token
        self.link_checked_at = time.monotonic()
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "complaint_id"):
            await self.channel_layer.group_discard(
                groups.tracking_group(self.complaint_id), self.channel_name
            )

    async def _link_still_valid(self, *, now: bool = False) -> bool:
        """The link the socket was opened with still opens this complaint (not revoked, not
        expired); read at most every ``CREDENTIAL_RECHECK_S`` unless ``now``."""
        if not now and time.monotonic() - self.link_checked_at < CREDENTIAL_RECHECK_S:
            return True
        complaint_id = await database_sync_to_async(replay.complaint_of_tracking_token)(self.token)
        if complaint_id != self.complaint_id:
            return False
        self.link_checked_at = time.monotonic()
        return True

    async def tracking_link_changed(self, message):
        """The complaint's links were re-issued (``socket_auth.recheck_tracking_sockets``)."""
        if not await self._link_still_valid(now=True):
            await self.close(code=CLOSE_FORBIDDEN)

    async def receive_json(self, content, **kwargs):
        if not await self._link_still_valid():
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if not isinstance(content, dict) or content.get("type") != "hello":
            await self.send_json({"type": "error", "message": "This socket is read-only."})
            return
        await self.send_missed(
            content.get("last_id"),
            lambda after: replay.missed_by_customer(self.complaint_id, after),
        )

    async def event_push(self, message):
        # Read on every event (a complaint's events are few): a revoked or expired link is
        # told nothing more, the re-issue event included.
        if not await self._link_still_valid(now=True):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.send(text_data=message["text"])


def _is_layer_failure(exc: Exception) -> bool:
    """An error of the channel layer's Redis client (connection refused, timeout …)."""
    import redis

    return isinstance(exc, (redis.exceptions.RedisError, OSError, TimeoutError))


async def unknown_path(scope, receive, send) -> None:
    """A socket to a path no consumer serves: closed with 4404, as an unknown page is a 404.

    A bare ASGI application, not a consumer: it needs no channel of its own.
    """
    await refuse_connection(receive, send, CLOSE_NOT_FOUND)


async def refuse_connection(receive, send, code: int) -> None:
    """Refuse a socket no consumer runs for (``refuse``), and wait for the client to go."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await refuse(send, code)
    while message["type"] != "websocket.disconnect":
        message = await receive()
