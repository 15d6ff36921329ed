"""Per (org, provider) limits shared by every Celery worker: concurrency, requests/min, tokens/min.

- Concurrency: a Redis sorted set of leases (member = call token, score = lease expiry), so a slot
  held by a killed worker frees itself when its lease runs out.
- Requests and tokens per minute: token buckets (capacity = the per-minute limit, refilled
  continuously); a call beyond the budget *waits* for it instead of failing.
- Adaptive: the cap follows the share of 429s in windows of outcomes (`_LocalStore.adapt`). A
  provider at its quota refuses a large share: the cap becomes the concurrency it served (Little's
  law), at once, not by halvings. Transient 429s (a small share, recovering at once) only delay their own call, by its
  Retry-After, and never cut the cap nor pause other calls, which used to throttle a healthy
  provider for minutes. The cap grows back by a quarter per clean window (an eighth when a few
  429s were heard) and is dropped at the configured maximum. `x-ratelimit-remaining-requests` (or
  `-tokens`) at 0, on a success or a 429, pauses every caller until its reset.
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

ADAPTIVE_TTL_S = 600  # an adapted cap is forgotten after 10 minutes without another decision
POLL_S = 0.02
# The adaptive cap decides once per window of outcomes: at least MIN_OUTCOMES of them, over at
# least two success latencies (so the successes of a burst are heard, not only its instant
# refusals), or MAX_BLIND_S when nothing succeeds.
MIN_OUTCOMES = 30
MIN_WINDOW_S = 0.25
MAX_BLIND_S = 5.0
# Refused share of a window above which the provider is at a quota: the cap becomes what it served.
# Below GROW_SHARE (transient 429s, a quota barely touched) the cap grows; in between it holds.
CUT_SHARE = 0.25
GROW_SHARE = 0.1
# ...and only when the share's 95% Wilson lower bound clears CUT_EVIDENCE: a window of transient
# 429s that is merely unlucky (6 of 20 at a 10% rate) must not cut a healthy provider's cap.
CUT_EVIDENCE = 0.15
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

# One outcome (a success or a 429) of a call acquired at `acquired`, into the window of the adaptive
# cap; at the window's end the decision (see `_LocalStore.adapt`, the same algorithm in Python).
# Returns the cap after it (0: none).
_ADAPT_LUA = """
local function adapt(slots, cap_key, win_key, now, max, ttl, acquired, refused)
  local w = redis.call('HMGET', win_key, 'cut', 'first', 'ok', 'refused', 'peak', 'lat', 'fok', 'lok', 'good')
  local cap = tonumber(redis.call('GET', cap_key) or '0')
  local cut = tonumber(w[1] or '0')
  if refused and acquired < cut then return cap end
  local first, ok, ref = tonumber(w[2] or '0'), tonumber(w[3] or '0'), tonumber(w[4] or '0')
  local peak = math.max(tonumber(w[5] or '0'), redis.call('ZCARD', slots))
  local lat, fok, lok, good = tonumber(w[6] or '0'), tonumber(w[7] or '0'), tonumber(w[8] or '0'), tonumber(w[9] or '0')
  if refused then
    ref = ref + 1
  else
    ok = ok + 1
    if fok == 0 then fok = now end
    lok = now
    local took = now - acquired
    if lat == 0 then lat = took else lat = lat * 0.8 + took * 0.2 end
  end
  if first == 0 then first = now end
  local span = now - first
  if ok + ref >= """ + str(MIN_OUTCOMES) + """ and span >= math.max(""" + str(MIN_WINDOW_S) + """, 2 * lat)
     and (ok > 0 or span >= """ + str(MAX_BLIND_S) + """) then
    local n = ok + ref
    local share = ref / n
    local low = (share + 1.9208 / n - 1.96 * math.sqrt(share * (1 - share) / n + 0.9604 / (n * n))) / (1 + 3.8416 / n)
    if share > """ + str(CUT_SHARE) + """ and low > """ + str(CUT_EVIDENCE) + """ then
      local served = 1
      if ok > 1 and lok > fok then served = math.floor((ok - 1) / (lok - fok) * lat + 0.5) end
      cap = math.max(1, math.min(peak, math.max(served, good)))
      good = 0
      redis.call('SET', cap_key, cap, 'EX', ttl)
      cut = now
    elseif share < """ + str(GROW_SHARE) + """ and cap > 0 and peak >= cap then
      good = math.max(good, peak)
      local step = math.floor(cap / 8)
      if ref == 0 then step = math.ceil(cap / 4) end
      cap = cap + math.max(1, step)
      if max > 0 and cap >= max then
        redis.call('DEL', cap_key)
        cap = 0
      else
        redis.call('SET', cap_key, cap, 'EX', ttl)
      end
    end
    redis.call('HSET', win_key, 'cut', cut, 'first', 0, 'ok', 0, 'refused', 0, 'peak', 0, 'lat', lat, 'fok', 0, 'lok', 0, 'good', good)
  else
    redis.call('HSET', win_key, 'first', first, 'ok', ok, 'refused', ref, 'peak', peak, 'lat', lat, 'fok', fok, 'lok', lok, 'good', good)
  end
  redis.call('EXPIRE', win_key, ttl)
  return cap
end
"""

_PAUSE_LUA = """
local function pause_until(cooldown_key, now, pause)
  if pause > 0 and now + pause > tonumber(redis.call('GET', cooldown_key) or '0') then
    redis.call('SET', cooldown_key, now + pause, 'EX', math.ceil(pause) + 1)
  end
end
"""

_ON_429 = backend.Script(_ADAPT_LUA + _PAUSE_LUA + """
local slots, cap_key, win_key, cooldown_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, max, ttl, acquired = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local budget_pause = tonumber(ARGV[5])
pause_until(cooldown_key, now, budget_pause)
return adapt(slots, cap_key, win_key, now, max, ttl, acquired, true)
""")

# The gateway's two round trips per try. At the start: the breaker's admit check (the same state
# machine as `breaker._ADMIT`) and `_ACQUIRE`, in one script. At the end of a successful try:
# the success into the adaptive cap, the breaker's success (written only when it changes
# something) and the slot's release.
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

_FINISH_OK = backend.Script(_ADAPT_LUA + _PAUSE_LUA + """
local slots, cap_key, win_key, cooldown_key, breaker = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local token, now, max, ttl, acquired, pause = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
pause_until(cooldown_key, now, pause)
adapt(slots, cap_key, win_key, now, max, ttl, acquired, false)
if ARGV[7] == '1' then
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
        self.windows: dict[str, _Window] = {}

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

    def pause(self, cooldown_name: str, now: float, pause: float) -> None:
        with self.lock:
            if pause > 0:
                self.values[cooldown_name] = max(self.values.get(cooldown_name, 0.0), now + pause)

    def adapt(
        self, names: tuple[str, str, str, str], now: float, maximum: int, acquired: float, *,
        refused: bool,
    ) -> float:
        """One outcome into the adaptive cap's window; at the window's end, the decision:

        - refused share above CUT_SHARE (and surely above CUT_EVIDENCE, by the share's Wilson lower
          bound): the provider is at a quota; the cap becomes the concurrency it served, by Little's
          law (successes per second x their latency: for a requests-per-minute quota too). Not the
          refused share of what was tried: refusals come back at once, so a few slots over the
          quota earn most of a window. Nor below the most in flight in a clean window since the
          last cut (a measurement in a drained window undershoots; a quota that really fell is
          found at the next cut, which forgets it). Nobody else is paused: each refused call waits out its own
          Retry-After, and pausing everyone drained the provider's slots at every cut;
        - below GROW_SHARE (transient 429s, or a quota barely touched) and with the cap reached
          (no evidence otherwise): the cap grows, by a quarter after a clean window and an eighth
          otherwise, and is dropped once it reaches the configured maximum;
        - in between it holds. Refusals of calls sent before a cut were earned by the old cap:
          they do not count (successes always do: the provider served them).
        Returns the cap after it (0: none)."""
        slots_name, cap_name, win_name, _cooldown = names
        with self.lock:
            cap = self.values.get(cap_name, 0.0)
            w = self.windows.setdefault(win_name, _Window())
            if refused and acquired < w.cut:
                return cap
            w.peak = max(w.peak, len(self.slots.get(slots_name, {})))
            if refused:
                w.refused += 1
            else:
                w.ok += 1
                w.first_ok = w.first_ok or now
                w.last_ok = now
                w.latency = (now - acquired) if w.latency == 0 else w.latency * 0.8 + (now - acquired) * 0.2
            w.first = w.first or now
            span = now - w.first
            if not (w.ok + w.refused >= MIN_OUTCOMES and span >= max(MIN_WINDOW_S, 2 * w.latency)
                    and (w.ok > 0 or span >= MAX_BLIND_S)):
                return cap
            share = w.refused / (w.ok + w.refused)
            if share > CUT_SHARE and _wilson_low(w.refused, w.ok + w.refused) > CUT_EVIDENCE:
                served = 1
                if w.ok > 1 and w.last_ok > w.first_ok:  # successes per second x their latency
                    served = math.floor((w.ok - 1) / (w.last_ok - w.first_ok) * w.latency + 0.5)
                cap = self.values[cap_name] = max(1, min(w.peak, max(served, w.good)))
                w.cut, w.good = now, 0
            elif share < GROW_SHARE and cap and w.peak >= cap:
                w.good = max(w.good, w.peak)
                cap += max(1, math.ceil(cap / 4) if w.refused == 0 else math.floor(cap / 8))
                if maximum and cap >= maximum:
                    self.values.pop(cap_name, None)
                    cap = 0
                else:
                    self.values[cap_name] = cap
            self.windows[win_name] = _Window(cut=w.cut, latency=w.latency, good=w.good)
            return cap


def _wilson_low(successes: int, n: int, z: float = 1.96) -> float:
    p = successes / n
    return (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)


@dataclass
class _Window:
    """The adaptive cap's current window of outcomes (one per org and provider)."""

    cut: float = 0.0  # the last cut: refusals of calls sent before it were earned by the old cap
    first: float = 0.0  # the first outcome counted
    first_ok: float = 0.0  # the first and last successes counted: the served rate between them
    last_ok: float = 0.0
    ok: int = 0
    refused: int = 0
    peak: int = 0  # most calls in flight at an outcome
    latency: float = 0.0  # moving average of a success's seconds, carried across windows
    good: int = 0  # the most in flight in a clean window since the last cut: a cut goes no lower


_local = _LocalStore()


_NAME_PARTS = ("slots", "cap", "cooldown", "window", "rpm", "tpm")
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
    """Held for one try; `succeeded` / `failed` feed its outcome back into the adaptive limits."""

    org_id: int
    provider: str
    config: LimitConfig
    estimated_tokens: int
    acquired_at: float  # an outcome of a call sent before the cap's last decision belongs to the old cap
    breaker: BreakerRef | None = None
    finish_pause: float | None = None  # set by `succeeded` with Redis: the release reports the success

    async def succeeded(self, *, rate_limit: dict[str, float] | None = None, tokens_used: int | None = None) -> None:
        """The success into the adaptive cap and the breaker. With Redis both ride on the slot's
        release (one script, one round trip) instead of round trips of their own."""
        names = _names(self.org_id, self.provider)
        if self.config.tpm and tokens_used is not None:
            await _charge(names["tpm"], self.config.tpm, tokens_used - self.estimated_tokens)
        pause = _budget_pause(rate_limit)
        if backend.redis_client() is not None:
            self.finish_pause = pause
            return
        now = time.time()
        _local.pause(names["cooldown"], now, pause)
        _local.adapt(_adapt_keys(names), now, self.config.max_concurrency, self.acquired_at, refused=False)
        if self.breaker is not None:
            b = self.breaker
            await breaker_record(org_id=b.org_id, provider=b.provider, model=b.model, config=b.config, error=None)

    async def failed(self, *, rate_limited: bool, rate_limit: dict[str, float] | None = None) -> None:
        """A failed try gives back its token estimate. A 429 alone only delays its own call (the
        gateway's retry waits its Retry-After): the cap moves when a window's share of them says
        "quota" (`_LocalStore.adapt`), and every caller pauses at once only when the provider's
        headers say its budget is spent."""
        names = _names(self.org_id, self.provider)
        if self.config.tpm:
            await _charge(names["tpm"], self.config.tpm, -self.estimated_tokens)
        if not rate_limited:
            return
        client = backend.redis_client()
        now = time.time()
        pause = _budget_pause(rate_limit)
        if client is None:
            _local.pause(names["cooldown"], now, pause)
            _local.adapt(_adapt_keys(names), now, self.config.max_concurrency, self.acquired_at, refused=True)
        else:
            await _ON_429(client, 4, *_adapt_keys(names), now, self.config.max_concurrency, ADAPTIVE_TTL_S,
                          self.acquired_at, pause)


def _adapt_keys(names: dict[str, str]) -> tuple[str, str, str, str]:
    return names["slots"], names["cap"], names["window"], names["cooldown"]


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
            # One script: the adaptive cap, the breaker's success, the slot's release. Shielded so a
            # cancelled call still gives its slot back.
            await asyncio.shield(_FINISH_OK(
                client, 5, *_adapt_keys(names), breaker.name if breaker is not None else names["slots"],
                token, time.time(), config.max_concurrency, ADAPTIVE_TTL_S, permit.acquired_at, permit.finish_pause,
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
