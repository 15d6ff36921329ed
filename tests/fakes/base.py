"""The shared machinery of the fake provider servers: an aiohttp app on its own loop and thread,
a queue of scripted behaviours, and a record of every request (headers, body, concurrency).

Tests script what the next requests get (`server.script(Reply.error(...), Reply.ok())`); with an
empty script every request succeeds after the fixed `latency_ms`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict


@dataclass(frozen=True)
class Reply:
    """What the server does with one request."""

    kind: str = "ok"  # ok | error | raw | malformed | drop | drop_mid_stream | stream_error
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # on top of the server's fixed latency
    text: str | None = None  # the answer text (default: derived from the prompt)
    finish_reason: str | None = None

    @classmethod
    def ok(cls, text: str | None = None, *, delay_s: float = 0.0, headers: dict[str, str] | None = None,
           finish_reason: str | None = None) -> Reply:
        return cls(text=text, delay_s=delay_s, headers=headers or {}, finish_reason=finish_reason)

    @classmethod
    def error(cls, status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(kind="error", status=status, body=body, headers=headers or {})

    @classmethod
    def raw(cls, status: int, text: str, headers: dict[str, str] | None = None) -> Reply:
        """A non-JSON body (an HTML page), or with a `Location` header, a redirect."""
        return cls(kind="raw", status=status, text=text, headers=headers or {})

    @classmethod
    def malformed(cls) -> Reply:
        return cls(kind="malformed")

    @classmethod
    def drop(cls) -> Reply:
        return cls(kind="drop")

    @classmethod
    def slow(cls, seconds: float) -> Reply:
        return cls(delay_s=seconds)


@dataclass
class Seen:
    path: str
    headers: CIMultiDict[str]  # case-insensitive, like HTTP
    query: dict[str, str]
    body: Any
    at: float


def answer_for(messages: list[dict[str, Any]]) -> str:
    """Deterministic answer text: an echo of the last user message."""
    users = [m.get("content") for m in messages if m.get("role") == "user"]
    last = users[-1] if users else ""
    if isinstance(last, list):  # content parts
        last = " ".join(part.get("text", "") for part in last if isinstance(part, dict))
    return f"Echo: {last}"


def count_tokens(text: str) -> int:
    return max(1, len(text.split()))


class FakeServer:
    """Runs `routes()` on 127.0.0.1 in a daemon thread; `start()` returns once it listens."""

    def __init__(self, *, port: int = 0, latency_ms: float = 0.0) -> None:
        self.port = port
        self.latency_s = latency_ms / 1000
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        # Judge mode: a function of the request body that returns the answer text (None: the default
        # echo), for servers that must answer by content, e.g. as an evaluator model would.
        self.responder: Callable[[Any], str | None] | None = None

    # --- to override -----------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    # --- scripting and records --------------------------------------------------------------
    def script(self, *replies: Reply) -> FakeServer:
        with self._lock:
            self._script.extend(replies)
        return self

    def answer_text(self, body: Any, reply: Reply, messages: list[dict[str, Any]]) -> str:
        """The answer text: the scripted one, else the responder's, else the echo."""
        if reply.text is not None:
            return reply.text
        if self.responder is not None:
            text = self.responder(body)
            if text is not None:
                return text
        return answer_for(messages)

    def next_reply(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else Reply()

    def reset(self, *, settle_s: float = 5.0) -> None:
        """Forget the script and the records, after the previous test's stragglers have finished."""
        deadline = time.monotonic() + settle_s
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._lock:
            self._script.clear()
            self.seen.clear()
            self.max_in_flight = 0
            self.responder = None
            self.reset_extras()

    def reset_extras(self) -> None:
        """Subclasses forget their own knobs here."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def record(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            self.seen.append(Seen(request.path, CIMultiDict(request.headers), dict(request.query), body, time.time()))
        return body

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    async def wait(self, reply: Reply) -> None:
        delay = self.latency_s + reply.delay_s
        if delay:
            await asyncio.sleep(delay)

    # --- common replies ---------------------------------------------------------------------
    @staticmethod
    def json_response(payload: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response(payload, status=status, headers=headers)

    @staticmethod
    def malformed_response(headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(status=200, body=b'{"id": "broken", "choices": [', content_type="application/json",
                            headers=headers)

    @staticmethod
    async def dropped(request: web.Request) -> web.StreamResponse:
        # Close the socket without a byte of response: the client sees a dropped connection.
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError()

    async def sse(self, request: web.Request, events: list[tuple[str | None, Any]], *,
                  headers: dict[str, str] | None = None, drop_after: int | None = None,
                  gap_s: float = 0.0) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream", **(headers or {})})
        await response.prepare(request)
        for index, (event, data) in enumerate(events):
            if drop_after is not None and index == drop_after:
                if request.transport is not None:
                    request.transport.close()
                return response
            payload = data if isinstance(data, str) else json.dumps(data)
            chunk = (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"
            await response.write(chunk.encode())
            if gap_s:
                await asyncio.sleep(gap_s)
        await response.write_eof()
        return response

    # --- lifecycle --------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.add_routes(self.routes())
        return app

    def start(self) -> FakeServer:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._runner = web.AppRunner(self.build_app(), access_log=None)
                loop.run_until_complete(self._runner.setup())
                site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)
                loop.run_until_complete(site.start())
                self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"{type(self).__name__}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(
    server_cls: type[FakeServer], description: str, *,
    configure: Callable[[FakeServer, list[str]], None] | None = None,
) -> None:
    """`python -m tests.fakes.<server> --port P --latency-ms N [server flags]`: run standalone until
    interrupted; `configure` takes the flags this function does not know."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args, rest = parser.parse_known_args()
    server = server_cls(port=args.port, latency_ms=args.latency_ms)
    if configure is not None:
        configure(server, rest)
    elif rest:
        parser.error(f"unknown arguments: {rest}")
    app = server.build_app()
    print(f"{server_cls.__name__} listening on http://127.0.0.1:{args.port} (latency {args.latency_ms} ms)", flush=True)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=2048)
