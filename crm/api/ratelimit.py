"""Requests per token in a fixed window, counted in Redis through the cache (its keys carry
the schema, so token ids of two tenants never share a counter)."""

import math
import time

from django.conf import settings
from django.core.cache import cache


def _count(key: str, window: int) -> int:
    # add() starts the window once; incr() never extends it.
    cache.add(key, 0, window + 1)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window + 1)
        return 1


def rate_limit_wait(token_key: str) -> int | None:
    """Count one request of the token (`token_key`: something of it that never repeats, not
    its id, which a rebuilt database hands out again); the seconds until its window ends when
    it is over the limit (the Retry-After), None when it may go on."""
    window = max(1, settings.API_RATE_WINDOW_SECONDS)
    now = time.time()
    start = int(now // window) * window
    used = _count(f"api-rate:{token_key}:{start}", window)
    if used <= settings.API_RATE_LIMIT:
        return None
    return max(1, math.ceil(start + window - now))
