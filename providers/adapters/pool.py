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
