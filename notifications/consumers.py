"""Websocket consumers: thin; authorisation and replay live in services and selectors.

Protocol (JSON, docs/notifications.md):
- client → ``{"type": "hello", "last_id": N}``: replay events after N, or ``{"type": "refetch"}``;
- client → ``{"type": "open", "complaint": "RDR-…", "mode": "viewing"|"editing"}`` /
  ``{"type": "close", "complaint": "RDR-…"}`` / ``{"type": "heartbeat"}``;
- server → ``{"type": "event", "event": {...}}``, ``{"type": "presence", ...}``.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from notifications import groups, presence, replay
from recovery import roles, rules
from recovery.models import Complaint

# Close codes in the private range (4000-4999): unauthenticated, forbidden.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class JsonProtocolConsumer(AsyncJsonWebsocketConsumer):
    """Channels' JSON consumer, but a frame that is not JSON text is answered, not fatal.

    The base class raises on binary or empty frames and on invalid JSON, which ends the
    connection: one bad message from a client would drop its live feed.
    """

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
    """An agent's or supervisor's live feed: their events, and the complaints they open."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(roles.is_staff_member)(user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user = user
        self.open_complaints: dict[str, int] = {}
        await self.channel_layer.group_add(groups.user_group(user.pk), self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if not hasattr(self, "user"):
            return
        await self.channel_layer.group_discard(groups.user_group(self.user.pk), self.channel_name)
        for complaint_id in self.open_complaints.values():
            await self.channel_layer.group_discard(
                groups.complaint_group(complaint_id), self.channel_name
            )
        cleared = await database_sync_to_async(presence.presence_clear)(
            channel_name=self.channel_name
        )
        for complaint_id in cleared:
            await self._announce_presence(complaint_id)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "hello":
            await self._replay(content.get("last_id"))
        elif kind == "open":
            await self._open(content.get("complaint"), content.get("mode", "viewing"))
        elif kind == "close":
            await self._close(content.get("complaint"))
        elif kind == "heartbeat":
            await self._heartbeat()
        else:
            await self.send_json({"type": "error", "message": f"Unknown message type {kind!r}."})

    async def _replay(self, last_id):
        await self.send_missed(last_id, lambda after: replay.missed_by_user(self.user.pk, after))

    async def _open(self, reference, mode):
        if mode not in presence.MODES:
            await self.send_json({"type": "error", "message": "mode must be viewing or editing."})
            return
        complaint_id = await self._visible_complaint(reference)
        if complaint_id is None:
            await self.send_json({"type": "error", "message": f"No complaint {reference!r}."})
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
        event = message["event"]
        await self.send_json({"type": "event", "event": event})

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
        complaint_id = replay.complaint_of_tracking_token(token)
        if complaint_id is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.complaint_id = complaint_id
        await self.channel_layer.group_add(groups.tracking_group(complaint_id), self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "complaint_id"):
            await self.channel_layer.group_discard(
                groups.tracking_group(self.complaint_id), self.channel_name
            )

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or content.get("type") != "hello":
            await self.send_json({"type": "error", "message": "This socket is read-only."})
            return
        await self.send_missed(
            content.get("last_id"),
            lambda after: replay.missed_by_customer(self.complaint_id, after),
        )

    async def event_push(self, message):
        await self.send_json({"type": "event", "event": message["event"]})
