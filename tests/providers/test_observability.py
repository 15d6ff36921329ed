"""Prometheus metrics for every call and one structured log line per call (no secret, no prompt at INFO)."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from providers.gateway import complete
from providers.interface import ProviderError
from providers.requests import completion_request
from tests.fakes.base import Reply
from tests.fakes.openai_server import OPENAI_ERRORS
from tests.providers.conftest import connect

pytestmark = pytest.mark.django_db

PROMPT = "a very private prompt about quarterly numbers"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_for_success_errors_retries_tokens_cost_and_cache(gw_org, fake_openai, api_client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BENCHHUB_METRICS_TOKEN = "scrape-token-for-tests"
    connect(gw_org, "openai", fake_openai.url)
    model = "gpt-4o-mini"
    before = {
        "ok": sample("benchhub_provider_calls_total", provider="openai", model=model, status="ok"),
        "error": sample("benchhub_provider_calls_total", provider="openai", model=model, status="error"),
        "latency": sample("benchhub_provider_call_seconds_count", provider="openai", model=model, status="ok"),
        "in": sample("benchhub_provider_tokens_total", provider="openai", model=model, direction="input"),
        "cost": sample("benchhub_provider_cost_usd_total", provider="openai", model=model),
        "retries": sample("benchhub_provider_retries_total", provider="openai", model=model),
        "unavailable": sample("benchhub_provider_errors_total", provider="openai", model=model, type="unavailable"),
        "hit": sample("benchhub_provider_cache_total", provider="openai", model=model, result="hit"),
    }
    fake_openai.script(Reply.error(*OPENAI_ERRORS["server_error"]))
    request = completion_request(model=model, messages=[{"role": "user", "content": "one two"}])
    complete(org_id=gw_org.pk, provider="openai", request=request, purpose="chat")  # one retry, then ok
    complete(org_id=gw_org.pk, provider="openai", request=request, purpose="chat")  # a cache hit
    fake_openai.script(Reply.error(*OPENAI_ERRORS["auth"]))
    with pytest.raises(ProviderError):
        complete(org_id=gw_org.pk, provider="openai", request=completion_request(model=model, messages=[{"role": "user", "content": "x"}]))
    assert sample("benchhub_provider_calls_total", provider="openai", model=model, status="ok") == before["ok"] + 2
    assert sample("benchhub_provider_calls_total", provider="openai", model=model, status="error") == before["error"] + 1
    assert sample("benchhub_provider_call_seconds_count", provider="openai", model=model, status="ok") == before["latency"] + 2
    assert sample("benchhub_provider_tokens_total", provider="openai", model=model, direction="input") > before["in"]
    assert sample("benchhub_provider_cost_usd_total", provider="openai", model=model) > before["cost"]
    assert sample("benchhub_provider_retries_total", provider="openai", model=model) == before["retries"] + 1
    assert sample("benchhub_provider_errors_total", provider="openai", model=model, type="unavailable") == before["unavailable"] + 1
    assert sample("benchhub_provider_cache_total", provider="openai", model=model, result="hit") == before["hit"] + 1
    exported = api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-for-tests").content.decode()
    for name in ("benchhub_provider_call_seconds_bucket", "benchhub_provider_breaker_state", "benchhub_provider_errors_total"):
        assert name in exported


def test_one_structured_log_line_per_call_without_prompt_or_secret(gw_org, fake_openai, caplog) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    caplog.set_level(logging.INFO, logger="benchhub.providers.calls")
    request = completion_request(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], config={"cache": False})
    complete(org_id=gw_org.pk, provider="openai", request=request)
    fake_openai.script(Reply.error(*OPENAI_ERRORS["context_length"]))
    with pytest.raises(ProviderError):
        complete(org_id=gw_org.pk, provider="openai", request=request)
    lines = [r for r in caplog.records if r.name == "benchhub.providers.calls"]
    assert len(lines) == 2
    ok, failed = lines
    for record in lines:
        for field in ("org_id", "provider", "model", "status", "error_type", "retries", "latency_ms", "request_id"):
            assert hasattr(record, field), field
        assert PROMPT not in f"{record.getMessage()} {record.__dict__}"
    assert (ok.status, ok.error_type, ok.input_tokens) == ("ok", None, 7)
    assert ok.cost_usd is not None and ok.provider_request_id.startswith("req_")
    assert (failed.status, failed.error_type) == ("error", "context_length")
