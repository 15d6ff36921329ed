"""Prometheus metrics for every gateway call, by provider and model (served at /metrics)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

CALL_LATENCY = Histogram(
    "benchhub_provider_call_seconds", "Latency of gateway calls (all tries, excluding limiter waits)",
    ["provider", "model", "status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
CALLS = Counter("benchhub_provider_calls_total", "Gateway calls by outcome", ["provider", "model", "status"])
ERRORS = Counter("benchhub_provider_errors_total", "Errors seen (every try), by type", ["provider", "model", "type"])
RETRIES = Counter("benchhub_provider_retries_total", "Retries made by the gateway", ["provider", "model"])
TOKENS = Counter("benchhub_provider_tokens_total", "Tokens used", ["provider", "model", "direction"])
COST = Counter("benchhub_provider_cost_usd_total", "Cost in USD of priced calls", ["provider", "model"])
UNPRICED = Counter("benchhub_provider_unpriced_calls_total", "Successful calls with no known price", ["provider", "model"])
CACHE = Counter("benchhub_provider_cache_total", "Response cache lookups", ["provider", "model", "result"])
BREAKER_STATE = Gauge(
    "benchhub_provider_breaker_state", "Circuit breaker state seen by this process (0 closed, 1 half-open, 2 open)",
    ["provider"],
)
LIMITER_WAIT = Histogram(
    "benchhub_provider_limiter_wait_seconds", "Time spent waiting for a concurrency slot or rate budget",
    ["provider"], buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60),
)

BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}

_children: dict[tuple[Any, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, looked up once per label set (the gateway observes ~8 a call)."""
    key = (metric, labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


# A caller names any model it likes (and a denied one too): labelling series with it would grow
# them without bound. Models the price catalogue knows, or an org's override names exactly, keep
# their name; every other one is counted as `other`.
OTHER_MODEL = "other"


def model_label(*, provider: str, model: str, price_globs: Iterable[str] = ()) -> str:
    if model in set(price_globs) or _catalogued(provider, model):
        return model
    return OTHER_MODEL


@lru_cache(maxsize=4096)
def _catalogued(provider: str, model: str) -> bool:
    from providers.interface import Usage
    from providers.pricing import call_cost

    if provider in ("mock", "local"):
        return False
    try:
        return call_cost(provider=provider, model=model, usage=Usage()) is not None
    except ValueError:
        return False
