"""Circuit breaker per (org, provider, model): one provider's outage costs seconds, not the run.

Keyed by model too, so one failing model does not fail fast the healthy sibling arms of its provider
(a provider-wide outage trips each model's breaker after that model's own threshold).

closed --(N consecutive unavailable/timeout)--> open --(cooldown)--> half-open: exactly one probe
call goes out; its success closes the breaker, its failure re-opens it. While open (and while a
probe is in flight) calls fail at once with `unavailable` and make no HTTP request.
State lives in Redis when REDIS_URL is set (every worker sees one breaker), else in-process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from providers import backend, metrics
from providers.interface import ErrorType, ProviderError

DEFAULT_THRESHOLD = 5
DEFAULT_COOLDOWN_S = 30.0
PROBE_TTL_S = 120.0  # a probe that never reports back (worker killed) is replaced after this
# Only these mean "the provider is down"; a 400 or a 429 proves it is up.
FAILURES = frozenset({ErrorType.UNAVAILABLE, ErrorType.TIMEOUT})


@dataclass(frozen=True)
class BreakerConfig:
    threshold: int = DEFAULT_THRESHOLD
    cooldown_s: float = DEFAULT_COOLDOWN_S

    @classmethod
    def from_endpoint_config(cls, config: dict[str, Any]) -> BreakerConfig:
        return cls(
            threshold=max(1, int(config.get("breaker_threshold") or DEFAULT_THRESHOLD)),
            cooldown_s=max(0.0, float(config.get("breaker_cooldown_s") or DEFAULT_COOLDOWN_S)),
        )


_ADMIT = backend.Script("""
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local now = tonumber(ARGV[1])
if state == 'closed' then return 'closed' end
if state == 'open' then
  if now < tonumber(redis.call('HGET', KEYS[1], 'until') or '0') then return 'open' end
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until', now + tonumber(ARGV[2]))
  return 'probe'
end
if now > tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0') then
  redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[2]))
  return 'probe'
end
return 'open'
""")

_RECORD = backend.Script("""
local now, ok, threshold, cooldown = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if ok then
  -- written only on change: a healthy provider's successes cost no write
  local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
  if state ~= 'closed' or failures ~= 0 then redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0) end
  return 'closed'
end
if state == 'half_open' then
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + cooldown)
  return 'open'
end
if state == 'open' then return 'open' end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures >= threshold then
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + cooldown)
  return 'open'
end
return 'closed'
""")


class _LocalBreakers:
    """The same state machine as the Lua scripts above, for one process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.states: dict[str, dict[str, Any]] = {}

    def admit(self, name: str, now: float) -> str:
        with self.lock:
            s = self.states.setdefault(name, {"state": "closed", "failures": 0, "until": 0.0, "probe_until": 0.0})
            if s["state"] == "closed":
                return "closed"
            if s["state"] == "open":
                if now < s["until"]:
                    return "open"
                s.update(state="half_open", probe_until=now + PROBE_TTL_S)
                return "probe"
            if now > s["probe_until"]:
                s["probe_until"] = now + PROBE_TTL_S
                return "probe"
            return "open"

    def record(self, name: str, now: float, ok: bool, config: BreakerConfig) -> str:
        with self.lock:
            s = self.states.setdefault(name, {"state": "closed", "failures": 0, "until": 0.0, "probe_until": 0.0})
            if ok:
                s.update(state="closed", failures=0)
            elif s["state"] == "half_open":
                s.update(state="open", until=now + config.cooldown_s)
            elif s["state"] == "closed":
                s["failures"] += 1
                if s["failures"] >= config.threshold:
                    s.update(state="open", until=now + config.cooldown_s)
            return s["state"]


_local = _LocalBreakers()


def _name(org_id: int, provider: str, model: str) -> str:
    return backend.key("breaker", org_id, provider, model)


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class BreakerRef:
    """One breaker: what the limiter needs to check and record it in the same Redis round trips."""

    org_id: int
    provider: str
    model: str
    config: BreakerConfig

    @property
    def name(self) -> str:
        return _name(self.org_id, self.provider, self.model)


async def breaker_admit(*, org_id: int, provider: str, model: str) -> bool:
    """Raise `unavailable` at once while open; True when this call is the half-open probe."""
    name, now = _name(org_id, provider, model), time.time()
    client = backend.redis_client()
    if client is None:
        outcome = _local.admit(name, now)
    else:
        outcome = await _ADMIT(client, 1, name, now, PROBE_TTL_S)
    return admit_outcome(provider, outcome)


def admit_outcome(provider: str, outcome: Any) -> bool:
    """What an admit check answered (here or inside the limiter's acquire script): raise while open."""
    outcome = _decode(outcome)
    if outcome == "open":
        metrics.child(metrics.BREAKER_STATE, provider).set(metrics.BREAKER_VALUES["open"])
        raise ProviderError(
            ErrorType.UNAVAILABLE, f"{provider}: circuit breaker open after repeated failures; failing fast",
            retryable=False,
        )
    if outcome == "probe":
        metrics.child(metrics.BREAKER_STATE, provider).set(metrics.BREAKER_VALUES["half_open"])
    return outcome == "probe"


async def breaker_record(
    *, org_id: int, provider: str, model: str, config: BreakerConfig, error: ErrorType | None
) -> None:
    ok = error not in FAILURES
    name, now = _name(org_id, provider, model), time.time()
    client = backend.redis_client()
    if client is None:
        state = _local.record(name, now, ok, config)
    else:
        state = _decode(await _RECORD(client, 1, name, now, "1" if ok else "0", config.threshold, config.cooldown_s))
    metrics.child(metrics.BREAKER_STATE, provider).set(metrics.BREAKER_VALUES.get(state, 0))


async def breaker_reset(*, org_id: int, provider: str, model: str) -> None:
    """Forget a breaker's state (admin action, and tests)."""
    name = _name(org_id, provider, model)
    client = backend.redis_client()
    if client is None:
        with _local.lock:
            _local.states.pop(name, None)
    else:
        await client.delete(name)
