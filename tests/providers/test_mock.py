"""The mock provider: deterministic answers, echo, latency, seeded failures, embeddings."""

from __future__ import annotations

import pytest

from providers.gateway import complete, embed, endpoint_check, policy_check
from providers.interface import ErrorType, ProviderError
from providers.requests import completion_request

pytestmark = pytest.mark.django_db


def ask(org, text: str, **config):  # type: ignore[no-untyped-def]
    request = completion_request(model="mock-1", messages=[{"role": "user", "content": text}], config={"cache": False, **config})
    return complete(org_id=org.pk, provider="mock", request=request)


def test_same_input_same_answer_different_input_different_answer(gw_org) -> None:  # type: ignore[no-untyped-def]
    first, again, other = ask(gw_org, "q1"), ask(gw_org, "q1"), ask(gw_org, "q2")
    assert first.text == again.text != other.text
    assert first.usage == again.usage and first.cost_usd == again.cost_usd > 0


def test_echo_fixed_response_and_max_tokens(gw_org) -> None:  # type: ignore[no-untyped-def]
    assert ask(gw_org, "say this back", mock_mode="echo").text == "say this back"
    assert ask(gw_org, "x", mock_response="42").text == "42"
    truncated = ask(gw_org, "x", mock_response="a" * 100, max_tokens=5)
    assert truncated.text == "a" * 20 and truncated.finish_reason == "length"


def test_latency_and_streaming_ttft(gw_org) -> None:  # type: ignore[no-untyped-def]
    result = ask(gw_org, "x", mock_latency_ms=100, stream=True)
    assert result.latency_ms >= 100 and 50 <= result.ttft_ms < result.latency_ms


def test_failure_rate_is_seeded_and_deterministic_per_input(gw_org) -> None:  # type: ignore[no-untyped-def]
    def outcome(i: int) -> str:
        try:
            ask(gw_org, f"case {i}", mock_failure_rate=0.3, mock_error_type="bad_request")
        except ProviderError as exc:
            assert exc.type == ErrorType.BAD_REQUEST
            return "failed"
        return "ok"

    first = [outcome(i) for i in range(40)]
    assert first == [outcome(i) for i in range(40)]
    assert 4 <= first.count("failed") <= 20  # about 30 %


def test_mock_timeout(gw_org) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderError) as caught:
        ask(gw_org, "x", mock_latency_ms=2000, timeout=0.1, max_retries=0)
    assert caught.value.type == ErrorType.TIMEOUT


def test_mock_needs_no_credential_but_needs_the_allowlist(org_world) -> None:  # type: ignore[no-untyped-def]
    org = org_world.a.org
    endpoint_check(org_id=org.pk, provider="mock")
    with pytest.raises(ProviderError) as caught:
        endpoint_check(org_id=org.pk, provider="openai")
    assert caught.value.type == ErrorType.AUTH
    with pytest.raises(ProviderError) as caught:
        policy_check(org_id=org.pk, provider="mock", model="mock-1")
    assert caught.value.type == ErrorType.POLICY_DENIED


def test_mock_embeddings_are_similar_for_shared_words(gw_org) -> None:  # type: ignore[no-untyped-def]
    result = embed(org_id=gw_org.pk, provider="mock", model="mock-embed",
                   inputs=["the cat sat on the mat", "a cat on a mat", "quarterly revenue grew"])
    cat, cat2, revenue = result.vectors

    def dot(a, b):  # type: ignore[no-untyped-def]
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert dot(cat, cat2) > dot(cat, revenue)
    assert abs(dot(cat, cat) - 1) < 1e-9
