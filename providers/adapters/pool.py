"""SDK clients kept per event loop and endpoint, so calls reuse one connection pool.

An async client's pool belongs to the loop it was first used on; a Celery worker that opens a new
loop per task therefore gets fresh clients, and a long-lived loop (a run's batch) reuses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import weakref
from collections.abc import Callable
from typing import Any

import aiohttp

from providers.egress import GuardedConnector

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, Any]] = weakref.WeakKeyDictionary()


def endpoint_key(*parts: Any, secret: str | None = None) -> tuple:
    # The secret is part of the identity but is kept only as a digest.
    digest = hashlib.sha256((secret or "").encode()).hexdigest()
    return (*parts, digest)


def client_for(key: tuple, factory: Callable[[], Any]) -> Any:
    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, {})
    client = per_loop.get(key)
    if client is None:
        client = per_loop[key] = factory()
    return client


async def close_loop_clients() -> None:
    """Close every client of the running loop (the sync wrapper's loop ends right after)."""
    loop = asyncio.get_running_loop()
    for client in (_clients.pop(loop, None) or {}).values():
        # Best effort: the loop is going away anyway.
        with contextlib.suppress(Exception):
            await client.close()


def guarded_http_client(client_cls: type, transport_cls: type, limits: Any) -> Any:
    """The SDK's aiohttp-backed client (`DefaultAioHttpClient`), connecting only through
    `GuardedConnector`: every connection, redirect included, checks the addresses it dials.

    `transport_cls` is the SDK's own vendored `AiohttpTransport` (each SDK vendors its httpx);
    `trust_env=False` so that no proxy from the environment bypasses the connector."""

    def session() -> aiohttp.ClientSession:
        connector = GuardedConnector(
            keepalive_timeout=limits.keepalive_expiry, ssl=transport.ssl_context, limit=limits.max_connections or 0,
        )
        return aiohttp.ClientSession(connector=connector, trust_env=False)

    transport = transport_cls(trust_env=False, limits=limits, client=session)
    return client_cls(transport=transport, trust_env=False, limits=limits)
