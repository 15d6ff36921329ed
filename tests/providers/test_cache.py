"""The optional response cache: versioned keys without secrets, no errors or filtered answers,
off for benchmark runs, identical in-flight calls collapsed into one provider call."""

from __future__ import annotations

import asyncio

import pytest

from providers.cache import cache_key
from providers.gateway import acomplete, complete, run_sync
from providers.interface import ProviderError
from providers.requests import completion_request
from tests.fakes.base import Reply
from tests.fakes.openai_server import OPENAI_ERRORS
from tests.providers.conftest import OPENAI_KEY, connect

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    from django.core.cache import cache

    cache.clear()


def request(text: str = "cache me", **config):  # type: ignore[no-untyped-def]
    return completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": text}], config=config)


def test_second_identical_chat_call_is_a_hit(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    first = complete(org_id=gw_org.pk, provider="openai", request=request(), purpose="chat")
    second = complete(org_id=gw_org.pk, provider="openai", request=request(), purpose="chat")
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.text == first.text and second.usage == first.usage
    assert len(fake_openai.seen) == 1
    different_seed = complete(org_id=gw_org.pk, provider="openai", request=request(seed=3), purpose="chat")
    assert not different_seed.cache_hit


def test_off_by_default_for_benchmark_runs_and_for_streams(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    for _ in range(2):
        assert not complete(org_id=gw_org.pk, provider="openai", request=request()).cache_hit
        assert not complete(org_id=gw_org.pk, provider="openai", request=request(stream=True), purpose="chat").cache_hit
    assert len(fake_openai.seen) == 4
    complete(org_id=gw_org.pk, provider="openai", request=request(), use_cache=True)
    assert complete(org_id=gw_org.pk, provider="openai", request=request(), use_cache=True).cache_hit


def test_errors_and_content_filtered_answers_are_never_cached(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    fake_openai.script(Reply.error(*OPENAI_ERRORS["bad_request"]))
    with pytest.raises(ProviderError):
        complete(org_id=gw_org.pk, provider="openai", request=request(), purpose="chat")
    assert not complete(org_id=gw_org.pk, provider="openai", request=request(), purpose="chat").cache_hit
    fake_openai.script(Reply.ok("[filtered]", finish_reason="content_filter"))
    filtered = complete(org_id=gw_org.pk, provider="openai", request=request("other"), purpose="chat")
    assert filtered.finish_reason == "content_filter"
    again = complete(org_id=gw_org.pk, provider="openai", request=request("other"), purpose="chat")
    assert not again.cache_hit and again.finish_reason == "stop"


def test_identical_calls_in_flight_collapse_into_one(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    fake_openai.latency_s = 1.0  # all five are surely in flight before the first answer

    async def five() -> list:
        calls = [acomplete(org_id=gw_org.pk, provider="openai", request=request(), purpose="chat") for _ in range(5)]
        return list(await asyncio.gather(*calls))

    results = run_sync(five)
    assert len(fake_openai.seen) == 1
    assert sorted(r.cache_hit for r in results) == [False, True, True, True, True]
    assert len({r.text for r in results}) == 1


def test_key_is_versioned_per_org_and_never_holds_the_secret() -> None:
    key = cache_key(org_id=1, provider="openai", base_url="http://x/v1", request=request())
    assert key.startswith("providers:resp:v1:") and OPENAI_KEY not in key
    assert key == cache_key(org_id=1, provider="openai", base_url="http://x/v1", request=request(timeout=5, max_retries=1))
    assert key != cache_key(org_id=2, provider="openai", base_url="http://x/v1", request=request())
    assert key != cache_key(org_id=1, provider="openai", base_url="http://y/v1", request=request())
    assert key != cache_key(org_id=1, provider="openai", base_url="http://x/v1", request=request(temperature=0.5))
