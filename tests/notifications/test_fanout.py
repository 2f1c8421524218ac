"""The per-process fanout of team pushes (notifications/fanout.py), on an in-memory layer.

The sockets here are recorders: what a socket's consumer would write to its client. The
fanout's behaviour on real sockets and Redis is in test_team_sockets.py; these tests pin
what is hard to provoke there: one membership per process, a client that stops reading,
and leaving.
"""

import asyncio
import functools

from channels.layers import InMemoryChannelLayer

from notifications import fanout, groups
from notifications.consumers import StaffEventsConsumer

TEAM = groups.team_group(7)
OTHER_TEAM = groups.team_group(8)
# Long enough for a push to cross the in-memory layer and a writer task.
SETTLE_S = 0.05


class Recorder:
    """A socket's sending side: records frames; ``stalled`` ones never finish writing."""

    def __init__(self, stalled: bool = False):
        self.frames: list[str] = []
        self.stalled = stalled

    async def send_text(self, text: str) -> None:
        if self.stalled:
            await asyncio.Event().wait()
        self.frames.append(text)


def socket_of(user_id: int, recorder: Recorder) -> fanout.SocketPushes:
    pushes = fanout.SocketPushes(user_id, recorder.send_text)
    pushes.start()
    return pushes


def team_push(group: str, to: list[int], text: str) -> dict:
    return {"type": groups.PUSH_TYPE, "group": group, "to": sorted(to), "text": text}


def run(scenario):
    return asyncio.run(scenario())


def test_a_push_reaches_only_the_named_members_listening_to_that_team():
    async def scenario():
        layer = InMemoryChannelLayer()
        hub = fanout.TeamFanout(layer)
        named, not_named, elsewhere = Recorder(), Recorder(), Recorder()
        await hub.join(TEAM, socket_of(1, named))
        await hub.join(TEAM, socket_of(2, not_named))
        # User 3 is named, but their socket listens to another team only.
        await hub.join(OTHER_TEAM, socket_of(3, elsewhere))

        await layer.group_send(TEAM, team_push(TEAM, [1, 3], "event 1"))
        await asyncio.sleep(SETTLE_S)
        hub.close()
        return named.frames, not_named.frames, elsewhere.frames

    assert run(scenario) == (["event 1"], [], [])


def test_every_socket_of_a_named_member_gets_the_push():
    async def scenario():
        layer = InMemoryChannelLayer()
        hub = fanout.TeamFanout(layer)
        tabs = [Recorder(), Recorder()]
        for tab in tabs:
            await hub.join(TEAM, socket_of(1, tab))
        await layer.group_send(TEAM, team_push(TEAM, [1], "event 1"))
        await asyncio.sleep(SETTLE_S)
        hub.close()
        return [tab.frames for tab in tabs]

    assert run(scenario) == [["event 1"], ["event 1"]]


def test_the_process_joins_a_team_group_once_and_leaves_it_with_its_last_socket():
    async def scenario():
        layer = InMemoryChannelLayer()
        hub = fanout.TeamFanout(layer)
        first, second = socket_of(1, Recorder()), socket_of(2, Recorder())
        await hub.join(TEAM, first)
        await hub.join(TEAM, second)
        joined, channel = set(layer.groups[TEAM]), hub.channel_name
        await hub.leave(TEAM, first)
        still = set(layer.groups.get(TEAM, {}))
        await hub.leave(TEAM, second)
        left = set(layer.groups.get(TEAM, {}))
        hub.close()
        return joined, still, left, channel

    joined, still, left, channel = run(scenario)
    assert joined == {channel}
    assert still == {channel}
    assert left == set()


def test_a_client_that_stops_reading_holds_up_nobody_and_loses_only_its_own_pushes(
    monkeypatch,
):
    monkeypatch.setattr(fanout, "SOCKET_BUFFER", 3)

    async def scenario():
        layer = InMemoryChannelLayer()
        hub = fanout.TeamFanout(layer)
        stalled, reading = Recorder(stalled=True), Recorder()
        stalled_socket = socket_of(1, stalled)
        await hub.join(TEAM, stalled_socket)
        await hub.join(TEAM, socket_of(2, reading))
        for number in range(10):
            await layer.group_send(TEAM, team_push(TEAM, [1, 2], f"event {number}"))
            await asyncio.sleep(SETTLE_S / 5)
        await asyncio.sleep(SETTLE_S)
        waiting = stalled_socket._frames.qsize()
        hub.close()
        return reading.frames, waiting

    frames, waiting = run(scenario)
    assert frames == [f"event {number}" for number in range(10)]
    # One frame is being written (for ever); the buffer holds three; the rest were dropped.
    assert waiting == 3


def test_a_socket_that_left_gets_nothing_more():
    async def scenario():
        layer = InMemoryChannelLayer()
        hub = fanout.TeamFanout(layer)
        leaving, staying = Recorder(), Recorder()
        leaving_socket = socket_of(1, leaving)
        await hub.join(TEAM, leaving_socket)
        await hub.join(TEAM, socket_of(2, staying))
        await hub.leave(TEAM, leaving_socket)
        await leaving_socket.stop()
        await layer.group_send(TEAM, team_push(TEAM, [1, 2], "event 1"))
        await asyncio.sleep(SETTLE_S)
        hub.close()
        return leaving.frames, staying.frames

    assert run(scenario) == ([], ["event 1"])


class SwallowingLayer(InMemoryChannelLayer):
    """A layer whose ``receive`` loses its first cancellation and polls on, as channels-redis's
    does on Python 3.11 when the cancellation lands just as redis-py's ``wait_for`` completes."""

    async def receive(self, channel):
        swallowed = False
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed = True


def test_a_cancelled_receive_ends_even_when_the_layer_loses_the_cancellation():
    """The fanout's listening, and a consumer's read of its channel, end when cancelled (a
    socket closing, an event loop shutting down) instead of polling the layer forever."""

    async def scenario():
        hub = fanout.TeamFanout(SwallowingLayer())
        await hub.join(TEAM, socket_of(1, Recorder()))
        consumer = StaffEventsConsumer()
        consumer.channel_receive = functools.partial(SwallowingLayer().receive, "specific!x")
        read = asyncio.ensure_future(consumer.channel_receive())
        await asyncio.sleep(SETTLE_S)
        tasks = [*hub._tasks, read]
        for task in tasks:
            task.cancel()
        _done, pending = await asyncio.wait(tasks, timeout=3 * fanout.RECANCEL_S)
        return pending

    assert run(scenario) == set()


def test_the_fanout_stops_listening_when_its_last_socket_leaves():
    async def scenario():
        layer = InMemoryChannelLayer()
        hub = fanout.TeamFanout(layer)
        first, second = socket_of(1, Recorder()), socket_of(2, Recorder())
        await hub.join(TEAM, first)
        await hub.join(OTHER_TEAM, second)
        listening = list(hub._tasks)
        await hub.leave(TEAM, first)
        still = all(not task.done() for task in listening)
        await hub.leave(OTHER_TEAM, second)
        stopped = all(task.done() for task in listening) and not hub._tasks

        # The next socket starts it again, on a channel of its own.
        recorder = Recorder()
        await hub.join(TEAM, socket_of(3, recorder))
        await layer.group_send(TEAM, team_push(TEAM, [3], "again"))
        await asyncio.sleep(SETTLE_S)
        hub.close()
        return still, stopped, recorder.frames

    assert run(scenario) == (True, True, ["again"])
