"""Per (org, provider) limits shared by every Celery worker: concurrency, requests/min, tokens/min.

- Concurrency: a Redis sorted set of leases (member = call token, score = lease expiry), so a slot
  held by a killed worker frees itself when its lease runs out.
- Requests and tokens per minute: token buckets (capacity = the per-minute limit, refilled
  continuously); a call beyond the budget *waits* for it instead of failing.
- Adaptive: a 429 halves the effective concurrency (once per burst: 429s to calls sent before the
  last decrease do not halve it again, so one burst cannot collapse the cap to 1) and pauses every
  worker of that org+provider until the provider's Retry-After; `x-ratelimit-remaining-requests` (or `-tokens`) at 0 pauses until its reset
  *before* a 429 is earned. The cap then grows back by one slot per 5 clean calls (additive, not
  ×1.5, so it does not overshoot straight into the next 429) up to the configured maximum.
Without REDIS_URL the same algorithms run in-process (`_LocalStore`).
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from providers import backend, metrics
from providers.breaker import PROBE_TTL_S, BreakerRef, admit_outcome, breaker_admit, breaker_record

GROW_AFTER_SUCCESSES = 5
ADAPTIVE_TTL_S = 600  # an adapted cap is forgotten after 10 minutes without another 429
POLL_S = 0.02


@dataclass(frozen=True)
class LimitConfig:
    max_concurrency: int = 0  # 0: no cap until a 429 teaches one
    rpm: int = 0
    tpm: int = 0

    @classmethod
    def from_endpoint_config(cls, config: dict[str, Any]) -> LimitConfig:
        def positive(name: str) -> int:
            try:
                return max(0, int(config.get(name) or 0))
            except (TypeError, ValueError):
                return 0

        return cls(max_concurrency=positive("max_concurrency"), rpm=positive("rpm"), tpm=positive("tpm"))


_ACQUIRE = backend.Script("""
local slots, cap_key, cooldown_key = KEYS[1], KEYS[2], KEYS[3]
local now, lease_until, token, max = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
local cooldown = tonumber(redis.call('GET', cooldown_key) or '0')
if now < cooldown then return tostring(cooldown - now) end
local cap = tonumber(redis.call('GET', cap_key) or max)
if cap == 0 or redis.call('ZCARD', slots) < math.floor(cap) then
  redis.call('ZADD', slots, lease_until, token)
  redis.call('EXPIRE', slots, 3600)
  return '0'
end
return '-1'
""")

_BUCKET = backend.Script("""
local key, capacity, rate, amount, now, force = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens, ts = tonumber(state[1] or capacity), tonumber(state[2] or now)
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local wait = 0
if force or tokens >= amount then tokens = tokens - amount else wait = (amount - tokens) / rate end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', key, 3600)
return tostring(wait)
""")

_ON_429 = backend.Script("""
local slots, cap_key, cooldown_key, ok_key, decreased_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, pause, max, ttl, started = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local cap = tonumber(redis.call('GET', cap_key) or '0')
if cap == 0 then cap = (max > 0) and max or math.max(1, redis.call('ZCARD', slots)) end
local new_cap = cap
if started >= tonumber(redis.call('GET', decreased_key) or '0') then
  new_cap = math.max(1, math.floor(cap / 2))
  redis.call('SET', cap_key, new_cap, 'EX', ttl)
  redis.call('SET', decreased_key, now, 'EX', ttl)
end
local pause_end = now + pause
if pause_end > tonumber(redis.call('GET', cooldown_key) or '0') then redis.call('SET', cooldown_key, pause_end, 'EX', math.ceil(pause) + 1) end
redis.call('SET', ok_key, 0, 'EX', ttl)
return new_cap
""")

_ON_OK = backend.Script("""
local cap_key, cooldown_key, ok_key = KEYS[1], KEYS[2], KEYS[3]
local now, max, grow_after, pause = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if pause > 0 then
  local pause_end = now + pause
  if pause_end > tonumber(redis.call('GET', cooldown_key) or '0') then redis.call('SET', cooldown_key, pause_end, 'EX', math.ceil(pause) + 1) end
end
local cap = redis.call('GET', cap_key)
if not cap then return 0 end
if redis.call('INCR', ok_key) < grow_after then return tonumber(cap) end
redis.call('SET', ok_key, 0, 'KEEPTTL')
local new_cap = tonumber(cap) + 1
if max > 0 and new_cap >= max then redis.call('DEL', cap_key) return max end
redis.call('SET', cap_key, new_cap, 'KEEPTTL')
return new_cap
""")

# The gateway's two round trips per try. At the start: the breaker's admit check (the same state
# machine as `breaker._ADMIT`) and `_ACQUIRE`, in one script. At the end of a successful try:
# `_ON_OK`, the breaker's success (written only when it changes something) and the slot's release.
_GATE_ACQUIRE = backend.Script("""
local slots, cap_key, cooldown_key, breaker = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, lease_until, token, max, probe_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local admitted = 'closed'
local state = redis.call('HGET', breaker, 'state') or 'closed'
if state == 'open' then
  if now < tonumber(redis.call('HGET', breaker, 'until') or '0') then return {'open', '0'} end
  redis.call('HSET', breaker, 'state', 'half_open', 'probe_until', now + probe_ttl)
  admitted = 'probe'
elseif state == 'half_open' then
  if now > tonumber(redis.call('HGET', breaker, 'probe_until') or '0') then
    redis.call('HSET', breaker, 'probe_until', now + probe_ttl)
    admitted = 'probe'
  else
    return {'open', '0'}
  end
end
redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
local cooldown = tonumber(redis.call('GET', cooldown_key) or '0')
if now < cooldown then return {admitted, tostring(cooldown - now)} end
local cap = tonumber(redis.call('GET', cap_key) or max)
if cap == 0 or redis.call('ZCARD', slots) < math.floor(cap) then
  redis.call('ZADD', slots, lease_until, token)
  redis.call('EXPIRE', slots, 3600)
  return {admitted, '0'}
end
return {admitted, '-1'}
""")

_FINISH_OK = backend.Script("""
local slots, cap_key, cooldown_key, ok_key, breaker = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local token, now, max, grow_after, pause = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if pause > 0 then
  local pause_end = now + pause
  if pause_end > tonumber(redis.call('GET', cooldown_key) or '0') then redis.call('SET', cooldown_key, pause_end, 'EX', math.ceil(pause) + 1) end
end
local cap = redis.call('GET', cap_key)
if cap and redis.call('INCR', ok_key) >= grow_after then
  redis.call('SET', ok_key, 0, 'KEEPTTL')
  local new_cap = tonumber(cap) + 1
  if max > 0 and new_cap >= max then redis.call('DEL', cap_key) else redis.call('SET', cap_key, new_cap, 'KEEPTTL') end
end
if ARGV[6] == '1' then
  local b = redis.call('HMGET', breaker, 'state', 'failures')
  if (b[1] and b[1] ~= 'closed') or tonumber(b[2] or '0') ~= 0 then
    redis.call('HSET', breaker, 'state', 'closed', 'failures', 0)
  end
end
redis.call('ZREM', slots, token)
return 1
""")


class _LocalStore:
    """The same algorithms as the Lua scripts, for one process (threads and event loops alike)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.slots: dict[str, dict[str, float]] = {}
        self.values: dict[str, float] = {}
        self.buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, names: tuple[str, str, str], now: float, lease_until: float, token: str, maximum: int) -> float:
        slots_name, cap_name, cooldown_name = names
        with self.lock:
            slots = self.slots.setdefault(slots_name, {})
            for held, expiry in list(slots.items()):
                if expiry <= now:
                    del slots[held]
            cooldown = self.values.get(cooldown_name, 0.0)
            if now < cooldown:
                return cooldown - now
            cap = self.values.get(cap_name, float(maximum))
            if cap == 0 or len(slots) < math.floor(cap):
                slots[token] = lease_until
                return 0.0
            return -1.0

    def release(self, slots_name: str, token: str) -> None:
        with self.lock:
            self.slots.get(slots_name, {}).pop(token, None)

    def bucket(self, name: str, capacity: float, rate: float, amount: float, now: float, force: bool) -> float:
        with self.lock:
            tokens, ts = self.buckets.get(name, (capacity, now))
            tokens = min(capacity, tokens + max(0.0, now - ts) * rate)
            wait = 0.0
            if force or tokens >= amount:
                tokens -= amount
            else:
                wait = (amount - tokens) / rate
            self.buckets[name] = (tokens, now)
            return wait

    def on_429(
        self, names: tuple[str, str, str, str, str], now: float, pause: float, maximum: int, started: float
    ) -> float:
        slots_name, cap_name, cooldown_name, ok_name, decreased_name = names
        with self.lock:
            cap = self.values.get(cap_name) or (maximum or max(1, len(self.slots.get(slots_name, {}))))
            new_cap = cap
            if started >= self.values.get(decreased_name, 0.0):
                new_cap = max(1, math.floor(cap / 2))
                self.values[cap_name] = new_cap
                self.values[decreased_name] = now
            self.values[cooldown_name] = max(self.values.get(cooldown_name, 0.0), now + pause)
            self.values[ok_name] = 0
            return new_cap

    def on_ok(self, names: tuple[str, str, str], now: float, maximum: int, pause: float) -> float:
        cap_name, cooldown_name, ok_name = names
        with self.lock:
            if pause > 0:
                self.values[cooldown_name] = max(self.values.get(cooldown_name, 0.0), now + pause)
            if cap_name not in self.values:
                return 0
            self.values[ok_name] = self.values.get(ok_name, 0) + 1
            if self.values[ok_name] < GROW_AFTER_SUCCESSES:
                return self.values[cap_name]
            self.values[ok_name] = 0
            new_cap = self.values[cap_name] + 1
            if maximum and new_cap >= maximum:
                del self.values[cap_name]
                return maximum
            self.values[cap_name] = new_cap
            return new_cap


_local = _LocalStore()


_NAME_PARTS = ("slots", "cap", "cooldown", "ok", "decreased", "rpm", "tpm")
_names_cache: dict[tuple[str, int, str], dict[str, str]] = {}


def _names(org_id: int, provider: str) -> dict[str, str]:
    """This (org, provider)'s Redis keys, built once per key prefix (read-only: never mutate)."""
    cache_key = (backend.key(), org_id, provider)
    names = _names_cache.get(cache_key)
    if names is None:
        names = _names_cache[cache_key] = {part: backend.key("limit", org_id, provider, part) for part in _NAME_PARTS}
    return names


def estimate_tokens(prompt_chars: int, max_tokens: int | None) -> int:
    """What a call may cost against TPM before it is made (corrected afterwards from usage)."""
    return math.ceil(prompt_chars / 4) + (max_tokens or 256)


async def _take(name: str, per_minute: int, amount: float) -> None:
    """Wait until the bucket holds `amount` and take it. Never fails: waiting is the point."""
    capacity = float(per_minute)
    rate = capacity / 60.0
    amount = min(float(amount), capacity)  # a request larger than the whole budget still goes, alone
    client = backend.redis_client()
    while True:
        now = time.time()
        if client is None:
            wait = _local.bucket(name, capacity, rate, amount, now, False)
        else:
            wait = float(await _BUCKET(client, 1, name, capacity, rate, amount, now, "0"))
        if wait <= 0:
            return
        # Re-check at least every second: refunds of over-estimated calls may free budget sooner.
        await asyncio.sleep(min(wait, 1.0) + random.uniform(0, 0.02))


async def _charge(name: str, per_minute: int, amount: float) -> None:
    """Correct a bucket after the fact (actual tokens minus the estimate); may go into debt."""
    capacity = float(per_minute)
    client = backend.redis_client()
    now = time.time()
    if client is None:
        _local.bucket(name, capacity, capacity / 60.0, amount, now, True)
    else:
        await _BUCKET(client, 1, name, capacity, capacity / 60.0, amount, now, "1")


@dataclass
class Permit:
    """Held for one try; `report` feeds the outcome back into the adaptive limits."""

    org_id: int
    provider: str
    config: LimitConfig
    estimated_tokens: int
    acquired_at: float  # a 429 to a call sent before the last decrease does not decrease again
    breaker: BreakerRef | None = None
    finish_pause: float | None = None  # set by `succeeded` with Redis: the release reports the success

    async def succeeded(self, *, rate_limit: dict[str, float] | None = None, tokens_used: int | None = None) -> None:
        """`report(ok=True)` and the breaker's success. With Redis both ride on the slot's release
        (one script, one round trip) instead of two round trips of their own."""
        if backend.redis_client() is None:
            await self.report(ok=True, rate_limit=rate_limit, tokens_used=tokens_used)
            if self.breaker is not None:
                b = self.breaker
                await breaker_record(org_id=b.org_id, provider=b.provider, model=b.model, config=b.config, error=None)
            return
        if self.config.tpm and tokens_used is not None:
            await _charge(_names(self.org_id, self.provider)["tpm"], self.config.tpm, tokens_used - self.estimated_tokens)
        self.finish_pause = _budget_pause(rate_limit)

    async def report(
        self, *, ok: bool, rate_limited: bool = False, retry_after: float | None = None,
        rate_limit: dict[str, float] | None = None, tokens_used: int | None = None,
    ) -> None:
        names = _names(self.org_id, self.provider)
        client = backend.redis_client()
        now = time.time()
        if self.config.tpm and tokens_used is not None:
            await _charge(names["tpm"], self.config.tpm, tokens_used - self.estimated_tokens)
        if rate_limited:
            pause = retry_after if retry_after is not None else 1.0
            keys = (names["slots"], names["cap"], names["cooldown"], names["ok"], names["decreased"])
            if client is None:
                _local.on_429(keys, now, pause, self.config.max_concurrency, self.acquired_at)
            else:
                await _ON_429(
                    client, 5, *keys, now, pause, self.config.max_concurrency, ADAPTIVE_TTL_S, self.acquired_at
                )
            return
        if not ok:
            return
        pause = _budget_pause(rate_limit)
        keys3 = (names["cap"], names["cooldown"], names["ok"])
        if client is None:
            _local.on_ok(keys3, now, self.config.max_concurrency, pause)
        else:
            await _ON_OK(client, 3, *keys3, now, self.config.max_concurrency, GROW_AFTER_SUCCESSES, pause)


def _budget_pause(rate_limit: dict[str, float] | None) -> float:
    """The provider's own budget is spent: wait for its reset instead of earning a 429."""
    pause = 0.0
    if rate_limit and rate_limit.get("remaining_requests") == 0:
        pause = rate_limit.get("reset_requests_s") or 1.0
    if rate_limit and rate_limit.get("remaining_tokens") == 0:
        pause = max(pause, rate_limit.get("reset_tokens_s") or 1.0)
    return pause


@asynccontextmanager
async def limited(
    *, org_id: int, provider: str, config: LimitConfig, estimated_tokens: int, lease_s: float,
    breaker: BreakerRef | None = None,
) -> AsyncIterator[Permit]:
    """Wait for rate budget and a concurrency slot, hold the slot for the try, then release it.

    With `breaker`, its admit check comes first (raising `unavailable` while open); with Redis and
    no per-minute budget to wait for, it runs inside the slot's acquire script (one round trip).
    """
    names = _names(org_id, provider)
    started = time.monotonic()
    client = backend.redis_client()
    fused = breaker is not None and client is not None and not (config.rpm or config.tpm)
    if breaker is not None and not fused:
        await breaker_admit(org_id=org_id, provider=provider, model=breaker.model)
    if config.rpm:
        await _take(names["rpm"], config.rpm, 1)
    if config.tpm:
        await _take(names["tpm"], config.tpm, estimated_tokens)
    token = uuid.uuid4().hex
    slot_keys = (names["slots"], names["cap"], names["cooldown"])
    while True:
        now = time.time()
        if client is None:
            wait = _local.acquire(slot_keys, now, now + lease_s, token, config.max_concurrency)
        elif fused:
            assert breaker is not None
            outcome, raw_wait = await _GATE_ACQUIRE(
                client, 4, *slot_keys, breaker.name, now, now + lease_s, token, config.max_concurrency, PROBE_TTL_S
            )
            admit_outcome(provider, outcome)  # raises while open (no slot was taken)
            fused = False  # admitted once: later tries of this loop only wait for a slot
            wait = float(raw_wait)
        else:
            wait = float(await _ACQUIRE(client, 3, *slot_keys, now, now + lease_s, token, config.max_concurrency))
        if wait == 0:
            break
        await asyncio.sleep((min(wait, 5.0) if wait > 0 else POLL_S) + random.uniform(0, POLL_S))
    metrics.child(metrics.LIMITER_WAIT, provider).observe(time.monotonic() - started)
    permit = Permit(
        org_id=org_id, provider=provider, config=config, estimated_tokens=estimated_tokens, acquired_at=time.time(),
        breaker=breaker,
    )
    try:
        yield permit
    finally:
        if client is None:
            _local.release(names["slots"], token)
        elif permit.finish_pause is not None:
            # One script: `_ON_OK`, the breaker's success, the slot's release. Shielded so a
            # cancelled call still gives its slot back.
            await asyncio.shield(_FINISH_OK(
                client, 5, names["slots"], names["cap"], names["cooldown"], names["ok"],
                breaker.name if breaker is not None else names["slots"],
                token, time.time(), config.max_concurrency, GROW_AFTER_SUCCESSES, permit.finish_pause,
                "1" if breaker is not None else "0",
            ))
            if breaker is not None:
                metrics.child(metrics.BREAKER_STATE, provider).set(metrics.BREAKER_VALUES["closed"])
        else:
            await asyncio.shield(client.zrem(names["slots"], token))


async def limits_state(*, org_id: int, provider: str) -> dict[str, float | None]:
    """What the limiter holds right now: adapted cap (None: the configured one), pause left, calls in flight."""
    names = _names(org_id, provider)
    now = time.time()
    client = backend.redis_client()
    if client is None:
        with _local.lock:
            cap = _local.values.get(names["cap"])
            cooldown = _local.values.get(names["cooldown"], 0.0)
            in_flight = sum(1 for expiry in _local.slots.get(names["slots"], {}).values() if expiry > now)
    else:
        raw_cap, raw_cooldown = await client.mget(names["cap"], names["cooldown"])
        cap = float(raw_cap) if raw_cap is not None else None
        cooldown = float(raw_cooldown or 0)
        in_flight = await client.zcount(names["slots"], now, "+inf")
    return {"cap": cap, "pause_s": max(0.0, cooldown - now), "in_flight": in_flight}
