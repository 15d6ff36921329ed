"""Anthropic's Messages API through the official SDK (one try per call, SDK retries off)."""

from __future__ import annotations

import time
from typing import Any

import anthropic
from anthropic import AsyncAnthropic, DefaultAioHttpClient
from anthropic._constants import DEFAULT_CONNECTION_LIMITS
from anthropic._vendor.httpx_aiohttp.transport import AiohttpTransport

from providers.adapters.pool import client_for, endpoint_key, guarded_http_client
from providers.egress import refusal_in
from providers.errors import classify_http, is_dropped_connection, rate_limit_info
from providers.interface import (
    CompletionRequest,
    CompletionResult,
    Endpoint,
    ErrorType,
    ProviderError,
    ProviderKind,
    Usage,
    passthrough_extra,
)

DEFAULT_MAX_TOKENS = 1024  # Anthropic requires max_tokens; this is what an arm gets without one.
DEFAULT_TIMEOUT_S = 60.0
# Anthropic's stop reasons in the OpenAI vocabulary every caller reads.
FINISH_REASONS = {
    "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
    "tool_use": "tool_calls", "refusal": "content_filter", "pause_turn": "stop",
}


def _client(endpoint: Endpoint) -> AsyncAnthropic:
    key = endpoint_key("anthropic", endpoint.base_url, tuple(sorted(endpoint.headers.items())), secret=endpoint.api_key)
    return client_for(
        key,
        lambda: AsyncAnthropic(
            api_key=endpoint.api_key, base_url=endpoint.base_url or None, max_retries=0,
            default_headers=dict(endpoint.headers) or None, http_client=guarded_http_client(DefaultAioHttpClient, AiohttpTransport, DEFAULT_CONNECTION_LIMITS),
        ),
    )


def _params(request: CompletionRequest) -> dict[str, Any]:
    system_parts = [request.system] if request.system else []
    system_parts += [m.content for m in request.messages if m.role == "system"]
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"],
        "timeout": request.timeout or DEFAULT_TIMEOUT_S,
    }
    if system_parts:
        params["system"] = "\n\n".join(system_parts)
    if request.stop:
        params["stop_sequences"] = list(request.stop)
    if request.response_format:
        params["output_config"] = {"format": {"type": "json_schema", "schema": _json_schema(request.response_format)}}
    # This SDK generation no longer takes sampling parameters as arguments; the API still reads
    # them from the body, so they travel there.
    body = {k: v for k, v in {"temperature": request.temperature, "top_p": request.top_p}.items() if v is not None}
    body.update(passthrough_extra(request.extra))
    if body:
        params["extra_body"] = body
    return params


def _json_schema(response_format: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's `response_format` as Anthropic structured output: its schema, or any JSON object."""
    if response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        return dict(spec.get("schema") or {"type": "object"})
    return {"type": "object"}


def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage()
    cached = (getattr(raw, "cache_read_input_tokens", None) or 0)
    created = (getattr(raw, "cache_creation_input_tokens", None) or 0)
    return Usage(
        input_tokens=int((getattr(raw, "input_tokens", 0) or 0) + cached + created),
        output_tokens=int(getattr(raw, "output_tokens", 0) or 0),
        cached_tokens=int(cached),
    )


def map_exception(exc: Exception) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    refused = refusal_in(exc)
    if refused is not None:
        return ProviderError(ErrorType.POLICY_DENIED, f"anthropic: endpoint refused: {refused}")
    if isinstance(exc, anthropic.APITimeoutError) and not is_dropped_connection(exc):
        return ProviderError(ErrorType.TIMEOUT, "anthropic: request timed out")
    if isinstance(exc, anthropic.APIConnectionError):  # includes a dropped connection reported as a timeout
        return ProviderError(ErrorType.UNAVAILABLE, f"anthropic: connection failed ({type(exc.__cause__).__name__})")
    if isinstance(exc, anthropic.APIStatusError):
        return classify_http(exc.status_code, exc.body, dict(exc.response.headers), vendor="anthropic")
    if isinstance(exc, anthropic.APIResponseValidationError | ValueError | KeyError | AttributeError | TypeError):
        return ProviderError(ErrorType.INVALID_RESPONSE, f"anthropic: malformed response ({type(exc).__name__})")
    if isinstance(exc, anthropic.APIError):
        # An `error` event inside a stream, e.g. overloaded_error mid-answer.
        body = getattr(exc, "body", None)
        return classify_http(529 if "overloaded" in str(body) else 500, body, vendor="anthropic")
    return ProviderError(ErrorType.UNKNOWN, f"anthropic: {type(exc).__name__}")


class AnthropicAdapter:
    kind = ProviderKind.ANTHROPIC

    async def complete(self, endpoint: Endpoint, request: CompletionRequest) -> CompletionResult:
        started = time.perf_counter()
        try:
            if request.stream:
                return await self._stream(endpoint, request, started)
            response = await _client(endpoint).messages.with_raw_response.create(**_params(request))
            message = await response.parse()
            if isinstance(message, str) or message.content is None:
                raise ProviderError(ErrorType.INVALID_RESPONSE, "anthropic: response without content")
            text = "".join(block.text for block in message.content if getattr(block, "type", "") == "text")
            return CompletionResult(
                text=text,
                finish_reason=FINISH_REASONS.get(message.stop_reason or "", message.stop_reason),
                usage=_usage(message.usage),
                latency_ms=(time.perf_counter() - started) * 1000,
                provider_request_id=response.headers.get("request-id") or message.id,
                raw=message.model_dump(mode="json"),
                rate_limit=rate_limit_info(dict(response.headers)),
                model=message.model or request.model,
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes one ProviderError
            raise map_exception(exc) from None

    async def _stream(self, endpoint: Endpoint, request: CompletionRequest, started: float) -> CompletionResult:
        response = await _client(endpoint).messages.with_raw_response.create(stream=True, **_params(request))
        stream = await response.parse()
        parts: list[str] = []
        ttft_ms: float | None = None
        stop_reason: str | None = None
        input_usage: Any = None
        output_tokens = 0
        message_id = model = None
        async for event in stream:
            if event.type == "message_start":
                message_id, model, input_usage = event.message.id, event.message.model, event.message.usage
            elif event.type == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta":
                if ttft_ms is None:
                    ttft_ms = (time.perf_counter() - started) * 1000
                parts.append(event.delta.text)
            elif event.type == "message_delta":
                stop_reason = event.delta.stop_reason or stop_reason
                output_tokens = int(getattr(event.usage, "output_tokens", 0) or output_tokens)
        if message_id is None:
            raise ProviderError(ErrorType.INVALID_RESPONSE, "anthropic: stream ended without message_start")
        base = _usage(input_usage)
        text = "".join(parts)
        return CompletionResult(
            text=text,
            finish_reason=FINISH_REASONS.get(stop_reason or "", stop_reason),
            usage=Usage(input_tokens=base.input_tokens, output_tokens=output_tokens, cached_tokens=base.cached_tokens),
            latency_ms=(time.perf_counter() - started) * 1000,
            ttft_ms=ttft_ms,
            provider_request_id=response.headers.get("request-id") or message_id,
            raw={"id": message_id, "model": model, "streamed": True, "text": text, "stop_reason": stop_reason},
            rate_limit=rate_limit_info(dict(response.headers)),
            model=model or request.model,
        )
