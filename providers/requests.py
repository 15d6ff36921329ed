"""Build a `CompletionRequest` from the API's shape: messages + an arm-style `config` dict."""

from __future__ import annotations

import math
from typing import Any

from providers.interface import CompletionRequest, ErrorType, Message

# Config keys with a field of their own; any other key goes to `extra` (the provider's body,
# or the gateway's `mock_*` / `retry_*` knobs).
CONFIG_FIELDS = frozenset(
    {"temperature", "max_tokens", "top_p", "stop", "seed", "system", "timeout", "max_retries", "stream",
     "response_format", "cache"}
)


_NUMBERS = ("timeout", "retry_base_delay_s", "retry_max_delay_s", "retry_deadline_s", "mock_latency_ms",
            "mock_failure_rate")


def config_validate(config: dict[str, Any]) -> None:
    """Raise `ValueError` naming the first unusable knob of an arm's (or a chat call's) config.

    Bounds are not refused here but clamped by the gateway at every call (`BENCHHUB_MAX_*`)."""
    for name in _NUMBERS:
        value = config.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or value < 0):
            raise ValueError(f"{name} must be a non-negative number")
    retries = config.get("max_retries")
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
        raise ValueError("max_retries must be a non-negative integer")
    error_type = config.get("mock_error_type")
    if error_type is not None and error_type not in ErrorType.__members__.values():
        raise ValueError(f"mock_error_type must be one of {', '.join(ErrorType)}")


def completion_request(*, model: str, messages: list[dict[str, str]], config: dict[str, Any] | None = None) -> CompletionRequest:
    config = dict(config or {})
    config_validate(config)
    stop = config.get("stop")
    return CompletionRequest(
        model=model,
        messages=tuple(Message(role=m["role"], content=m["content"]) for m in messages),
        system=config.get("system"),
        temperature=config.get("temperature"),
        max_tokens=config.get("max_tokens"),
        top_p=config.get("top_p"),
        stop=(stop,) if isinstance(stop, str) else (tuple(stop) if stop else None),
        seed=config.get("seed"),
        response_format=config.get("response_format"),
        timeout=config.get("timeout"),
        stream=bool(config.get("stream", False)),
        max_retries=config.get("max_retries"),
        extra={k: v for k, v in config.items() if k not in CONFIG_FIELDS},
    )
