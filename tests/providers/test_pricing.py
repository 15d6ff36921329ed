"""Cost: org overrides first, then genai-prices; unknown is None and flagged, never 0."""

from __future__ import annotations

from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from providers.gateway import complete
from providers.interface import Usage
from providers.pricing import call_cost
from providers.requests import completion_request
from providers.services import price_override_set
from tests.providers.conftest import connect

pytestmark = pytest.mark.django_db

USAGE = Usage(input_tokens=1_000_000, output_tokens=1_000_000)


def test_library_prices_known_models() -> None:
    assert call_cost(provider="openai", model="gpt-4o-mini", usage=USAGE) == Decimal("0.75")  # $0.15 + $0.60
    assert call_cost(provider="anthropic", model="claude-haiku-4-5", usage=USAGE) > 0


def test_unknown_model_and_local_models_have_no_price() -> None:
    assert call_cost(provider="openai", model="gpt-does-not-exist", usage=USAGE) is None
    assert call_cost(provider="local", model="gemma", usage=USAGE) is None


def test_cached_tokens_are_cheaper() -> None:
    fresh = call_cost(provider="openai", model="gpt-4o-mini", usage=Usage(input_tokens=1_000_000))
    cached = call_cost(provider="openai", model="gpt-4o-mini", usage=Usage(input_tokens=1_000_000, cached_tokens=1_000_000))
    assert cached < fresh


def test_mock_has_a_fixed_documented_price_or_none_when_unpriced() -> None:
    assert call_cost(provider="mock", model="any", usage=USAGE) == Decimal("0.30")
    assert call_cost(provider="mock", model="any", usage=USAGE, unpriced=True) is None


def test_org_override_wins_over_the_library(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    price_override_set(org=gw_org, provider="openai", model="gpt-4o*", input_per_mtok=Decimal("1"),
                       output_per_mtok=Decimal("2"))
    request = completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": "one two three"}])
    result = complete(org_id=gw_org.pk, provider="openai", request=request)
    # 3 input and 4 output tokens at $1 / $2 per million.
    assert result.cost_usd == Decimal("0.000011")


def test_unknown_price_is_null_on_the_result_and_counted(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "local", fake_openai.url)
    # A model nobody prices is counted under the `other` label (series never grow with model names).
    labels = {"provider": "local", "model": "other"}
    before = REGISTRY.get_sample_value("benchhub_provider_unpriced_calls_total", labels) or 0
    request = completion_request(model="gemma", messages=[{"role": "user", "content": "hi"}])
    result = complete(org_id=gw_org.pk, provider="local", request=request)
    assert result.cost_usd is None
    assert REGISTRY.get_sample_value("benchhub_provider_unpriced_calls_total", labels) == before + 1
