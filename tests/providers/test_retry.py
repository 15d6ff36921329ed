"""Retry policy: capped exponential backoff with full jitter, Retry-After as a floor, and two bounds
(attempts and a total deadline) so an identical 500 can never be retried for days."""

from __future__ import annotations

import pytest

from providers.gateway import complete
from providers.interface import CompletionRequest, ErrorType, ProviderError
from providers.requests import completion_request
from providers.retry import RetryPolicy, retry_policy
from tests.fakes.base import Reply
from tests.fakes.openai_server import OPENAI_ERRORS
from tests.providers.conftest import connect

pytestmark = pytest.mark.django_db


def test_full_jitter_stays_under_the_capped_exponential() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=4.0)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [policy.delay(retry, None) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jitter spreads over the whole range


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(base_delay_s=0.1, max_delay_s=0.2)
    assert all(policy.delay(1, 3.0) >= 3.0 for _ in range(50))


def test_arm_overrides_org_overrides_platform() -> None:
    request = CompletionRequest(model="m", messages=(), max_retries=5, extra={"retry_base_delay_s": 0.2})
    policy = retry_policy(org_retry={"max_retries": 1, "base_delay_s": 1, "deadline_s": 30}, request=request)
    assert (policy.max_retries, policy.base_delay_s, policy.deadline_s) == (5, 0.2, 30)
    assert retry_policy(org_retry={}, request=CompletionRequest(model="m", messages=())) == RetryPolicy()


def test_an_endless_500_is_bounded_by_the_attempt_cap(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    fake_openai.script(*[Reply.error(*OPENAI_ERRORS["server_error"])] * 20)
    request = completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], config={"max_retries": 4})
    with pytest.raises(ProviderError) as caught:
        complete(org_id=gw_org.pk, provider="openai", request=request)
    assert len(fake_openai.seen) == 5
    assert caught.value.retries == 4 and len(caught.value.errors) == 5
    assert all(e.type == ErrorType.UNAVAILABLE and e.status_code == 500 for e in caught.value.errors)


def test_an_endless_500_is_bounded_by_the_deadline(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    fake_openai.script(*[Reply.error(*OPENAI_ERRORS["server_error"], headers={"Retry-After": "0.4"})] * 20)
    request = completion_request(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
        config={"max_retries": 50, "retry_deadline_s": 1.0},
    )
    with pytest.raises(ProviderError) as caught:
        complete(org_id=gw_org.pk, provider="openai", request=request)
    # Each retry waits at least 0.4 s: a 1 s deadline leaves room for two retries, not fifty.
    assert len(fake_openai.seen) <= 3
    assert caught.value.retries == len(fake_openai.seen) - 1


def test_429s_are_waited_out_apart_from_max_retries(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    """Five 429s with Retry-After then a success: served, although max_retries is 1; failures still
    count against max_retries, and 429s against their own budget."""
    connect(gw_org, "openai", fake_openai.url)
    status, body = OPENAI_ERRORS["rate_limited"]
    fake_openai.script(*[Reply.error(status, body, headers={"Retry-After": "0.05"})] * 5)
    request = completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], config={"max_retries": 1})
    result = complete(org_id=gw_org.pk, provider="openai", request=request)
    assert result.retries == 5 and all(e.type == ErrorType.RATE_LIMITED for e in result.errors)

    fake_openai.reset()
    fake_openai.script(*[Reply.error(status, body, headers={"Retry-After": "0.05"})] * 5)
    budget = completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                config={"max_retries": 1, "retry_max_rate_limited": 2})
    with pytest.raises(ProviderError) as caught:
        complete(org_id=gw_org.pk, provider="openai", request=budget)
    assert caught.value.type == ErrorType.RATE_LIMITED and len(fake_openai.seen) == 3


def test_a_429_waits_its_retry_after_not_an_exponential_backoff() -> None:
    policy = RetryPolicy(base_delay_s=5.0, max_delay_s=20.0)
    delays = [policy.next_retry(quota_refusal=True, retry_after=0.2, refusals=6, failures=0)[0] for _ in range(50)]
    assert all(0.2 <= d <= 0.35 for d in delays)  # Retry-After plus a little jitter, whatever the count
    assert policy.next_retry(quota_refusal=False, retry_after=None, refusals=0, failures=4)[1] is True  # > max_retries 3


def test_a_429_that_says_nothing_is_a_failure_counted_by_max_retries(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    """Without Retry-After a 429 is not the quota telling us when to come back: max_retries=0
    fails it at once (a deterministic mock rate_limited arm must not be retried for minutes)."""
    connect(gw_org, "openai", fake_openai.url)
    status, body = OPENAI_ERRORS["rate_limited"]
    fake_openai.script(Reply.error(status, body))
    request = completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], config={"max_retries": 0})
    with pytest.raises(ProviderError) as caught:
        complete(org_id=gw_org.pk, provider="openai", request=request)
    assert caught.value.type == ErrorType.RATE_LIMITED and len(fake_openai.seen) == 1
