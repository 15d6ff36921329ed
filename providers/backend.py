"""The Redis connection the limiter, breaker and in-flight collapse share across Celery workers.

None without REDIS_URL: then each falls back to an in-process implementation (the embedded default
runs everything in one process, so in-process state is the shared state).
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from typing import Any

from django.conf import settings
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import NoScriptError

MAX_CONNECTIONS = 64  # per event loop (one per worker process)
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = weakref.WeakKeyDictionary()


def redis_url() -> str:
    return getattr(settings, "BENCHHUB_PROVIDER_REDIS_URL", None) or settings.REDIS_URL


def redis_client() -> Redis | None:
    """This loop's client (a redis.asyncio pool is bound to the loop it runs on)."""
    url = redis_url()
    if not url:
        return None
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        # Blocking: more calls in flight on one loop than connections wait for one instead of
        # failing with "Too many connections" (redis-py's plain pool raises past 100).
        pool = BlockingConnectionPool.from_url(
            url, max_connections=MAX_CONNECTIONS, timeout=10, socket_connect_timeout=2, socket_timeout=5,
        )
        client = _clients[loop] = Redis.from_pool(pool)  # owns the pool: closing the client closes it
    return client


async def close_loop_client() -> None:
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def key(*parts: object) -> str:
    return ":".join([settings.BENCHHUB_PROVIDER_KEY_PREFIX, *(str(p) for p in parts)])


class Script:
    """A Lua script sent by SHA (EVALSHA): Redis hashes and parses it once, not at every call.

    Falls back to EVAL (which also caches it) when the server does not know it yet (restart, flush)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1

    async def __call__(self, client: Redis, numkeys: int, *args: object) -> Any:
        try:
            return await client.evalsha(self.sha, numkeys, *args)
        except NoScriptError:
            return await client.eval(self.source, numkeys, *args)
