"""Django's Redis cache backend, keeping one redis.Redis client per connection pool.

Django builds a new ``redis.Redis`` around its pool on every cache call; building one costs
more than the GET it serves on a cached page (the customer list reads the cache twice a
request: session and rows). A client over a pool is thread-safe and the pool reconnects after a
fork, so one client per pool is enough.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django's own attributes, missing from django-stubs.
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class ReusedClientRedisCache(RedisCache):
    """settings.CACHES' BACKEND for Redis: as Django's, with the client reused."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient


def cache_forget_prefix(prefix: str) -> int:
    """Delete the current tenant's cache entries whose key starts with `prefix` (keys are made
    by settings.CACHES' KEY_FUNCTION, which puts the schema first, so no other tenant's entry
    matches); how many were deleted. For entries whose key carries a version that has moved
    on (customers.list_cache): they are never served again, but hold what they held until
    their time runs out, which an erasure may not wait for."""
    from django.core.cache import cache

    client_of = getattr(getattr(cache, "_cache", None), "get_client", None)
    if client_of is None:
        # Not Redis (a local-memory cache in a one-off script): nothing shared to clear but
        # this process's own, which goes whole.
        cache.clear()
        return 0
    client = client_of(write=True)
    pattern = cache.make_key(_glob_escape(prefix)) + "*"
    deleted = 0
    batch: list[Any] = []
    for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.delete(*batch)
            batch.clear()
    if batch:
        deleted += client.delete(*batch)
    return deleted


def _glob_escape(text: str) -> str:
    return "".join(f"\\{ch}" if ch in "*?[]\\" else ch for ch in text)
