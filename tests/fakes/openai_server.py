"""A fake OpenAI (and Azure OpenAI) server: chat completions with SSE streaming, and embeddings.

Routes: `POST /v1/chat/completions`, `POST /v1/embeddings` (Bearer auth) and Azure's
`POST /openai/deployments/{deployment}/chat/completions?api-version=...` (`api-key` header).
Standalone, for load tests: `python -m tests.fakes.openai_server --port 8089 --latency-ms 200`.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, Reply, count_tokens, serve_forever


def openai_error(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """The body OpenAI (and Azure) send with an error status."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# Real error bodies, as the providers send them.
OPENAI_ERRORS: dict[str, tuple[int, dict[str, Any]]] = {
    "auth": (401, openai_error("Incorrect API key provided: sk-fake***********wxyz. You can find your API key at "
                               "https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key")),
    "bad_request": (400, openai_error("Invalid value for 'temperature': must be between 0 and 2.",
                                      "invalid_request_error", "invalid_value", "temperature")),
    "not_found": (404, openai_error("The model `gpt-nope` does not exist or you do not have access to it.",
                                    "invalid_request_error", "model_not_found")),
    "context_length": (400, openai_error(
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. "
        "Please reduce the length of the messages.", "invalid_request_error", "context_length_exceeded", "messages")),
    "content_filtered": (400, openai_error(
        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        "invalid_request_error", "content_filter", "prompt")),
    "rate_limited": (429, openai_error("Rate limit reached for gpt-4o-mini in organization org-x on requests per min "
                                       "(RPM): Limit 3, Used 3, Requested 1.", "requests", "rate_limit_exceeded")),
    "insufficient_quota": (429, openai_error("You exceeded your current quota, please check your plan and billing "
                                             "details.", "insufficient_quota", "insufficient_quota")),
    "server_error": (500, openai_error("The server had an error while processing your request. Sorry about that!",
                                       "server_error")),
    "unavailable": (503, openai_error("The engine is currently overloaded, please try again later", "server_error")),
}


class FakeOpenAI(FakeServer):
    """Answers `Echo: <last user message>`; usage counts words. `api_key` (if set) is enforced."""

    def __init__(self, *, port: int = 0, latency_ms: float = 0.0, api_key: str | None = None) -> None:
        super().__init__(port=port, latency_ms=latency_ms)
        self.api_key = api_key
        self.reset_extras()

    def reset_extras(self) -> None:
        # Like a provider with a concurrency quota: past it, 429 + Retry-After. None: no quota.
        self.concurrency_quota: int | None = None
        self.quota_retry_after = "0.2"
        self.rejected = 0
        # Like a provider with a requests-per-minute quota: a token bucket refilled continuously
        # holding one second's worth; past it, 429 with Retry-After (and, when `rate_headers`, the
        # `x-ratelimit-*` headers OpenAI sends on every answer).
        self.rpm_quota: int | None = None
        self.rate_headers = False
        self._bucket: tuple[float, float] | None = None  # (tokens, at)
        # Random faults, each a probability per request: transient 429s (Retry-After 0.2), 503s,
        # and timeouts (the answer comes `timeout_s` late: past the caller's timeout).
        self.faults: dict[str, float] = {}
        self.timeout_s = 30.0
        self.latency_jitter_s = 0.0  # each answer waits latency + uniform(0, jitter)
        self.faulted = 0
        self._rng = random.Random(7)

    def _rpm_take(self) -> float | None:
        """None when the bucket held a request (taken), else seconds until it will."""
        assert self.rpm_quota is not None
        rate = self.rpm_quota / 60.0
        capacity = max(1.0, rate)
        now = time.monotonic()
        tokens, at = self._bucket or (capacity, now)
        tokens = min(capacity, tokens + (now - at) * rate)
        if tokens >= 1:
            self._bucket = (tokens - 1, now)
            return None
        self._bucket = (tokens, now)
        return (1 - tokens) / rate

    def _rate_headers(self) -> dict[str, str]:
        if not (self.rate_headers and self.rpm_quota):
            return {}
        rate = self.rpm_quota / 60.0
        tokens, _ = self._bucket or (max(1.0, rate), 0.0)
        remaining = int(tokens)
        reset = 0.0 if remaining else (1 - tokens) / rate
        return {"x-ratelimit-limit-requests": str(self.rpm_quota),
                "x-ratelimit-remaining-requests": str(remaining),
                "x-ratelimit-reset-requests": f"{reset:.3f}s"}

    def _quota_refusal(self) -> web.Response | None:
        """The 429 of a quota (concurrency or per-minute) or of an injected fault; None to serve."""
        status, error = OPENAI_ERRORS["rate_limited"]
        if self.concurrency_quota is not None and self.in_flight > self.concurrency_quota:
            self.rejected += 1
            return self.json_response(error, status=status, headers={"Retry-After": self.quota_retry_after})
        if self.rpm_quota is not None:
            with self._lock:
                wait = self._rpm_take()
                headers = self._rate_headers()
            if wait is not None:
                self.rejected += 1
                return self.json_response(error, status=status, headers={"Retry-After": f"{wait:.3f}", **headers})
        if self.faults.get("rate_limited", 0) > self._rng.random():
            self.faulted += 1
            return self.json_response(error, status=status, headers={"Retry-After": "0.2"})
        return None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self.chat),
            web.post("/v1/embeddings", self.embeddings),
            web.post("/openai/deployments/{deployment}/chat/completions", self.chat),
            web.post("/openai/deployments/{deployment}/embeddings", self.embeddings),
        ]

    def _authorised(self, request: web.Request) -> bool:
        if self.api_key is None:
            return True
        if request.path.startswith("/openai/deployments/"):
            return request.headers.get("api-key") == self.api_key
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _prelude(self, request: web.Request) -> tuple[Any, Reply, web.StreamResponse | None]:
        """Record, wait, and settle every outcome that is not a success."""
        body = await self.record(request)
        refusal = self._quota_refusal()
        if refusal is not None:
            return body, Reply(), refusal
        reply = self.next_reply()
        if self.faults.get("unavailable", 0) > self._rng.random():
            self.faulted += 1
            status, error = OPENAI_ERRORS["unavailable"]
            reply = Reply.error(status, error)
        elif self.faults.get("timeout", 0) > self._rng.random():
            self.faulted += 1
            reply = Reply.slow(self.timeout_s)
        if self.latency_jitter_s:
            reply = Reply(**{**reply.__dict__, "delay_s": reply.delay_s + self._rng.uniform(0, self.latency_jitter_s)})
        await self.wait(reply)
        if not self._authorised(request):
            status, error = OPENAI_ERRORS["auth"]
            return body, reply, self.json_response(error, status=status)
        if reply.kind == "error":
            return body, reply, self.json_response(reply.body, status=reply.status, headers=reply.headers)
        if reply.kind == "malformed":
            return body, reply, self.malformed_response()
        if reply.kind == "raw":  # a non-JSON answer: an HTML error page, a proxy's, a file
            return body, reply, web.Response(status=reply.status, text=reply.text or "", headers=reply.headers,
                                             content_type="text/html")
        if reply.kind == "drop":
            return body, reply, await self.dropped(request)
        return body, reply, None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.enter()
        try:
            body, reply, settled = await self._prelude(request)
            if settled is not None:
                return settled
            model = request.match_info.get("deployment") or body.get("model", "gpt-fake")
            text = self.answer_text(body, reply, body.get("messages", []))
            max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
            finish = reply.finish_reason or "stop"
            if max_tokens and count_tokens(text) > max_tokens:
                text, finish = " ".join(text.split()[:max_tokens]), "length"
            prompt_tokens = sum(count_tokens(str(m.get("content", ""))) for m in body.get("messages", []))
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": count_tokens(text),
                     "total_tokens": prompt_tokens + count_tokens(text),
                     "prompt_tokens_details": {"cached_tokens": 0}}
            completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
            headers = {"x-request-id": f"req_{uuid.uuid4().hex[:16]}", **self._rate_headers(), **reply.headers}
            if body.get("stream"):
                return await self._stream(request, completion_id, model, text, finish, usage, body, headers, reply)
            return self.json_response({
                "id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                             "logprobs": None, "finish_reason": finish}],
                "usage": usage, "system_fingerprint": "fp_fake",
            }, headers=headers)
        finally:
            self.leave()

    async def _stream(self, request: web.Request, completion_id: str, model: str, text: str, finish: str,
                      usage: dict[str, Any], body: dict[str, Any], headers: dict[str, str], reply: Reply) -> web.StreamResponse:
        def chunk(delta: dict[str, Any], finish_reason: str | None = None, with_usage: bool = False) -> dict[str, Any]:
            return {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                    "choices": [] if with_usage else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                    "usage": usage if with_usage else None}

        words = text.split(" ")
        events: list[tuple[str | None, Any]] = [(None, chunk({"role": "assistant", "content": ""}))]
        events += [(None, chunk({"content": (w if i == 0 else " " + w)})) for i, w in enumerate(words)]
        events.append((None, chunk({}, finish)))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append((None, chunk({}, with_usage=True)))
        events.append((None, "[DONE]"))
        drop_after = 3 if reply.kind == "drop_mid_stream" else None
        return await self.sse(request, events, headers=headers, drop_after=drop_after, gap_s=0.002)

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        self.enter()
        try:
            body, reply, settled = await self._prelude(request)
            if settled is not None:
                return settled
            inputs = body.get("input")
            inputs = [inputs] if isinstance(inputs, str) else inputs
            data = [{"object": "embedding", "index": i, "embedding": _vector(text)} for i, text in enumerate(inputs)]
            tokens = sum(count_tokens(t) for t in inputs)
            return self.json_response(
                {"object": "list", "data": data, "model": body.get("model"),
                 "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
                headers={"x-request-id": f"req_{uuid.uuid4().hex[:16]}", **reply.headers},
            )
        finally:
            self.leave()


def _vector(text: str, dimension: int = 8) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 255, 6) for b in digest[:dimension]]


def _configure(server: FakeServer, argv: list[str]) -> None:
    """Standalone knobs for load tests: hidden quotas and injected faults."""
    assert isinstance(server, FakeOpenAI)
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency-quota", type=int, default=None)
    parser.add_argument("--rpm-quota", type=int, default=None)
    parser.add_argument("--rate-headers", action="store_true")
    parser.add_argument("--latency-jitter-ms", type=float, default=0.0)
    parser.add_argument("--fault-429", type=float, default=0.0)
    parser.add_argument("--fault-503", type=float, default=0.0)
    parser.add_argument("--fault-timeout", type=float, default=0.0)
    parser.add_argument("--timeout-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    server.concurrency_quota, server.rpm_quota, server.rate_headers = args.concurrency_quota, args.rpm_quota, args.rate_headers
    server.latency_jitter_s, server.timeout_s = args.latency_jitter_ms / 1000, args.timeout_s
    server.faults = {"rate_limited": args.fault_429, "unavailable": args.fault_503, "timeout": args.fault_timeout}


if __name__ == "__main__":
    serve_forever(FakeOpenAI, "Fake OpenAI chat completions + embeddings server", configure=_configure)
