"""The one way any part of BenchHub calls a model.

`acomplete` (async) / `complete` (sync) run one call through: the org's allowlist (checked at every
call), its credential, the response cache, the circuit breaker, the shared limiter, one adapter
try at a time with retries (capped exponential backoff, full jitter, Retry-After, a total
deadline), pricing, metrics and one structured log line. Every failure is a `ProviderError`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asgiref.sync import async_to_sync, sync_to_async
from django.db import close_old_connections, connection

from benchhub.request_context import get_request_id
from benchhub.tracing import span, tracing_enabled
from providers import backend, metrics
from providers.adapters.pool import close_loop_clients
from providers.breaker import BreakerConfig, BreakerRef, breaker_record
from providers.cache import cache_enabled, cache_key, cached_call
from providers.context import CallContext, context_cached, context_load
from providers.interface import (
    CallError,
    CompletionRequest,
    CompletionResult,
    EmbeddingResult,
    Endpoint,
    ErrorType,
    ProviderError,
    ProviderKind,
)
from providers.limits import LimitConfig, estimate_tokens, limited
from providers.policy import rules_allow
from providers.pricing import call_cost
from providers.registry import adapter_for
from providers.retry import RetryPolicy, call_timeout, retry_policy

logger = logging.getLogger("benchhub.providers.calls")
T = TypeVar("T")

DEFAULT_TIMEOUT_S = 60.0
LEASE_MARGIN_S = 30.0  # a concurrency slot outlives its call's timeout by this much, then frees itself


def _kind(provider: str) -> ProviderKind:
    try:
        return ProviderKind(provider)
    except ValueError:
        raise ProviderError(ErrorType.BAD_REQUEST, f"unknown provider {provider!r}") from None


def _check_policy(context: CallContext, model: str) -> None:
    if not rules_allow(list(context.rules), provider=context.provider.value, model=model):
        raise ProviderError(
            ErrorType.POLICY_DENIED,
            f"the organisation's allowlist does not allow {context.provider.value}:{model}",
        )


def _label(context: CallContext, model: str) -> str:
    return metrics.model_label(provider=context.provider.value, model=model,
                               price_globs=(rule.model_glob for rule in context.price_rules))


def _check_endpoint(context: CallContext) -> None:
    if context.endpoint is None:
        raise ProviderError(ErrorType.AUTH, f"the organisation has no credential for {context.provider.value}")


async def _load(org_id: int, provider: str) -> CallContext:
    cached = context_cached(org_id=org_id, provider=provider)
    if cached is not None:
        return cached
    return await sync_to_async(_load_fresh)(org_id=org_id, provider=provider)


def _load_fresh(*, org_id: int, provider: str) -> CallContext:
    """`context_load` on the sync_to_async thread, with a connection of its own for this load only.

    Reconnecting is cheap next to how rarely a context is loaded (it is cached), and a long-lived
    loop's loader thread would otherwise hold a connection for the life of the process, left
    unusable by a database restart and in the way of dropping a database. Never inside a
    transaction (the sync wrapper may run on its caller's thread and connection)."""
    if connection.in_atomic_block:
        return context_load(org_id=org_id, provider=provider)
    close_old_connections()
    try:
        return context_load(org_id=org_id, provider=provider)
    finally:
        connection.close()


def policy_check(*, org_id: int, provider: str, model: str) -> None:
    """Raise `policy_denied` unless the org's allowlist allows this provider and model."""
    _check_policy(context_load(org_id=org_id, provider=_kind(provider).value), model)


def endpoint_check(*, org_id: int, provider: str) -> None:
    """Raise `auth` when the org has no usable credential for `provider` (`mock` needs none)."""
    _check_endpoint(context_load(org_id=org_id, provider=_kind(provider).value))


def _traced(call: Callable[..., Awaitable[CompletionResult]]) -> Callable[..., Awaitable[CompletionResult]]:
    """`provider.call` span around a gateway call (its tries are child spans); free when tracing is off."""

    @functools.wraps(call)
    async def traced(*, org_id: int, provider: str, request: CompletionRequest, purpose: str = "benchmark",
                     **more: Any) -> CompletionResult:
        if not tracing_enabled():
            return await call(org_id=org_id, provider=provider, request=request, purpose=purpose, **more)
        with span("provider.call", **{"benchhub.org_id": org_id, "llm.provider": provider,
                                      "llm.model": request.model, "benchhub.purpose": purpose}) as current:
            result = await call(org_id=org_id, provider=provider, request=request, purpose=purpose, **more)
            current.set_attributes({"llm.retries": result.retries, "llm.cache_hit": result.cache_hit,
                                    "llm.input_tokens": result.usage.input_tokens,
                                    "llm.output_tokens": result.usage.output_tokens})
            return result

    return traced


@_traced
async def acomplete(
    *,
    org_id: int,
    provider: str,
    request: CompletionRequest,
    purpose: str = "benchmark",
    use_cache: bool | None = None,
) -> CompletionResult:
    kind = _kind(provider)

    async def org_context() -> CallContext:
        context = await _load(org_id, kind.value)
        _check_policy(context, request.model)
        return context

    return await _observed(org_context, org_id=org_id, provider=kind.value, request=request, purpose=purpose,
                           use_cache=use_cache)


# The limiter and breaker key of calls on platform-owned endpoints (the evaluator's): no org has id 0.
PLATFORM_ORG_ID = 0


async def acomplete_platform(
    *, endpoint: Endpoint, request: CompletionRequest, purpose: str = "evaluator", use_cache: bool | None = False
) -> CompletionResult:
    """One call on a platform-owned endpoint (an evaluator profile's own credential), never an org's.

    No org allowlist applies: platform staff chose this model when they created the profile. The
    same limiter, breaker, retries, pricing, metrics and log line as an org's call, keyed by
    `PLATFORM_ORG_ID`; the endpoint's `config` carries its limits (`max_concurrency`, `rpm`...).
    """
    context = CallContext(org_id=PLATFORM_ORG_ID, provider=endpoint.provider, rules=(), endpoint=endpoint)

    async def platform_context() -> CallContext:
        return context

    return await _observed(platform_context, org_id=PLATFORM_ORG_ID, provider=endpoint.provider.value,
                           request=request, purpose=purpose, use_cache=use_cache)


async def _observed(
    load: Callable[[], Awaitable[CallContext]], *, org_id: int, provider: str, request: CompletionRequest,
    purpose: str, use_cache: bool | None,
) -> CompletionResult:
    """The call in the context `load()` admits (its policy checked), through the response cache, with
    its metrics and log line."""
    started = time.perf_counter()
    status, error, result = "ok", None, None
    label: str | None = None  # the model's metrics label, once the policy admitted the call
    try:
        context = await load()
        label = _label(context, request.model)
        _check_endpoint(context)
        if cache_enabled(purpose=purpose, use_cache=use_cache, request=request):
            assert context.endpoint is not None
            key = cache_key(org_id=org_id, provider=provider, base_url=context.endpoint.base_url, request=request)
            result = await cached_call(key, lambda: _call(context, request))
            metrics.child(metrics.CACHE, provider, label, "hit" if result.cache_hit else "miss").inc()
        else:
            result = await _call(context, request)
        return result
    except ProviderError as exc:
        status, error = "error", exc
        raise
    except Exception:
        # Not the provider's doing (e.g. the database is down): counted apart, never as "ok".
        status = "internal_error"
        raise
    finally:
        _observe(org_id, provider, request, purpose, started, status, result, error, label)


async def _call(context: CallContext, request: CompletionRequest) -> CompletionResult:
    endpoint = context.endpoint
    assert endpoint is not None
    adapter = adapter_for(context.provider.value)
    timeout = call_timeout(request.timeout or endpoint.config.get("timeout"), DEFAULT_TIMEOUT_S)
    request = dataclasses.replace(request, timeout=timeout)
    prompt_chars = len(request.system or "") + sum(len(m.content) for m in request.messages)
    result, errors = await _resilient(
        context, model=request.model, policy=retry_policy(org_retry=context.retry, request=request),
        timeout=timeout, estimated=estimate_tokens(prompt_chars, request.max_tokens),
        attempt=lambda: _one_try(adapter, endpoint, request, timeout),
    )
    cost = call_cost(
        provider=context.provider.value, model=request.model, usage=result.usage, overrides=context.price_rules,
        unpriced=bool(request.extra.get("mock_unpriced")),
    )
    return dataclasses.replace(result, cost_usd=cost, retries=len(errors), errors=tuple(errors))


async def _resilient(
    context: CallContext, *, model: str, policy: RetryPolicy, timeout: float, estimated: int,
    attempt: Callable[[], Awaitable[Any]],
) -> tuple[Any, list[CallError]]:
    """Tries until success, a deterministic error, the retry cap or the deadline.

    Each try passes the breaker, then holds a limiter slot; its outcome feeds both. Returns the
    result and every error seen before it; raises the last error with that history.
    """
    endpoint = context.endpoint
    assert endpoint is not None
    limits = LimitConfig.from_endpoint_config(endpoint.config)
    breaker = BreakerConfig.from_endpoint_config(endpoint.config)
    deadline = time.monotonic() + policy.deadline_s
    errors: list[CallError] = []
    refusals = failures = 0  # the retry budgets: quota 429s and everything else
    org_id, provider = context.org_id, context.provider.value
    label = _label(context, model)
    breaker_ref = BreakerRef(org_id=org_id, provider=provider, model=model, config=breaker)
    while True:
        try:
            async with limited(
                org_id=org_id, provider=provider, config=limits,
                estimated_tokens=estimated, lease_s=timeout + LEASE_MARGIN_S, breaker=breaker_ref,
            ) as permit:
                try:
                    result = await attempt()
                except ProviderError as exc:
                    await permit.failed(
                        rate_limited=exc.type == ErrorType.RATE_LIMITED and exc.retryable, rate_limit=exc.rate_limit,
                    )
                    await breaker_record(org_id=org_id, provider=provider, model=model, config=breaker, error=exc.type)
                    raise
                await permit.succeeded(  # the breaker's success included
                    rate_limit=getattr(result, "rate_limit", None),
                    tokens_used=result.usage.input_tokens + result.usage.output_tokens,
                )
                return result, errors
        except ProviderError as exc:
            errors.append(exc.as_call_error())
            metrics.child(metrics.ERRORS, provider, label, str(exc.type)).inc()
            retries = len(errors) - 1
            quota_refusal = exc.type == ErrorType.RATE_LIMITED and exc.retry_after is not None
            refusals, failures = (refusals + 1, failures) if quota_refusal else (refusals, failures + 1)
            delay, exhausted = policy.next_retry(quota_refusal=quota_refusal, retry_after=exc.retry_after,
                                                 refusals=refusals, failures=failures)
            if not exc.retryable or exhausted or time.monotonic() + delay > deadline:
                raise exc.with_history(retries=retries, errors=tuple(errors)) from None
            metrics.child(metrics.RETRIES, provider, label).inc()
            await asyncio.sleep(delay)


async def _one_try(adapter: Any, endpoint: Any, request: CompletionRequest, timeout: float) -> CompletionResult:
    with span("provider.try", **{"llm.provider": endpoint.provider, "llm.model": request.model}):
        try:
            # The SDK's own timeout bounds each read; this bounds the whole try (a slow-drip stream).
            async with asyncio.timeout(timeout + 1.0):
                return await adapter.complete(endpoint, request)
        except TimeoutError:
            raise ProviderError(ErrorType.TIMEOUT, f"{endpoint.provider}: no complete answer within {timeout}s") from None


def _observe(
    org_id: int, provider: str, request: CompletionRequest, purpose: str, started: float,
    status: str, result: CompletionResult | None, error: ProviderError | None, label: str | None,
) -> None:
    """Metrics and the one log line of this call. Never the secret; the prompt only at DEBUG.

    `label` None (the policy refused the call, or it failed before): the log line only, no series."""
    elapsed = time.perf_counter() - started
    model = request.model
    if label is not None:
        metrics.child(metrics.CALLS, provider, label, status).inc()
        metrics.child(metrics.CALL_LATENCY, provider, label, status).observe(elapsed)
    fields: dict[str, Any] = {
        "event": "provider_call", "org_id": org_id, "provider": provider, "model": model, "purpose": purpose,
        "status": status, "latency_ms": round(elapsed * 1000, 1), "request_id": get_request_id() or "-",
    }
    if result is not None and label is not None:
        metrics.child(metrics.TOKENS, provider, label, "input").inc(result.usage.input_tokens)
        metrics.child(metrics.TOKENS, provider, label, "output").inc(result.usage.output_tokens)
        if result.cost_usd is not None:
            metrics.child(metrics.COST, provider, label).inc(float(result.cost_usd))
        elif not result.cache_hit:
            metrics.child(metrics.UNPRICED, provider, label).inc()
    if result is not None:
        fields.update(
            retries=result.retries, input_tokens=result.usage.input_tokens, output_tokens=result.usage.output_tokens,
            cost_usd=None if result.cost_usd is None else str(result.cost_usd), cost_unknown=result.cost_usd is None,
            cache_hit=result.cache_hit, ttft_ms=result.ttft_ms, provider_request_id=result.provider_request_id,
            error_type=None,
        )
    if error is not None:
        fields.update(error_type=str(error.type), retries=error.retries, error=error.message)
    logger.info("provider_call", extra=fields)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("provider_call prompt", extra={"messages": [m.content for m in request.messages]})


def complete(
    *,
    org_id: int,
    provider: str,
    request: CompletionRequest,
    purpose: str = "benchmark",
    use_cache: bool | None = None,
) -> CompletionResult:
    """Sync wrapper for views, commands and Celery tasks (not from inside a running event loop)."""
    return run_sync(
        lambda: acomplete(org_id=org_id, provider=provider, request=request, purpose=purpose, use_cache=use_cache)
    )


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run gateway coroutines (`make()`, any number of calls inside) from sync code, on the calling
    thread's DB connection, closing the connection pools of the short-lived loop afterwards."""

    async def run() -> T:
        try:
            return await make()
        finally:
            # async_to_sync runs each call on a fresh loop; its pools die with it, so close them cleanly.
            await close_loop_clients()
            await backend.close_loop_client()

    return async_to_sync(run)()


async def aembed(*, org_id: int, provider: str, model: str, inputs: list[str], timeout: float | None = None) -> EmbeddingResult:
    """Vectors for `inputs` through the same policy, credential, breaker, limits and retries."""
    kind = _kind(provider)
    context = await _load(org_id, kind.value)
    _check_policy(context, model)
    _check_endpoint(context)
    adapter = adapter_for(kind.value)
    if not hasattr(adapter, "embed"):
        raise ProviderError(ErrorType.BAD_REQUEST, f"{kind.value} offers no embeddings")
    endpoint = context.endpoint
    assert endpoint is not None
    timeout = call_timeout(timeout or endpoint.config.get("timeout"), DEFAULT_TIMEOUT_S)
    result, errors = await _resilient(
        context, model=model, policy=retry_policy(org_retry=context.retry, request=CompletionRequest(model=model, messages=())),
        timeout=timeout, estimated=estimate_tokens(sum(len(t) for t in inputs), 0),
        attempt=lambda: adapter.embed(endpoint, model, inputs, timeout),
    )
    cost = call_cost(provider=kind.value, model=model, usage=result.usage, overrides=context.price_rules)
    return dataclasses.replace(result, cost_usd=cost, retries=len(errors))


def embed(*, org_id: int, provider: str, model: str, inputs: list[str], timeout: float | None = None) -> EmbeddingResult:
    """Sync wrapper of `aembed`."""
    return run_sync(lambda: aembed(org_id=org_id, provider=provider, model=model, inputs=inputs, timeout=timeout))
