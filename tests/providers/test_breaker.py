"""Circuit breaker: a provider that is down costs seconds, not the run."""

from __future__ import annotations

import asyncio
import time

import pytest

from providers.gateway import acomplete, complete, run_sync
from providers.interface import ErrorType, ProviderError
from providers.requests import completion_request
from tests.fakes.base import Reply
from tests.fakes.openai_server import OPENAI_ERRORS
from tests.providers.conftest import connect

pytestmark = pytest.mark.django_db

DOWN = Reply.error(*OPENAI_ERRORS["unavailable"])
REQUEST = completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], config={"max_retries": 0})


def call(org) -> ProviderError | None:  # type: ignore[no-untyped-def]
    try:
        complete(org_id=org.pk, provider="openai", request=REQUEST)
    except ProviderError as exc:
        return exc
    return None


def test_open_breaker_fails_fast_without_http_until_the_half_open_probe(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url, breaker_threshold=3, breaker_cooldown_s=1)
    fake_openai.script(DOWN, DOWN, DOWN)
    for _ in range(3):
        assert call(gw_org).type == ErrorType.UNAVAILABLE
    assert len(fake_openai.seen) == 3  # the threshold: three real failures

    # While open, calls fail at once: not one HTTP request (the server's log is the proof, not a clock).
    errors = [call(gw_org) for _ in range(5)]
    for error in errors:
        assert error.type == ErrorType.UNAVAILABLE and "circuit breaker open" in error.message
    assert len(fake_openai.seen) == 3  # not one HTTP request while open

    time.sleep(1.1)  # cooldown over: the next call is the half-open probe, and it fails
    fake_openai.script(DOWN)
    assert call(gw_org).type == ErrorType.UNAVAILABLE
    assert len(fake_openai.seen) == 4
    assert "circuit breaker open" in call(gw_org).message  # re-opened at once
    assert len(fake_openai.seen) == 4

    time.sleep(1.1)  # the next probe succeeds and closes the breaker
    assert call(gw_org) is None
    assert call(gw_org) is None
    assert len(fake_openai.seen) == 6


def test_only_one_probe_while_half_open(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url, breaker_threshold=1, breaker_cooldown_s=0.5)
    fake_openai.script(DOWN)
    assert call(gw_org).type == ErrorType.UNAVAILABLE
    time.sleep(0.6)
    fake_openai.script(Reply.slow(0.5))  # the probe takes a while

    async def probe_and_others() -> list[object]:
        probe = asyncio.create_task(acomplete(org_id=gw_org.pk, provider="openai", request=REQUEST))
        while len(fake_openai.seen) < 2:  # the probe is at the server, taking its time
            await asyncio.sleep(0.01)
        others = await asyncio.gather(
            *[acomplete(org_id=gw_org.pk, provider="openai", request=REQUEST) for _ in range(4)], return_exceptions=True
        )
        return [await probe, *others]

    probe, *others = run_sync(probe_and_others)
    assert probe.text.startswith("Echo:")
    assert all(isinstance(o, ProviderError) and o.type == ErrorType.UNAVAILABLE for o in others)
    assert len(fake_openai.seen) == 2  # the first failure and the probe, nothing else


def test_client_errors_do_not_open_the_breaker(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url, breaker_threshold=2)
    fake_openai.script(*[Reply.error(*OPENAI_ERRORS["bad_request"])] * 4)
    for _ in range(4):
        assert call(gw_org).type == ErrorType.BAD_REQUEST
    assert len(fake_openai.seen) == 4  # a 400 proves the provider is up: every call went out


def test_breakers_are_per_org(gw_org, org_world, fake_openai) -> None:  # type: ignore[no-untyped-def]
    from tests.providers.conftest import allow_everything

    other = org_world.b.org
    allow_everything(other)
    connect(gw_org, "openai", fake_openai.url, breaker_threshold=1, breaker_cooldown_s=30)
    connect(other, "openai", fake_openai.url, breaker_threshold=1, breaker_cooldown_s=30)
    fake_openai.script(DOWN)
    assert call(gw_org).type == ErrorType.UNAVAILABLE
    assert "circuit breaker open" in call(gw_org).message
    assert call(other) is None


def test_a_failing_model_does_not_open_the_breaker_of_another_model_of_the_same_provider(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url, breaker_threshold=1, breaker_cooldown_s=30)
    fake_openai.script(DOWN)
    assert call(gw_org).type == ErrorType.UNAVAILABLE  # gpt-4o-mini fails once: its breaker opens
    assert "circuit breaker open" in call(gw_org).message
    sibling = completion_request(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], config={"max_retries": 0})
    result = complete(org_id=gw_org.pk, provider="openai", request=sibling)  # same org and provider, other model
    assert result.text.startswith("Echo:")
    assert len(fake_openai.seen) == 2  # the failure and the sibling's call; none while gpt-4o-mini is open
