"""The provider gateway's contract: one request shape, one result shape, one error taxonomy.

Callers (run execution, the evaluator, the chat playground) speak only these types; adapters in
`providers/adapters/<vendor>.py` translate them to and from each vendor SDK.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol


class ProviderKind(enum.StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    AZURE_OPENAI = "azure_openai"
    OPENROUTER = "openrouter"
    GOOGLE = "google"
    TOGETHER = "together"
    LOCAL = "local"
    MOCK = "mock"


class ErrorType(enum.StrEnum):
    AUTH = "auth"
    POLICY_DENIED = "policy_denied"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    BAD_REQUEST = "bad_request"
    CONTEXT_LENGTH = "context_length"
    CONTENT_FILTERED = "content_filtered"
    INVALID_RESPONSE = "invalid_response"
    UNKNOWN = "unknown"


# Transient errors are worth another try within the retry caps; the rest fail at once.
RETRYABLE_BY_DEFAULT: frozenset[ErrorType] = frozenset(
    {ErrorType.RATE_LIMITED, ErrorType.TIMEOUT, ErrorType.UNAVAILABLE, ErrorType.INVALID_RESPONSE}
)


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    """A provider-neutral chat completion request. `extra` passes provider-specific keys through."""

    model: str
    messages: tuple[Message, ...]
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    response_format: dict[str, Any] | None = None  # {"type": "json_object"} or a JSON schema request
    timeout: float | None = None  # seconds for one call
    stream: bool = False
    max_retries: int | None = None  # None: the org's / platform default
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True)
class CallError:
    """One failed try, as recorded on the result or the raised error (type, message, status)."""

    type: ErrorType
    message: str
    status_code: int | None = None


@dataclass(frozen=True)
class CompletionResult:
    text: str
    finish_reason: str | None
    usage: Usage
    latency_ms: float
    ttft_ms: float | None = None
    cost_usd: Decimal | None = None  # None when the price is unknown: never a silent 0
    provider_request_id: str | None = None
    raw: dict[str, Any] | None = None  # the provider's response, for audit
    retries: int = 0
    errors: tuple[CallError, ...] = ()  # every error seen on the way to this result
    cache_hit: bool = False
    # What the provider said about its own limits (remaining requests/tokens, seconds to reset).
    rate_limit: dict[str, float] | None = None
    model: str = ""  # the model that answered, as the provider names it


class ProviderError(Exception):
    """The one exception every gateway call raises on failure, whatever the vendor."""

    def __init__(
        self,
        type: ErrorType,
        message: str,
        *,
        retryable: bool | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
        retries: int = 0,
        errors: tuple[CallError, ...] = (),
        raw: dict[str, Any] | None = None,
        rate_limit: dict[str, float] | None = None,
    ) -> None:
        super().__init__(message)
        self.type = ErrorType(type)
        self.message = message
        self.retryable = self.type in RETRYABLE_BY_DEFAULT if retryable is None else retryable
        self.status_code = status_code
        self.retry_after = retry_after
        self.retries = retries
        self.errors = errors
        self.raw = raw
        self.rate_limit = rate_limit

    def with_history(self, *, retries: int, errors: tuple[CallError, ...]) -> ProviderError:
        """The same error carrying the gateway's retry count and every error seen."""
        self.retries = retries
        self.errors = errors
        return self

    def as_call_error(self) -> CallError:
        return CallError(type=self.type, message=self.message, status_code=self.status_code)

    def as_dict(self) -> dict[str, Any]:
        return {"type": str(self.type), "message": self.message, "retries": self.retries}


@dataclass(frozen=True)
class Endpoint:
    """Where and how to call one provider for one org: resolved from the org's credential."""

    provider: ProviderKind
    api_key: str | None = field(default=None, repr=False)  # never in a repr, a log line or a traceback
    base_url: str | None = None
    api_version: str | None = None
    deployments: dict[str, str] = field(default_factory=dict)  # Azure: model -> deployment
    headers: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # max_concurrency, rpm, tpm, ...


class ProviderAdapter(Protocol):
    """One per vendor. Makes exactly one try: retries, limits and breakers live in the gateway."""

    kind: ProviderKind

    async def complete(self, endpoint: Endpoint, request: CompletionRequest) -> CompletionResult: ...


@dataclass(frozen=True)
class EmbeddingResult:
    """Vectors for a list of inputs, in input order, with usage and cost like a completion."""

    vectors: tuple[tuple[float, ...], ...]
    usage: Usage
    latency_ms: float
    cost_usd: Decimal | None = None
    model: str = ""
    provider_request_id: str | None = None
    retries: int = 0


class EmbeddingAdapter(Protocol):
    """Adapters that can embed implement this beside `ProviderAdapter`."""

    async def embed(self, endpoint: Endpoint, model: str, inputs: list[str], timeout: float | None) -> EmbeddingResult: ...


# Keys of `CompletionRequest.extra` the gateway and the mock provider consume themselves; every
# other key is passed on to the provider's API body as it is.
GATEWAY_EXTRA_PREFIXES: tuple[str, ...] = ("mock_", "retry_", "gateway_")


def passthrough_extra(extra: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in extra.items() if not k.startswith(GATEWAY_EXTRA_PREFIXES)}
