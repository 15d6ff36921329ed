"""OpenAI and every OpenAI-compatible provider (Azure, OpenRouter, Gemini, Together, local servers).

One try per call: the SDK's own retries are off (`max_retries=0`) so the gateway's retries are the
ones that count and are recorded.
"""

from __future__ import annotations

import time
from typing import Any

import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI, DefaultAioHttpClient
from openai._constants import DEFAULT_CONNECTION_LIMITS, RAW_RESPONSE_HEADER
from openai._vendor.httpx_aiohttp.transport import AiohttpTransport
from openai.types.chat import ChatCompletion

from providers.adapters.pool import client_for, endpoint_key, guarded_http_client
from providers.egress import refusal_in
from providers.errors import classify_http, is_dropped_connection, rate_limit_info, short_message
from providers.interface import (
    CompletionRequest,
    CompletionResult,
    EmbeddingResult,
    Endpoint,
    ErrorType,
    ProviderError,
    ProviderKind,
    Usage,
    passthrough_extra,
)

DEFAULT_BASE_URLS: dict[ProviderKind, str] = {
    ProviderKind.OPENAI: "https://api.openai.com/v1",
    ProviderKind.OPENROUTER: "https://openrouter.ai/api/v1",
    ProviderKind.GOOGLE: "https://generativelanguage.googleapis.com/v1beta/openai/",
    ProviderKind.TOGETHER: "https://api.together.xyz/v1",
}
# OpenRouter ranks and attributes apps by these headers; a credential's `headers` overrides them.
OPENROUTER_HEADERS = {"HTTP-Referer": "https://github.com/benchhub/benchhub", "X-Title": "BenchHub"}
DEFAULT_TIMEOUT_S = 60.0
# What `chat.completions.with_raw_response.create` sends besides the body: the raw-response marker
# and bearer auth (Azure's client swaps it for its `api-key` header, as with `create`).
_RAW_HEADERS = {RAW_RESPONSE_HEADER: "true"}
_SECURITY = {"bearer_auth": True}


def _client(endpoint: Endpoint) -> AsyncOpenAI:
    kind = endpoint.provider
    headers = dict(OPENROUTER_HEADERS) if kind == ProviderKind.OPENROUTER else {}
    headers.update(endpoint.headers)
    # Local servers (llama.cpp, vLLM, Ollama) take any key; the SDK insists on one.
    api_key = endpoint.api_key or ("not-needed" if kind == ProviderKind.LOCAL else None)
    key = endpoint_key(kind, endpoint.base_url, endpoint.api_version, tuple(sorted(headers.items())), secret=api_key)

    def factory() -> AsyncOpenAI:
        # aiohttp transport: about 0.8 ms less CPU per call than httpx's pool at 100 in flight.
        http_client = guarded_http_client(DefaultAioHttpClient, AiohttpTransport, DEFAULT_CONNECTION_LIMITS)
        if kind == ProviderKind.AZURE_OPENAI:
            return AsyncAzureOpenAI(
                api_key=api_key, azure_endpoint=endpoint.base_url, api_version=endpoint.api_version,
                max_retries=0, default_headers=headers or None, http_client=http_client,
            )
        return AsyncOpenAI(
            api_key=api_key, base_url=endpoint.base_url or DEFAULT_BASE_URLS.get(kind),
            max_retries=0, default_headers=headers or None, http_client=http_client,
        )

    return client_for(key, factory)


def _model_name(endpoint: Endpoint, model: str) -> str:
    # Azure addresses a deployment, not a model: the credential maps one to the other.
    if endpoint.provider == ProviderKind.AZURE_OPENAI:
        return endpoint.deployments.get(model, model)
    return model


def _messages(request: CompletionRequest) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [{"role": m.role, "content": m.content} for m in request.messages]
    return messages


def _params(endpoint: Endpoint, request: CompletionRequest) -> dict[str, Any]:
    params: dict[str, Any] = {"model": _model_name(endpoint, request.model), "messages": _messages(request)}
    optional = {
        "temperature": request.temperature, "top_p": request.top_p, "seed": request.seed,
        # llama.cpp honours max_tokens but not max_completion_tokens; OpenAI still accepts both.
        "max_tokens": request.max_tokens,
        "stop": list(request.stop) if request.stop else None,
        "response_format": request.response_format,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    extra = passthrough_extra(request.extra)
    if extra:
        params["extra_body"] = extra
    params["timeout"] = request.timeout or DEFAULT_TIMEOUT_S
    return params


async def _post_completion(client: AsyncOpenAI, params: dict[str, Any]) -> Any:
    """`chat.completions.with_raw_response.create(**params)` minus the SDK's request transformation.

    `create` walks the whole body through `async_maybe_transform` (type-hint driven, the largest
    CPU cost of a call); our body is already plain JSON (strings, numbers, lists, dicts), which that
    transform returns unchanged. Same path, headers, auth, timeout, extra body, response parsing
    and SDK exceptions: `post` is what `create` calls.
    """
    body = dict(params)
    options: dict[str, Any] = {"headers": _RAW_HEADERS, "timeout": body.pop("timeout"), "security": _SECURITY}
    extra = body.pop("extra_body", None)
    if extra is not None:
        options["extra_json"] = extra
    return await client.post("/chat/completions", body=body, cast_to=ChatCompletion, options=options)  # type: ignore[arg-type]


def map_exception(exc: Exception, vendor: str) -> ProviderError:
    """Any SDK/transport failure -> the gateway taxonomy. Never includes the request (or the key)."""
    if isinstance(exc, ProviderError):
        return exc
    refused = refusal_in(exc)
    if refused is not None:
        return ProviderError(ErrorType.POLICY_DENIED, f"{vendor}: endpoint refused: {refused}")
    if isinstance(exc, openai.APITimeoutError) and not is_dropped_connection(exc):
        return ProviderError(ErrorType.TIMEOUT, f"{vendor}: request timed out")
    if isinstance(exc, openai.APIConnectionError):  # includes a dropped connection reported as a timeout
        return ProviderError(ErrorType.UNAVAILABLE, f"{vendor}: connection failed ({type(exc.__cause__).__name__})")
    if isinstance(exc, openai.APIStatusError):
        return classify_http(exc.status_code, exc.body, dict(exc.response.headers), vendor=vendor)
    if isinstance(exc, openai.APIResponseValidationError | ValueError | KeyError | AttributeError | TypeError):
        return ProviderError(ErrorType.INVALID_RESPONSE, f"{vendor}: malformed response ({type(exc).__name__})")
    if isinstance(exc, openai.APIError):
        # e.g. an error event inside a stream
        return ProviderError(ErrorType.UNAVAILABLE, f"{vendor}: {short_message(exc.message)}")
    return ProviderError(ErrorType.UNKNOWN, f"{vendor}: {type(exc).__name__}")


def _usage(raw_usage: Any) -> Usage:
    if not raw_usage:
        return Usage()
    details = getattr(raw_usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    return Usage(
        input_tokens=int(getattr(raw_usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(raw_usage, "completion_tokens", 0) or 0),
        cached_tokens=int(cached),
    )


class OpenAICompatibleAdapter:
    def __init__(self, kind: ProviderKind) -> None:
        self.kind = kind

    async def complete(self, endpoint: Endpoint, request: CompletionRequest) -> CompletionResult:
        started = time.perf_counter()
        try:
            if request.stream:
                return await self._stream(endpoint, request, started)
            response = await _post_completion(_client(endpoint), _params(endpoint, request))
            completion = response.parse()
            if isinstance(completion, str) or not completion.choices:
                raise ProviderError(ErrorType.INVALID_RESPONSE, f"{self.kind}: response without choices")
            choice = completion.choices[0]
            raw = completion.model_dump(mode="json")
            if choice.message is None:
                raise ProviderError(ErrorType.INVALID_RESPONSE, f"{self.kind}: choice without a message")
            return CompletionResult(
                text=choice.message.content or "",
                finish_reason=choice.finish_reason,
                usage=_usage(completion.usage),
                latency_ms=(time.perf_counter() - started) * 1000,
                provider_request_id=response.headers.get("x-request-id") or completion.id,
                raw=raw,
                rate_limit=rate_limit_info(dict(response.headers)),
                model=completion.model or request.model,
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes one ProviderError
            raise map_exception(exc, str(self.kind)) from None

    async def _stream(self, endpoint: Endpoint, request: CompletionRequest, started: float) -> CompletionResult:
        params = _params(endpoint, request)
        if self.kind != ProviderKind.LOCAL:
            # llama.cpp's server sends no usage when streaming and may reject unknown options.
            params["stream_options"] = {"include_usage": True}
        response = await _client(endpoint).chat.completions.with_raw_response.create(stream=True, **params)
        stream = response.parse()
        parts: list[str] = []
        ttft_ms: float | None = None
        finish: str | None = None
        usage = Usage()
        chunk_id = model = None
        async for chunk in stream:
            chunk_id = chunk_id or chunk.id
            model = model or chunk.model
            if chunk.usage:
                usage = _usage(chunk.usage)
            for choice in chunk.choices or []:
                delta = choice.delta.content if choice.delta else None
                if delta:
                    if ttft_ms is None:
                        ttft_ms = (time.perf_counter() - started) * 1000
                    parts.append(delta)
                if choice.finish_reason:
                    finish = choice.finish_reason
        text = "".join(parts)
        if finish is None and not parts:
            raise ProviderError(ErrorType.INVALID_RESPONSE, f"{self.kind}: stream ended without content")
        return CompletionResult(
            text=text,
            finish_reason=finish,
            usage=usage,
            latency_ms=(time.perf_counter() - started) * 1000,
            ttft_ms=ttft_ms,
            provider_request_id=response.headers.get("x-request-id") or chunk_id,
            raw={"id": chunk_id, "model": model, "streamed": True, "text": text, "finish_reason": finish,
                 "usage_reported": usage != Usage()},
            rate_limit=rate_limit_info(dict(response.headers)),
            model=model or request.model,
        )

    async def embed(self, endpoint: Endpoint, model: str, inputs: list[str], timeout: float | None) -> EmbeddingResult:
        started = time.perf_counter()
        try:
            response = await _client(endpoint).embeddings.with_raw_response.create(
                model=_model_name(endpoint, model), input=inputs, timeout=timeout or DEFAULT_TIMEOUT_S
            )
            result = response.parse()
            rows = sorted(result.data, key=lambda row: row.index)
            if len(rows) != len(inputs):
                raise ProviderError(ErrorType.INVALID_RESPONSE, f"{self.kind}: {len(rows)} vectors for {len(inputs)} inputs")
            return EmbeddingResult(
                vectors=tuple(tuple(float(v) for v in row.embedding) for row in rows),
                usage=Usage(input_tokens=int(getattr(result.usage, "prompt_tokens", 0) or 0)),
                latency_ms=(time.perf_counter() - started) * 1000,
                model=result.model or model,
                provider_request_id=response.headers.get("x-request-id"),
            )
        except Exception as exc:  # noqa: BLE001
            raise map_exception(exc, str(self.kind)) from None
