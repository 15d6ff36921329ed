"""The per (org, provider) limiter in one process: concurrency cap, per-minute budgets that wait,
and adaptation to the provider's 429s and rate-limit headers. (Across Celery workers: test_limits_workers.)"""

from __future__ import annotations

import asyncio

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
    results = burst(gw_org, 63)
    assert all(isinstance(r, CompletionResult) for r in results), [r for r in results if isinstance(r, ProviderError)]
    arrivals = sorted(seen.at for seen in fake_openai.seen)
    assert len(arrivals) == 63
    # The 3 calls past the budget waited for the refill (lower bound only: never faster).
    assert arrivals[-1] - arrivals[0] >= 2.5


def test_tokens_per_minute_budget_waits_too(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    # Each call is estimated at 1 prompt token + max_tokens 100 = 101 against a budget of 120/min
    # (2 per second): the second call cannot start until the first one's unused estimate is refunded.
    connect(gw_org, "openai", fake_openai.url, tpm=120)
    results = burst(gw_org, 2, config={"max_tokens": 100})
    assert all(isinstance(r, CompletionResult) for r in results)
    arrivals = sorted(seen.at for seen in fake_openai.seen)
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.5


def test_a_429_pauses_every_caller_until_retry_after_and_halves_the_cap(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url, max_concurrency=8)
    status, body = OPENAI_ERRORS["rate_limited"]
    fake_openai.script(Reply.error(status, body, headers={"Retry-After": "1"}))

    def request(i: int):  # type: ignore[no-untyped-def]
        return completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}])

    async def scenario() -> list[CompletionResult]:
        first = asyncio.create_task(acomplete(org_id=gw_org.pk, provider="openai", request=request(0)))
        # Once the first call has earned its 429 and the limiter heard it, four more calls start.
        while not (await limits_state(org_id=gw_org.pk, provider="openai"))["pause_s"]:
            await asyncio.sleep(0.01)
        others = [acomplete(org_id=gw_org.pk, provider="openai", request=request(i)) for i in range(1, 5)]
        return [await first, *await asyncio.gather(*others)]

    results = run_sync(scenario)
    assert all(isinstance(r, CompletionResult) for r in results)
    first_429_at = fake_openai.seen[0].at
    later = [seen.at for seen in fake_openai.seen[1:]]
    assert len(later) == 5  # the retried call plus the four others: not one wasted 429 more
    assert min(later) - first_429_at >= 0.95, [(s.body["messages"][0]["content"], round(s.at - first_429_at, 3)) for s in fake_openai.seen]  # nobody called the provider during its Retry-After
    state = run_sync(lambda: limits_state(org_id=gw_org.pk, provider="openai"))
    assert state["cap"] == 5  # halved from 8 to 4, then +1 after five clean calls


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
    results = burst(gw_org, 30, config={"max_retries": 10, "retry_base_delay_s": 0.05, "retry_max_delay_s": 0.2})
    assert all(isinstance(r, CompletionResult) for r in results), [r for r in results if isinstance(r, ProviderError)]
    state = run_sync(lambda: limits_state(org_id=gw_org.pk, provider="openai"))
    assert state["cap"] is not None and state["cap"] <= 6  # learned: near the quota, not collapsed, not 30
    # The first blind burst costs 26 rejections; halving once per burst (not once per 429) and
    # growing back one slot at a time keeps the rest small.
    assert fake_openai.rejected < 2 * 30
