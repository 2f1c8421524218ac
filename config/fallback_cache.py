"""Django's Redis cache that falls back to this process's memory while Redis is down.

The cache holds only rate-limit counters (the complaint form's, the API throttles'): losing
them for a while is acceptable, answering 500 on every public page is not. While Redis is
unreachable each process counts in its own memory, so a limit is still enforced per
process (N processes let through at most N times the limit). One warning is logged when
Redis goes away and one line when it is back, not a traceback per request.

Django makes a cache object per thread and per async context, so the outage (is Redis
down, since when, when to try again) and the fallback memory belong to the process, one per
Redis location, not to the object: otherwise each object warned on its own, counted on its
own, and a fresh one never saw the recovery it should report.
"""

import logging
import threading
import time

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
# After a failure, requests use memory for this long before Redis is tried again, so an
# outage costs one failed connection every few seconds, not one per cache call.
RETRY_AFTER_SECONDS = 5.0

_GUARDED = (
    "add",
    "get",
    "set",
    "touch",
    "delete",
    "get_many",
    "set_many",
    "delete_many",
    "has_key",
    "incr",
    "clear",
)


class _Outage:
    """Whether one Redis location is down, shared by every cache object of the process."""

    def __init__(self):
        self.lock = threading.Lock()
        self.down_since: float | None = None
        self.retry_at = 0.0


_outages: dict[str, _Outage] = {}
_outages_lock = threading.Lock()


def _outage_of(location: str) -> _Outage:
    with _outages_lock:
        return _outages.setdefault(location, _Outage())


class RedisCacheWithFallback(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        location = ",".join(self._servers)
        # LocMemCache objects of one name share their memory: the process's fallback.
        self._fallback = LocMemCache(f"redress-fallback-{location}", {})
        self._outage = _outage_of(location)

    @property
    def redis_is_down(self) -> bool:
        return self._outage.down_since is not None

    def _use_fallback(self) -> bool:
        outage = self._outage
        return outage.down_since is not None and time.monotonic() < outage.retry_at

    def _mark_down(self, error: Exception) -> None:
        outage = self._outage
        with outage.lock:
            now = time.monotonic()
            outage.retry_at = now + RETRY_AFTER_SECONDS
            if outage.down_since is None:
                outage.down_since = now
                logger.warning(
                    "Redis cache unreachable (%s); rate limits count in this process's "
                    "memory until it is back.",
                    error,
                )

    def _mark_up(self) -> None:
        outage = self._outage
        if outage.down_since is None:
            return
        with outage.lock:
            if outage.down_since is not None:
                logger.warning(
                    "Redis cache reachable again after %.0f s.",
                    time.monotonic() - outage.down_since,
                )
                outage.down_since = None


def _guard(name: str):
    redis_method = getattr(RedisCache, name)

    def method(self, *args, **kwargs):
        if self._use_fallback():
            return getattr(self._fallback, name)(*args, **kwargs)
        try:
            result = redis_method(self, *args, **kwargs)
        except REDIS_DOWN as error:
            self._mark_down(error)
            return getattr(self._fallback, name)(*args, **kwargs)
        self._mark_up()
        return result

    method.__name__ = name
    method.__doc__ = redis_method.__doc__
    return method


for _name in _GUARDED:
    setattr(RedisCacheWithFallback, _name, _guard(_name))
