"""The `mock` provider: no network, no credential, deterministic answers for demos and tests.

Knobs in `request.extra` (all optional):
- `mock_response`: fixed answer text; `mock_mode: "echo"` answers with the last user message.
- `mock_latency_ms`: sleep this long (half before the first token when streaming).
- `mock_failure_rate` (0..1) with `mock_error_type` (default `unavailable`): fail for a
  deterministic share of inputs (the same input always fails or always succeeds; `mock_seed`
  reshuffles which ones).
Tokens are counted as ceil(characters / 4), so usage and cost are stable across runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import time

from providers.interface import (
    CompletionRequest,
    CompletionResult,
    EmbeddingResult,
    Endpoint,
    ErrorType,
    ProviderError,
    ProviderKind,
    Usage,
)

EMBEDDING_DIMENSION = 256
_WORDS = ("alpha", "bravo", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris", "juniper",
          "kepler", "lumen", "maple", "nova", "onyx", "prism", "quartz", "river", "sierra", "tundra")


def count_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def _digest(request: CompletionRequest) -> bytes:
    payload = json.dumps(
        {"m": request.model, "s": request.system, "msgs": [(m.role, m.content) for m in request.messages],
         "seed": request.seed, "mseed": request.extra.get("mock_seed")},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).digest()


def _answer(request: CompletionRequest, digest: bytes) -> str:
    if "mock_response" in request.extra:
        return str(request.extra["mock_response"])
    if request.extra.get("mock_mode") == "echo":
        users = [m.content for m in request.messages if m.role == "user"]
        return users[-1] if users else ""
    words = [_WORDS[b % len(_WORDS)] for b in digest[:6]]
    return f"Mock answer {digest.hex()[:8]}: " + " ".join(words) + "."


def _truncate(text: str, max_tokens: int | None) -> tuple[str, str]:
    if max_tokens is not None and count_tokens(text) > max_tokens:
        return text[: max_tokens * 4], "length"
    return text, "stop"


class MockAdapter:
    kind = ProviderKind.MOCK

    async def complete(self, endpoint: Endpoint, request: CompletionRequest) -> CompletionResult:
        started = time.perf_counter()
        digest = _digest(request)
        latency = float(request.extra.get("mock_latency_ms", 0)) / 1000
        timeout = request.timeout
        rate = float(request.extra.get("mock_failure_rate", 0) or 0)
        # The first 4 bytes of the digest, as a fraction in [0, 1): stable per input.
        if rate > 0 and int.from_bytes(digest[:4], "big") / 2**32 < rate:
            await asyncio.sleep(min(latency, timeout) if timeout else latency)
            try:
                error_type = ErrorType(request.extra.get("mock_error_type", ErrorType.UNAVAILABLE))
            except ValueError:
                raise ProviderError(ErrorType.BAD_REQUEST, "mock: unknown mock_error_type") from None
            raise ProviderError(error_type, f"mock failure ({error_type}) injected by mock_failure_rate")
        if timeout is not None and latency > timeout:
            await asyncio.sleep(timeout)
            raise ProviderError(ErrorType.TIMEOUT, f"mock call exceeded its {timeout}s timeout")
        ttft_ms = None
        if request.stream:
            await asyncio.sleep(latency / 2)
            ttft_ms = (time.perf_counter() - started) * 1000
            await asyncio.sleep(latency / 2)
        else:
            await asyncio.sleep(latency)
        text, finish = _truncate(_answer(request, digest), request.max_tokens)
        prompt = (request.system or "") + "".join(m.content for m in request.messages)
        return CompletionResult(
            text=text,
            finish_reason=finish,
            usage=Usage(input_tokens=count_tokens(prompt), output_tokens=count_tokens(text)),
            latency_ms=(time.perf_counter() - started) * 1000,
            ttft_ms=ttft_ms,
            provider_request_id=f"mock-{digest.hex()[:16]}",
            raw={"mock": True, "text": text},
            model=request.model,
        )

    async def embed(self, endpoint: Endpoint, model: str, inputs: list[str], timeout: float | None) -> EmbeddingResult:
        """Hashed bag of words: texts sharing words are close, so retrieval over mock vectors is meaningful."""
        started = time.perf_counter()
        vectors = []
        for text in inputs:
            vector = [0.0] * EMBEDDING_DIMENSION
            for word in re.findall(r"\w+", text.lower()):
                slot = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
                vector[slot % EMBEDDING_DIMENSION] += 1.0
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            vectors.append(tuple(v / norm for v in vector))
        return EmbeddingResult(
            vectors=tuple(vectors),
            usage=Usage(input_tokens=sum(count_tokens(t) for t in inputs)),
            latency_ms=(time.perf_counter() - started) * 1000,
            model=model,
        )
