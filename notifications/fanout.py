"""Team pushes, fanned out to a server process's sockets once per process.

A team push goes to every member's socket. Through Channels that costs, per socket, a message
handed to the consumer's channel, an asyncio task and an ``asyncio.wait`` to receive it, and
a dispatch: 0.2-0.4 ms of CPU per push, which for a team of 500 is most of the time an event
takes to reach everyone (bench/README.md). Instead, each server process (each event loop) has
one ``TeamFanout``:

1. it listens, on one channel of its own, to the team groups of the sockets open in this
   process: it joins a team's group when the first of them joins it and leaves it when the
   last one leaves, so the layer carries a team push to each process once;
2. it receives each team push once and puts the socket frame, serialised once by the sender,
   in the buffer of each socket of this process that listens to that team *and* whose user
   the push names (``to``): authorisation is exactly that of a push through Channels;
3. each socket writes its buffer out in a task of its own, so a client that stops reading
   (its server buffer full) holds up only itself; when its buffer is full, pushes to it are
   dropped, as the channel layer drops them: the client replays what it missed from the inbox.

Group memberships in channels-redis expire (``group_expiry``, a day) and are lost with Redis:
the fanout joins its groups again every ``REJOIN_S``. When the last socket of the process
leaves, the fanout stops listening (its tasks end); the next socket starts it again.
"""

import asyncio
import contextlib
import logging

from channels.layers import get_channel_layer

from notifications import groups

logger = logging.getLogger(__name__)

# Pushes a socket may have waiting to be written. A client that reads nothing for this many
# events loses the newest ones (it replays them from the inbox); 10 events a second for a
# team is a busy desk, so this is several seconds of a stalled client.
SOCKET_BUFFER = 100
# How often a fanout joins its groups again: well inside channels-redis's group expiry of a
# day, and soon enough after Redis lost its data (a restart without persistence).
REJOIN_S = 600
# After the layer failed (Redis down), wait this long before trying again, doubling up to
# MAX_RETRY_S: a long outage costs a connection attempt every half minute, not every second,
# and pushes resume within half a minute of Redis (clients replay what they missed).
RETRY_S = 1.0
MAX_RETRY_S = 30.0

# A Redis call whose cancellation was lost (``cancellable`` below) is cancelled again this
# often until it ends. A blocking read (BRPOP) loses it often, so this is how late a closing
# socket's consumer may end; a cancel is cheap, so it can be short.
RECANCEL_S = 0.1

_fanouts: dict[asyncio.AbstractEventLoop, "TeamFanout"] = {}


def describe_failure(exc: BaseException) -> str:
    """A channel layer error as a warning names it: its class, and its message if any.

    Redis clients raise errors with empty messages (a ``TimeoutError()``), and redis-py's
    ``repr`` drops the message: either alone can leave a warning saying nothing.
    """
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


async def cancellable(awaitable):
    """Await ``awaitable`` (a channel layer call) so that cancelling the caller surely ends it.

    redis-py bounds every socket read and write with ``asyncio.wait_for``, which on Python
    3.11 loses a cancellation that lands just as the read or write completes (CPython
    gh-86296, fixed in 3.12). The call then goes on, and channels-redis's ``receive`` polls
    Redis for the next message forever: a socket that closed, or an event loop shutting down
    (a server stopping, ``asyncio.run`` ending), waited for it forever. So the call runs in a
    task of its own, and when the caller is cancelled the task is cancelled again every
    RECANCEL_S until it has ended; then the caller's cancellation goes on. (Cancelling a
    blocking read often only takes effect when the read returns, after up to five seconds.)
    """
    task = asyncio.ensure_future(awaitable)
    try:
        await asyncio.wait({task})
    except asyncio.CancelledError:
        while not task.done():
            task.cancel()
            # Cancelled again meanwhile: this caller is on its way out already.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({task}, timeout=RECANCEL_S)
        if not task.cancelled():
            task.exception()  # retrieved: a message or an error raced the cancellation
        raise
    return task.result()


class SocketPushes:
    """One socket's buffer of team pushes, written out in a task of its own."""

    def __init__(self, user_id: int, send_text):
        self.user_id = user_id
        self._send_text = send_text
        self._frames: asyncio.Queue[str] = asyncio.Queue(maxsize=SOCKET_BUFFER)
        self._writer: asyncio.Task | None = None

    def start(self) -> None:
        """Start writing; pushes buffered before (the socket not yet accepted) go first."""
        self._writer = asyncio.get_running_loop().create_task(self._write())

    def push(self, text: str) -> None:
        try:
            self._frames.put_nowait(text)
        except asyncio.QueueFull:
            logger.debug("Socket of user %s is not reading; push dropped.", self.user_id)

    async def stop(self) -> None:
        """Stop writing and wait until the writer has ended: a writer only cancelled is
        still pending, and one whose socket is gone is destroyed pending when the event
        loop drops it (asyncio logs that as an error). Stopping twice is harmless."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            await asyncio.wait({writer})

    async def _write(self) -> None:
        while True:
            text = await self._frames.get()
            try:
                await self._send_text(text)
            except Exception:
                # The socket closed under us; its consumer's disconnect stops this task.
                logger.debug("Push to a closed socket of user %s dropped.", self.user_id)
                return


class TeamFanout:
    """This event loop's listener on team groups (steps in the module docstring)."""

    def __init__(self, layer):
        self.layer = layer
        self.channel_name: str | None = None
        # Team group → user id → the buffers of that user's sockets listening to it.
        self.sockets: dict[str, dict[int, set[SocketPushes]]] = {}
        # Joins and leaves of the layer's groups happen one at a time, so a leave of the last
        # socket and a join of a new one cannot reach Redis in the wrong order.
        self._membership = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []

    async def join(self, group: str, pushes: SocketPushes) -> None:
        async with self._membership:
            if self.channel_name is None:
                self.channel_name = await self.layer.new_channel()
                loop = asyncio.get_running_loop()
                self._tasks = [loop.create_task(self._receive()), loop.create_task(self._rejoin())]
            members = self.sockets.setdefault(group, {})
            first = not members
            members.setdefault(pushes.user_id, set()).add(pushes)
            if first:
                await self.layer.group_add(group, self.channel_name)

    async def leave(self, group: str, pushes: SocketPushes) -> None:
        async with self._membership:
            try:
                await self._leave(group, pushes)
            finally:
                # Even when the layer failed to discard the group (it is down): nobody is left
                # to receive for.
                if not self.sockets:
                    await self._stop()

    async def _leave(self, group: str, pushes: SocketPushes) -> None:
        members = self.sockets.get(group)
        if not members:
            return
        mine = members.get(pushes.user_id)
        if mine is None or pushes not in mine:
            return
        mine.discard(pushes)
        if not mine:
            del members[pushes.user_id]
        if not members:
            del self.sockets[group]
            await self.layer.group_discard(group, self.channel_name)

    async def _stop(self) -> None:
        """Stop listening (no socket of this process is left) and wait until it has.

        Its tasks would otherwise outlive the sockets: polling Redis every few seconds for a
        process with nobody to push to, and left for the event loop's shutdown to cancel.
        """
        tasks, self._tasks = self._tasks, []
        self.channel_name = None
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def forget(self, pushes: SocketPushes) -> None:
        """Drop a socket from this process's lists without asking the layer (it is down);
        a group joined meanwhile stays joined, harmlessly, until it expires or is left."""
        for group in list(self.sockets):
            mine = self.sockets[group].get(pushes.user_id)
            if mine is not None:
                mine.discard(pushes)
                if not mine:
                    del self.sockets[group][pushes.user_id]
            if not self.sockets[group]:
                del self.sockets[group]
        if not self.sockets:
            self.close()

    def deliver(self, message: dict) -> int:
        """Hand a team push to the sockets it is for; returns how many."""
        members = self.sockets.get(message.get("group"))
        to = message.get("to")
        if not members or to is None:
            return 0
        text = message["text"]
        handed = 0
        if len(members) < len(to):
            for user_id, buffers in members.items():
                if groups.addressed_to(message, user_id):
                    for pushes in buffers:
                        pushes.push(text)
                        handed += 1
        else:
            for user_id in to:
                for pushes in members.get(user_id, ()):
                    pushes.push(text)
                    handed += 1
        return handed

    async def _receive(self) -> None:
        while True:
            try:
                message = await cancellable(self.layer.receive(self.channel_name))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._ride_out_outage(exc)
                continue
            self.deliver(message)

    async def _ride_out_outage(self, failure: Exception) -> None:
        """Wait, with backoff, until the layer answers again; one warning each way.

        1. warn once, naming the error (no traceback: an outage is not a bug);
        2. retry after RETRY_S, doubling up to MAX_RETRY_S, quietly;
        3. when the groups can be joined again (a Redis that restarted empty lost them),
           say so once and go back to receiving.
        """
        logger.warning(
            "Team pushes could not be received (%s); retrying with backoff until the channel "
            "layer answers.",
            describe_failure(failure),
        )
        delay = RETRY_S
        while True:
            await asyncio.sleep(delay)
            try:
                await cancellable(self._join_all())
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = min(delay * 2, MAX_RETRY_S)
                continue
            logger.warning("Team pushes are received again: the channel layer answers.")
            return

    async def _join_all(self) -> None:
        async with self._membership:
            for group in list(self.sockets):
                await self.layer.group_add(group, self.channel_name)

    async def _rejoin(self) -> None:
        while True:
            await asyncio.sleep(REJOIN_S)
            await cancellable(self._rejoin_once())

    async def _rejoin_once(self) -> None:
        async with self._membership:
            for group in list(self.sockets):
                try:
                    await self.layer.group_add(group, self.channel_name)
                except Exception:
                    logger.warning("Could not rejoin %s; retrying later.", group)

    def close(self) -> None:
        """Stop listening without waiting for it (``_stop`` waits)."""
        tasks, self._tasks = self._tasks, []
        self.channel_name = None
        for task in tasks:
            task.cancel()


def team_fanout() -> TeamFanout:
    """The fanout of the running event loop (a new one after the channel layer changed)."""
    loop = asyncio.get_running_loop()
    for old in [old for old in _fanouts if old.is_closed()]:
        del _fanouts[old]
    layer = get_channel_layer()
    fanout = _fanouts.get(loop)
    if fanout is None or fanout.layer is not layer:
        if fanout is not None:
            fanout.close()
        fanout = _fanouts[loop] = TeamFanout(layer)
    return fanout
