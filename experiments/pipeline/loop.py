"""The event loop that carries a process's provider calls, and a chunk's feed of calls into it. No ORM."""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import functools
import os
import queue
import threading
from typing import Any

from django.conf import settings

from providers import backend, gateway
from providers.adapters.pool import close_loop_clients

try:
    import uvloop
except ImportError:  # an optional speed-up (see BENCHHUB_RUN_UVLOOP)
    uvloop = None


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed and enabled: its socket transports cost a fraction of asyncio's per
    request, which matters when hundreds of calls share one core (see benchmarks/run_throughput.py)."""
    if settings.BENCHHUB_RUN_UVLOOP and uvloop is not None:
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class CallPool:
    """One asyncio loop in a daemon thread per process, reused by every chunk.

    Reusing the loop lets the gateway keep its HTTP connection pools warm across chunks (clients
    are bound to the loop they were created on).
    """

    def __init__(self) -> None:
        self.loop = _new_loop()
        self.thread = threading.Thread(target=self._run, name="benchhub-calls", daemon=True)
        self.thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def close(self, timeout: float = 5.0) -> None:
        """Close the loop's SDK and Redis clients (their connection pools) while the loop still runs:
        at interpreter exit the daemon thread just stops, and aiohttp reports every session left open."""

        async def close_clients() -> None:
            await close_loop_clients()
            await backend.close_loop_client()

        if self.loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(close_clients(), self.loop).result(timeout)


_pool: CallPool | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def call_pool() -> CallPool:
    global _pool, _pool_pid
    with _pool_lock:
        # A prefork worker child must not inherit its parent's loop thread: threads do not survive fork.
        if _pool is None or _pool_pid != os.getpid():
            _pool, _pool_pid = CallPool(), os.getpid()
        return _pool


class Feed:
    """A chunk's calls, started by the loop itself up to the chunk's limit.

    The chunk thread prepares requests ahead (`push`); whenever a call ends, the loop starts the
    next prepared one at once, so a response never waits for the chunk thread (busy flushing, or
    waiting for the GIL) before its slot is used again. Every start and every end is reported on
    `results` in that order: ``(token, None)`` when the call starts, ``(token, task)`` when it ends.
    A prepared call the loop has not started yet can be taken back (`take_back`): it never ran.
    """

    def __init__(self, pool: CallPool, *, limit: int, org_id: int, results: queue.SimpleQueue) -> None:
        self.loop = pool.loop
        self.limit = limit
        self.org_id = org_id
        self.results = results
        self.ready: collections.deque = collections.deque()  # (token, provider, request)
        self.running = 0  # owned by the loop thread
        self.tasks: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks
        self.closed = False

    # chunk thread

    def push(self, items: list[tuple[Any, str, Any]]) -> None:
        if items:
            self.ready.extend(items)
            self.loop.call_soon_threadsafe(self._pump)

    def take_back(self) -> list[Any]:
        """The tokens of the prepared calls not started yet, which now never will be."""
        tokens = []
        while True:
            try:
                token, _provider, _request = self.ready.popleft()
            except IndexError:
                return tokens
            tokens.append(token)

    def close(self) -> None:
        self.closed = True
        self.ready.clear()

    # loop thread

    def _pump(self) -> None:
        while self.running < self.limit and not self.closed:
            try:
                token, provider, request = self.ready.popleft()
            except IndexError:
                return
            self.running += 1
            self.results.put((token, None))
            task = self.loop.create_task(
                gateway.acomplete(org_id=self.org_id, provider=provider, request=request, purpose="benchmark")
            )
            self.tasks.add(task)
            task.add_done_callback(functools.partial(self._done, token))

    def _done(self, token: Any, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        self.running -= 1
        self.results.put((token, task))
        self._pump()
