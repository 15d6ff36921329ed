"""Asking the judge for many verdicts: the verdict cache first, then the judge a few calls at a time
within a spending cap, then the new verdicts stored in the cache.

The cache key is (profile version, input hash): replays, retries and twin answers never pay twice
for the same verdict. Only the judge's own answers are cached (scored, or invalid after the
repair turn); a failed call or a budget refusal is asked again next time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal

from evaluation.evaluator import evaluator_profile_freeze
from evaluation.judge import INVALID, JudgeRequest, ProfileSpec, Verdict, ajudge
from evaluation.models import EvaluatorVerdict

DEFAULT_JUDGE_CONCURRENCY = 4
BUDGET_REASON = "evaluator budget exhausted"


@dataclass
class Budget:
    """Evaluator spend against a cap (None: no cap). A call starts only while what is spent plus the
    dearest verdict so far for each call in flight stays within the cap; until the first price is
    known one call probes alone, so a first wave of calls cannot overshoot. Unpriced verdicts (a
    local judge) add nothing: there is nothing known to count."""

    limit: Decimal | None = None
    spent: Decimal = Decimal(0)
    in_flight: int = 0
    dearest: Decimal = Decimal(0)
    unpriced: bool = False
    _changed: asyncio.Condition | None = field(default=None, repr=False)

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()  # created on the loop that asks
        return self._changed

    async def admit(self) -> bool:
        if self.limit is None:
            return True
        async with self._condition():
            while self.in_flight and not self.dearest and not self.unpriced:
                await self._condition().wait()  # the price probe is out
            if self.spent >= self.limit or self.spent + self.dearest * (self.in_flight + 1) > self.limit:
                return False
            self.in_flight += 1
            return True

    async def settle(self, verdict: Verdict) -> None:
        if self.limit is None:
            return
        async with self._condition():
            self.in_flight -= 1
            if verdict.cost_usd is None:
                self.unpriced = True
            cost = verdict.cost_usd or Decimal(0)
            self.spent += cost
            self.dearest = max(self.dearest, cost)
            self._condition().notify_all()


def verdicts_cached(*, profile_id: int, hashes: set[str]) -> dict[str, Verdict]:
    rows = EvaluatorVerdict.objects.filter(profile_id=profile_id, input_hash__in=hashes)
    return {
        row.input_hash: Verdict(status=row.status, answer=row.answer, reason=row.reason, raw=tuple(row.raw_response),
                                input_tokens=row.input_tokens, output_tokens=row.output_tokens,
                                cost_usd=row.cost_usd, latency_ms=row.latency_ms, cache_hit=True)
        for row in rows
    }


def _ask(spec: ProfileSpec, requests: list[JudgeRequest], budget: Budget) -> dict[str, Verdict]:
    """Verdicts of `requests` from the judge, by input hash (each distinct input asked once)."""
    from providers.gateway import run_sync

    unique = list({r.input_hash: r for r in requests}.values())
    if not unique:
        return {}
    limit = int(spec.endpoint.config.get("max_concurrency") or DEFAULT_JUDGE_CONCURRENCY)

    async def ask_all() -> list[Verdict]:
        gate = asyncio.Semaphore(limit)

        async def one(request: JudgeRequest) -> Verdict:
            async with gate:
                if not await budget.admit():
                    return Verdict(status=INVALID, reason=BUDGET_REASON, cacheable=False)
                verdict = Verdict(status=INVALID, reason="evaluator call interrupted", cacheable=False)
                try:
                    verdict = await ajudge(profile=spec, request=request)
                finally:
                    await budget.settle(verdict)
                return verdict

        return await asyncio.gather(*(one(r) for r in unique))

    return {r.input_hash: v for r, v in zip(unique, run_sync(ask_all), strict=True)}


def verdicts_get(*, spec: ProfileSpec, requests: list[JudgeRequest], budget: Budget | None = None) -> dict[str, Verdict]:
    """A verdict for every request, by input hash: from the cache (`cache_hit`) or asked now.

    New cacheable verdicts are stored (and the profile frozen) before returning, so a caller that
    fails afterwards still never pays for them again.
    """
    verdicts = verdicts_cached(profile_id=spec.id, hashes={r.input_hash for r in requests})
    fresh = _ask(spec, [r for r in requests if r.input_hash not in verdicts], budget or Budget())
    EvaluatorVerdict.objects.bulk_create(
        [EvaluatorVerdict(profile_id=spec.id, input_hash=h, status=v.status, answer=v.answer, reason=v.reason,
                          raw_response=list(v.raw), input_tokens=v.input_tokens, output_tokens=v.output_tokens,
                          cost_usd=v.cost_usd, latency_ms=v.latency_ms)
         for h, v in fresh.items() if v.cacheable],
        ignore_conflicts=True,  # a twin task stored the same verdict first
    )
    if any(v.cacheable for v in fresh.values()):
        evaluator_profile_freeze(profile_id=spec.id)  # its verdicts are stored: it never changes again
    return verdicts | fresh
