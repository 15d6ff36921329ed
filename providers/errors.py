"""HTTP status + error body + headers -> one `ProviderError`. Vendor-neutral: adapters feed it.

Deterministic errors (auth, bad_request, context_length, an exhausted quota) are never retried;
transient ones (rate limits, 5xx, Anthropic's overloaded 529, dropped connections) are.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from typing import Any

from providers.interface import ErrorType, ProviderError

_CONTEXT_HINTS = ("context_length", "maximum context length", "prompt is too long", "too many tokens", "context window")
_FILTER_HINTS = ("content_filter", "content_policy", "responsibleaipolicyviolation", "safety")
_QUOTA_CODES = ("insufficient_quota", "billing_hard_limit_reached", "quota_exceeded")


# How much of a provider's own error message is kept: enough to read, too little to exfiltrate a page.
MESSAGE_MAX_CHARS = 200


def _error_fields(body: Any) -> tuple[str, str, str]:
    """(code, type, message) from the usual `{"error": {...}}` shapes (OpenAI, Anthropic, Azure).

    Only a structured (JSON) error is read, each field cut short: a body that is not JSON (an
    internal service's HTML page, a file) is never echoed back, because the caller chose the URL."""
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            fields = (error.get("code"), error.get("type"), error.get("message"))
            return tuple(short_message(v) for v in fields)  # type: ignore[return-value]
        if isinstance(error, str):
            return "", "", short_message(error)
    return "", "", ""


def short_message(value: Any) -> str:
    if value is None or isinstance(value, Mapping | list):
        return ""
    text = " ".join(str(value).split())
    return text if len(text) <= MESSAGE_MAX_CHARS else text[: MESSAGE_MAX_CHARS - 1] + "…"


def _seconds(value: str) -> float | None:
    """'2', '0.5', '1m30s', '6m0s', '250ms' or an HTTP date -> seconds."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value)
    if parts and "".join(n + u for n, u in parts) == value.replace(" ", ""):
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        return sum(float(n) * scale[u] for n, u in parts)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        when = None
    if when is not None:
        return max(0.0, when.timestamp() - time.time())
    return None


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lower:
        try:
            return max(0.0, float(lower["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    if "retry-after" in lower:
        return _seconds(lower["retry-after"])
    return None


def rate_limit_info(headers: Mapping[str, str] | None) -> dict[str, float] | None:
    """OpenAI `x-ratelimit-*` and Anthropic `anthropic-ratelimit-*` headers, normalised."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    info: dict[str, float] = {}
    names = {
        "remaining_requests": ("x-ratelimit-remaining-requests", "anthropic-ratelimit-requests-remaining"),
        "remaining_tokens": ("x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining"),
        "limit_requests": ("x-ratelimit-limit-requests", "anthropic-ratelimit-requests-limit"),
        "reset_requests_s": ("x-ratelimit-reset-requests", "anthropic-ratelimit-requests-reset"),
        "reset_tokens_s": ("x-ratelimit-reset-tokens", "anthropic-ratelimit-tokens-reset"),
    }
    for key, candidates in names.items():
        for name in candidates:
            if name in lower:
                raw = lower[name]
                if not key.startswith("reset"):
                    parsed = _parse_number(raw)
                else:
                    parsed = _iso_seconds(raw) if _is_iso(raw) else _seconds(raw)
                if parsed is not None:
                    info[key] = parsed
                break
    return info or None


def _parse_number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _is_iso(value: str) -> bool:
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}T", value))


def _iso_seconds(value: str) -> float | None:
    from datetime import datetime

    try:
        return max(0.0, datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() - time.time())
    except ValueError:
        return None


def classify_http(
    status: int, body: Any, headers: Mapping[str, str] | None = None, *, vendor: str = ""
) -> ProviderError:
    code, kind, message = _error_fields(body)
    # A text body still helps classify (never shown): "prompt is too long" in a plain 400.
    hint = body[:2000] if isinstance(body, str) else ""
    text = f"{code} {kind} {message} {hint}".lower()
    summary = message or kind or code or f"HTTP {status}"
    label = f"{vendor} HTTP {status}: {summary}" if vendor else f"HTTP {status}: {summary}"
    wait = retry_after(headers)
    limits = rate_limit_info(headers)

    def error(error_type: ErrorType, retryable: bool | None = None) -> ProviderError:
        return ProviderError(
            error_type, label[:500], retryable=retryable, status_code=status, retry_after=wait,
            raw={"error": {"code": code, "type": kind, "message": message}} if isinstance(body, Mapping) else None,
            rate_limit=limits,
        )

    if status in (401, 403) or kind in ("authentication_error", "permission_error"):
        return error(ErrorType.AUTH)
    if status == 429 or kind == "rate_limit_error":
        if any(q in text for q in _QUOTA_CODES):
            return error(ErrorType.RATE_LIMITED, retryable=False)  # exhausted quota: retrying only wastes calls
        return error(ErrorType.RATE_LIMITED)
    if status == 529 or kind == "overloaded_error":
        return error(ErrorType.UNAVAILABLE)
    if status == 408:
        return error(ErrorType.TIMEOUT)
    if status >= 500 or status == 409:
        return error(ErrorType.UNAVAILABLE)
    if any(h in text for h in _CONTEXT_HINTS) or status == 413:
        return error(ErrorType.CONTEXT_LENGTH)
    if any(h in text for h in _FILTER_HINTS):
        return error(ErrorType.CONTENT_FILTERED)
    if 400 <= status < 500:
        return error(ErrorType.BAD_REQUEST)
    return error(ErrorType.UNKNOWN)


# Transport errors meaning "the server went away mid-request", by class name so that this module
# stays free of transport imports (httpx, httpcore, aiohttp all have their own).
_DROPPED = frozenset({
    "ServerDisconnectedError", "ClientOSError", "ClientConnectionResetError", "RemoteProtocolError",
    "ConnectionResetError", "BrokenPipeError", "ReadError", "ClientPayloadError",
})


def is_dropped_connection(exc: BaseException) -> bool:
    """True when a transport error (possibly re-raised as a timeout by the SDK) was a dropped connection.

    The SDKs' aiohttp transport reports a server disconnect as a connect *timeout*; the cause chain
    still says what happened, and a dropped connection is `unavailable`, not `timeout`.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in _DROPPED:
            return True
        current = current.__cause__ or current.__context__
    return False
