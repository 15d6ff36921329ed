"""The per (org, provider) limiter in one process: concurrency cap, per-minute budgets that wait,
and adaptation to the provider's 429s and rate-limit headers. (Across Celery workers: test_limits_workers.)"""

from __future__ import annotations

import asyncio
import time

import pytest

from providers.gateway import acomplete, run_sync
from providers.interface import CompletionResult, ProviderError
from providers.limits import limits_state
from providers.requests import completion_request
from tests.fakes.base import Reply
from tests.fakes.openai_server import OPENAI_ERRORS
from tests.providers.conftest import connect

pytestmark = pytest.mark.django_db


def burst(org, n: int, *, config: dict | None = None) -> list[CompletionResult | ProviderError]:  # type: ignore[no-untyped-def]
    async def one(i: int) -> CompletionResult | ProviderError:
        request = completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}], config=config)
        try:
            return await acomplete(org_id=org.pk, provider="openai", request=request)
        except ProviderError as exc:
            return exc

    async def run() -> list[CompletionResult | ProviderError]:
        return list(await asyncio.gather(*[one(i) for i in range(n)]))

    return run_sync(run)


def test_concurrency_cap_is_never_exceeded(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url, max_concurrency=3)
    fake_openai.latency_s = 0.3
    results = burst(gw_org, 12)
    assert all(isinstance(r, CompletionResult) for r in results)
    assert fake_openai.max_in_flight == 3  # full use of the cap, never more


def test_calls_beyond_the_per_minute_limit_wait_instead_of_failing(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url, rpm=60)  # a bucket of 60, refilled at 1 per second
    started = time.time()
    results = burst(gw_org, 63)
    assert all(isinstance(r, CompletionResult) for r in results), [r for r in results if isinstance(r, ProviderError)]
    arrivals = sorted(seen.at for seen in fake_openai.seen)
    assert len(arrivals) == 63
    # The 3 calls past the budget waited for the refill: the last one 3 s after the bucket's first
    # take, which is after `started` (a lower bound only, so a slow machine cannot fail it).
    assert arrivals[-1] - started >= 2.95


def test_tokens_per_minute_budget_waits_too(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    # Each call is estimated at 1 prompt token + max_tokens 100 = 101 against a budget of 120/min
    # (2 per second): the second call cannot start until the first one's unused estimate is refunded.
    connect(gw_org, "openai", fake_openai.url, tpm=120)
    results = burst(gw_org, 2, config={"max_tokens": 100})
    assert all(isinstance(r, CompletionResult) for r in results)
    arrivals = sorted(seen.at for seen in fake_openai.seen)
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.5


def request_for(i: int):  # type: ignore[no-untyped-def]
    return completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}])


def test_a_lone_429_delays_only_its_own_call_and_keeps_the_cap(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    """A transient 429 waits out its own Retry-After; it neither pauses nor throttles the others
    (the old limiter halved the cap and paused everyone, which held healthy providers at a crawl)."""
    connect(gw_org, "openai", fake_openai.url, max_concurrency=8)
    status, body = OPENAI_ERRORS["rate_limited"]
    fake_openai.script(Reply.error(status, body, headers={"Retry-After": "1"}))

    async def scenario() -> list[CompletionResult]:
        first = asyncio.create_task(acomplete(org_id=gw_org.pk, provider="openai", request=request_for(0)))
        while not fake_openai.seen:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the 429 is back
        others = [acomplete(org_id=gw_org.pk, provider="openai", request=request_for(i)) for i in range(1, 5)]
        return list(await asyncio.gather(first, *others))

    results = run_sync(scenario)
    assert all(isinstance(r, CompletionResult) for r in results)
    refused_at = fake_openai.seen[0].at
    retried = [s.at for s in fake_openai.seen[1:] if s.body["messages"][0]["content"] == "q0"]
    others = [s.at for s in fake_openai.seen[1:] if s.body["messages"][0]["content"] != "q0"]
    assert len(retried) == 1 and retried[0] - refused_at >= 0.95  # its own Retry-After, honoured
    assert len(others) == 4 and max(others) < retried[0]  # nobody else waited for it
    state = run_sync(lambda: limits_state(org_id=gw_org.pk, provider="openai"))
    assert state["cap"] is None and state["pause_s"] == 0


def test_a_429_saying_the_budget_is_spent_pauses_every_caller(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    status, body = OPENAI_ERRORS["rate_limited"]
    fake_openai.script(Reply.error(status, body, headers={
        "Retry-After": "1", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"}))

    async def scenario() -> list[CompletionResult]:
        first = asyncio.create_task(acomplete(org_id=gw_org.pk, provider="openai", request=request_for(0)))
        while not (await limits_state(org_id=gw_org.pk, provider="openai"))["pause_s"]:
            await asyncio.sleep(0.01)
        others = [acomplete(org_id=gw_org.pk, provider="openai", request=request_for(i)) for i in range(1, 5)]
        return [await first, *await asyncio.gather(*others)]

    results = run_sync(scenario)
    assert all(isinstance(r, CompletionResult) for r in results)
    later = [seen.at for seen in fake_openai.seen[1:]]
    assert len(later) == 5 and min(later) - fake_openai.seen[0].at >= 0.95


def test_transient_429s_never_throttle_a_healthy_provider(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    """10% random 429s: every call succeeds (429s are waited out apart from max_retries), no cap is
    learned and nobody is paused."""
    connect(gw_org, "openai", fake_openai.url, max_concurrency=20)
    fake_openai.latency_s = 0.05
    fake_openai.faults = {"rate_limited": 0.1}
    results = burst(gw_org, 100, config={"max_retries": 0})
    assert all(isinstance(r, CompletionResult) for r in results), [r for r in results if isinstance(r, ProviderError)]
    assert fake_openai.faulted >= 3
    state = run_sync(lambda: limits_state(org_id=gw_org.pk, provider="openai"))
    assert state["cap"] is None and state["pause_s"] == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"},
        {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1s"},
        {"anthropic-ratelimit-requests-remaining": "0"},
    ],
)
def test_an_exhausted_provider_budget_pauses_before_a_429_is_earned(gw_org, fake_openai, headers) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    fake_openai.script(Reply.ok(headers=headers))
    request = completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])

    async def one_then_another() -> None:
        await acomplete(org_id=gw_org.pk, provider="openai", request=request)  # hears "budget spent"
        await acomplete(org_id=gw_org.pk, provider="openai", request=request)

    run_sync(one_then_another)
    assert fake_openai.seen[1].at - fake_openai.seen[0].at >= 0.95


def test_limits_are_per_org(gw_org, org_world, fake_openai) -> None:  # type: ignore[no-untyped-def]
    from tests.providers.conftest import allow_everything

    other = org_world.b.org
    allow_everything(other)
    connect(gw_org, "openai", fake_openai.url, max_concurrency=1)
    connect(other, "openai", fake_openai.url, max_concurrency=1)
    fake_openai.latency_s = 0.3
    request = completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])

    async def both() -> None:
        await asyncio.gather(
            acomplete(org_id=gw_org.pk, provider="openai", request=request),
            acomplete(org_id=other.pk, provider="openai", request=request),
        )

    run_sync(both)
    assert fake_openai.max_in_flight == 2  # one slot each, side by side


def test_learns_an_unknown_concurrency_quota_from_429s(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    """The provider allows 4 at once and says so only with 429s; we configured no cap at all."""
    connect(gw_org, "openai", fake_openai.url)
    fake_openai.concurrency_quota = 4
    fake_openai.latency_s = 0.1
    results = burst(gw_org, 80, config={"max_retries": 10, "retry_base_delay_s": 0.05, "retry_max_delay_s": 0.2})
    assert all(isinstance(r, CompletionResult) for r in results), [r for r in results if isinstance(r, ProviderError)]
    state = run_sync(lambda: limits_state(org_id=gw_org.pk, provider="openai"))
    # Learned: near the quota (it probes up to a quarter or two above it), not collapsed, not 30.
    assert state["cap"] is not None and 3 <= state["cap"] <= 8, state
    # The blind first burst and its first retry wave cost about 150 refusals before the first
    # decision; after it the cap keeps them to a fraction of the calls, not a multiple.
    assert fake_openai.rejected < 3 * 80, fake_openai.rejected
