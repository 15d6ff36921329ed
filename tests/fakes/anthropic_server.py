"""A fake Anthropic Messages API server (`POST /v1/messages`), plain and streaming (SSE events).

Checks the API key (`x-api-key`, or `Authorization: Bearer` as the 2.x SDK sends it) and the
`anthropic-version` header the way the real API does.
Standalone: `python -m tests.fakes.anthropic_server --port 8090 --latency-ms 200`.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, Reply, count_tokens, serve_forever


def anthropic_error(type_: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}}


ANTHROPIC_ERRORS: dict[str, tuple[int, dict[str, Any]]] = {
    "auth": (401, anthropic_error("authentication_error", "invalid x-api-key")),
    "permission": (403, anthropic_error("permission_error", "Your API key does not have permission to use the specified resource.")),
    "bad_request": (400, anthropic_error("invalid_request_error", "max_tokens: Field required")),
    "context_length": (400, anthropic_error("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")),
    "not_found": (404, anthropic_error("not_found_error", "model: claude-nope")),
    "rate_limited": (429, anthropic_error("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")),
    "api_error": (500, anthropic_error("api_error", "Internal server error")),
    "overloaded": (529, anthropic_error("overloaded_error", "Overloaded")),
}


class FakeAnthropic(FakeServer):
    def __init__(self, *, port: int = 0, latency_ms: float = 0.0, api_key: str | None = None) -> None:
        super().__init__(port=port, latency_ms=latency_ms)
        self.api_key = api_key

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/messages", self.messages)]

    async def messages(self, request: web.Request) -> web.StreamResponse:
        self.enter()
        try:
            body = await self.record(request)
            reply = self.next_reply()
            await self.wait(reply)
            headers = {"request-id": f"req_{uuid.uuid4().hex[:20]}", **reply.headers}
            # The API takes the key as `x-api-key` or, as SDK 2.x sends it, `Authorization: Bearer`.
            presented = request.headers.get("x-api-key") or request.headers.get("Authorization", "").removeprefix("Bearer ")
            if self.api_key is not None and presented != self.api_key:
                status, error = ANTHROPIC_ERRORS["auth"]
                return self.json_response(error, status=status, headers=headers)
            if not request.headers.get("anthropic-version"):
                return self.json_response(anthropic_error("invalid_request_error", "anthropic-version: header is required"),
                                          status=400, headers=headers)
            if reply.kind == "error":
                return self.json_response(reply.body, status=reply.status, headers=headers)
            if reply.kind == "malformed":
                return self.malformed_response(headers)
            if reply.kind == "drop":
                return await self.dropped(request)
            if "max_tokens" not in body:
                status, error = ANTHROPIC_ERRORS["bad_request"]
                return self.json_response(error, status=status, headers=headers)
            text = self.answer_text(body, reply, body.get("messages", []))
            stop_reason = reply.finish_reason or "end_turn"
            if count_tokens(text) > body["max_tokens"]:
                text, stop_reason = " ".join(text.split()[: body["max_tokens"]]), "max_tokens"
            prompt = str(body.get("system", "")) + " " + " ".join(str(m.get("content", "")) for m in body["messages"])
            usage = {"input_tokens": count_tokens(prompt), "output_tokens": count_tokens(text),
                     "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
            message_id = f"msg_{uuid.uuid4().hex[:24]}"
            if body.get("stream"):
                return await self._stream(request, message_id, body["model"], text, stop_reason, usage, headers, reply)
            return self.json_response({
                "id": message_id, "type": "message", "role": "assistant", "model": body["model"],
                "content": [{"type": "text", "text": text}], "stop_reason": stop_reason, "stop_sequence": None,
                "usage": usage,
            }, headers=headers)
        finally:
            self.leave()

    async def _stream(self, request: web.Request, message_id: str, model: str, text: str, stop_reason: str,
                      usage: dict[str, Any], headers: dict[str, str], reply: Reply) -> web.StreamResponse:
        start_usage = {**usage, "output_tokens": 1}
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": {
                "id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None, "usage": start_usage}}),
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ("ping", {"type": "ping"}),
        ]
        words = text.split(" ")
        events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": w if i == 0 else " " + w}})
                   for i, w in enumerate(words)]
        if reply.kind == "stream_error":
            events.append(("error", anthropic_error("overloaded_error", "Overloaded")))
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                               "usage": {"output_tokens": usage["output_tokens"]}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        drop_after = 4 if reply.kind == "drop_mid_stream" else None
        return await self.sse(request, events, headers=headers, drop_after=drop_after, gap_s=0.002)


if __name__ == "__main__":
    serve_forever(FakeAnthropic, "Fake Anthropic Messages API server")
