"""The team fanout while Redis is away: one warning, no traceback, backoff, and recovery.

It used to log "Team pushes could not be received; retrying." with a full traceback every
second of an outage, and nothing when Redis came back. A private redis-server of the
test's own is stopped and started again; the fanout's layer points at it.
"""

import asyncio
import logging

import pytest
from channels_redis.core import RedisChannelLayer

from notifications import fanout
from tests.notifications.test_fanout import Recorder, socket_of, team_push
from tests.notifications.test_outbox_outage import ThrowawayRedis

pytestmark = pytest.mark.slow

TEAM = "team.outage"
# As in production (config/settings.py): longer than channels-redis's 5 s blocking receive.
SOCKET_TIMEOUT_S = 10
# Long enough for several retries at the old one-a-second pace.
OUTAGE_S = 4.0
# Retries come 1, 2, 4 s apart: the one after the restart falls inside this.
RECOVERY_S = 6.0


def test_an_outage_logs_one_warning_each_way_and_pushes_flow_again(tmp_path, caplog):
    redis = ThrowawayRedis(tmp_path / "redis.log")
    redis.start()

    async def scenario():
        layer = RedisChannelLayer(
            hosts=[{"address": redis.url, "socket_timeout": SOCKET_TIMEOUT_S}]
        )
        hub = fanout.TeamFanout(layer)
        recorder = Recorder()
        await hub.join(TEAM, socket_of(1, recorder))
        try:
            redis.stop()
            await asyncio.sleep(OUTAGE_S)
            redis.start()  # empty, as after a crash: the group membership is gone
            await asyncio.sleep(RECOVERY_S)
            await layer.group_send(TEAM, team_push(TEAM, [1], "after the outage"))
            await asyncio.sleep(1.0)
        finally:
            hub.close()
        return recorder.frames

    with caplog.at_level(logging.INFO, logger="notifications.fanout"):
        try:
            frames = asyncio.run(scenario())
        finally:
            redis.stop()

    records = [r for r in caplog.records if r.name == "notifications.fanout"]
    said = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert len(said) == 2, said
    assert "could not be received" in said[0]
    assert "received again" in said[1]
    assert not any(r.exc_info for r in records)
    assert frames == ["after the outage"]
