"""A fixed-window rate limit per client address, kept in Django's cache.

Used by the public complaint form: enough for a person who sends a few complaints, too
little for a script. The cache is Redis in production (config.settings), so the count is
shared by every web process; while Redis is down each process counts on its own
(config.fallback_cache).
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from common.client_address import client_address as _client_address

# A person rarely has more than a few complaints in one sitting; five in ten minutes from
# one address leaves room for a household or an office behind one address.
DEFAULT_LIMIT = 5
DEFAULT_WINDOW_SECONDS = 600


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until the window ends


def client_address(request) -> str:
    # The one rule of every limiter (REDRESS_TRUSTED_PROXIES); "unknown" shares one count.
    return _client_address(request) or "unknown"


def hit(scope: str, key: str) -> Verdict:
    """Count one attempt for ``key`` in ``scope``; refused once over the limit."""
    limit = getattr(settings, "REDRESS_PORTAL_RATE_LIMIT", DEFAULT_LIMIT)
    window = getattr(settings, "REDRESS_PORTAL_RATE_WINDOW", DEFAULT_WINDOW_SECONDS)
    now = int(time.time())
    window_start = now - now % window
    cache_key = f"throttle:{scope}:{key}:{window_start}"
    # add() then incr() is atomic in Redis and in the local-memory cache alike.
    cache.add(cache_key, 0, timeout=window + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window + 5)
        count = 1
    return Verdict(allowed=count <= limit, retry_after=window_start + window - now)
