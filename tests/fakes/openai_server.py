"""A fake OpenAI (and Azure OpenAI) server: chat completions with SSE streaming, and embeddings.

Routes: `POST /v1/chat/completions`, `POST /v1/embeddings` (Bearer auth) and Azure's
`POST /openai/deployments/{deployment}/chat/completions?api-version=...` (`api-key` header).
Standalone, for load tests: `python -m tests.fakes.openai_server --port 8089 --latency-ms 200`.
"""

from __future__ import annotations

import hashlib
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
        # Like a provider with a concurrency quota: past it, 429 + Retry-After. None: no quota.
        self.concurrency_quota: int | None = None
        self.quota_retry_after = "0.2"
        self.rejected = 0

    def reset_extras(self) -> None:
        self.concurrency_quota = None
        self.quota_retry_after = "0.2"
        self.rejected = 0

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
        if self.concurrency_quota is not None and self.in_flight > self.concurrency_quota:
            self.rejected += 1
            status, error = OPENAI_ERRORS["rate_limited"]
            return body, Reply(), self.json_response(error, status=status, headers={"Retry-After": self.quota_retry_after})
        reply = self.next_reply()
        await self.wait(reply)
        if not self._authorised(request):
            status, error = OPENAI_ERRORS["auth"]
            return body, reply, self.json_response(error, status=status)
        if reply.kind == "error":
            return body, reply, self.json_response(reply.body, status=reply.status, headers=reply.headers)
        if reply.kind == "malformed":
            return body, reply, self.malformed_response()
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
            text = self.answer(body, reply, body.get("messages", []))
            max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
            finish = reply.finish_reason or "stop"
            if max_tokens and count_tokens(text) > max_tokens:
                text, finish = " ".join(text.split()[:max_tokens]), "length"
            prompt_tokens = sum(count_tokens(str(m.get("content", ""))) for m in body.get("messages", []))
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": count_tokens(text),
                     "total_tokens": prompt_tokens + count_tokens(text),
                     "prompt_tokens_details": {"cached_tokens": 0}}
            completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
            headers = {"x-request-id": f"req_{uuid.uuid4().hex[:16]}", **reply.headers}
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


if __name__ == "__main__":
    serve_forever(FakeOpenAI, "Fake OpenAI chat completions + embeddings server")
