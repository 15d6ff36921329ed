"""Optional response cache (Django's cache: Redis when REDIS_URL is set, else in-process memory).

The key is a versioned digest of org, provider, model, base_url, normalised config, messages and
seed: never the secret. Errors and content-filtered answers are never stored. Identical calls in flight
in one process are collapsed into one provider call. Off by default for benchmark runs (a
benchmark measures the provider, not our cache); streaming calls bypass it (ttft is their point).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import weakref
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import caches

from providers.interface import CallError, CompletionRequest, CompletionResult, Usage

CACHE_VERSION = 1
DEFAULT_TTL_S = 24 * 3600
_inflight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future]] = weakref.WeakKeyDictionary()


def cache_enabled(*, purpose: str, use_cache: bool | None, request: CompletionRequest) -> bool:
    if request.stream:
        return False
    if use_cache is not None:
        return use_cache
    return purpose != "benchmark" and bool(getattr(settings, "BENCHHUB_PROVIDER_CACHE", True))


def cache_key(*, org_id: int, provider: str, base_url: str | None, request: CompletionRequest) -> str:
    # Per org: another tenant must neither read our answers nor learn what we asked.
    config = dataclasses.asdict(request)
    config.pop("timeout", None)
    config.pop("max_retries", None)
    config.pop("stream", None)
    config["extra"] = {k: v for k, v in sorted(request.extra.items()) if not k.startswith("retry_")}
    payload = json.dumps({"o": org_id, "p": provider, "u": base_url or "", "r": config}, sort_keys=True, default=str)
    return f"providers:resp:v{CACHE_VERSION}:" + hashlib.sha256(payload.encode()).hexdigest()


def _cacheable(result: CompletionResult) -> bool:
    return result.finish_reason != "content_filter"


def _dump(result: CompletionResult) -> dict[str, Any]:
    data = dataclasses.asdict(result)
    data["cost_usd"] = None if result.cost_usd is None else str(result.cost_usd)
    data["errors"] = []
    return data


def _load(data: dict[str, Any]) -> CompletionResult:
    data = dict(data)
    data["usage"] = Usage(**data["usage"])
    data["cost_usd"] = None if data["cost_usd"] is None else Decimal(data["cost_usd"])
    data["errors"] = tuple(CallError(**e) for e in data.get("errors") or [])
    return CompletionResult(**data)


async def cached_call(key: str, call: Callable[[], Awaitable[CompletionResult]]) -> CompletionResult:
    """The cached answer (cache_hit=True, retries 0) or the one call's answer, shared by its twins."""
    cache = caches["default"]
    stored = await cache.aget(key)
    if stored is not None:
        return dataclasses.replace(_load(stored), cache_hit=True, retries=0, errors=())
    pending = _inflight.setdefault(asyncio.get_running_loop(), {})
    if key in pending:
        result = await asyncio.shield(pending[key])
        return dataclasses.replace(result, cache_hit=True)
    future: asyncio.Future[CompletionResult] = asyncio.get_running_loop().create_future()
    pending[key] = future
    try:
        result = await call()
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # mark retrieved: twins re-raise it, nobody else needs to
        raise
    else:
        future.set_result(result)
        if _cacheable(result):
            await cache.aset(key, _dump(result), timeout=getattr(settings, "BENCHHUB_PROVIDER_CACHE_TTL", DEFAULT_TTL_S))
        return result
    finally:
        pending.pop(key, None)
