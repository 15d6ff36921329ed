"""Build a `CompletionRequest` from the API's shape: messages + an arm-style `config` dict."""

from __future__ import annotations

from typing import Any

from providers.interface import CompletionRequest, Message

# Config keys with a field of their own; any other key goes to `extra` (the provider's body,
# or the gateway's `mock_*` / `retry_*` knobs).
CONFIG_FIELDS = frozenset(
    {"temperature", "max_tokens", "top_p", "stop", "seed", "system", "timeout", "max_retries", "stream",
     "response_format", "cache"}
)


def completion_request(*, model: str, messages: list[dict[str, str]], config: dict[str, Any] | None = None) -> CompletionRequest:
    config = dict(config or {})
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
