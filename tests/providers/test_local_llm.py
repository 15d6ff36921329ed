"""A real small model through the `local` provider: Gemma 3 270M served by llama-cpp-python over the
OpenAI protocol, called through the whole gateway (plain and streaming)."""

from __future__ import annotations

import pytest

from providers.gateway import complete
from providers.requests import completion_request
from providers.services import credential_set
from tests.providers.llama_server import MODEL_ALIAS, llama  # noqa: F401 (fixture)

pytestmark = [pytest.mark.local_llm, pytest.mark.django_db]

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]



@pytest.fixture
def local_org(gw_org, llama):  # type: ignore[no-untyped-def]  # noqa: F811
    # llama.cpp serves one request at a time; a generous timeout covers a cold first call on 2 cores.
    credential_set(org=gw_org, provider="local", api_key=None, base_url=llama.url,
                   config={"max_concurrency": 1, "timeout": 120})
    return gw_org


def ask(org, **config):  # type: ignore[no-untyped-def]
    request = completion_request(model=MODEL_ALIAS, messages=QUESTION,
                                 config={"temperature": 0, "seed": 1, "max_tokens": 24, "cache": False, **config})
    return complete(org_id=org.pk, provider="local", request=request)


def test_plain_completion_from_a_real_model(local_org) -> None:  # type: ignore[no-untyped-def]
    result = ask(local_org)
    assert result.text.strip()
    assert result.finish_reason in ("stop", "length")
    assert result.usage.input_tokens > 5 and 0 < result.usage.output_tokens <= 24
    assert result.cost_usd is None  # a local model has no list price
    assert result.ttft_ms is None and result.latency_ms > 0
    assert result.raw["model"]
    # Greedy decoding with a seed: the same question gets the same answer.
    assert ask(local_org).text == result.text


def test_streaming_completion_from_a_real_model(local_org) -> None:  # type: ignore[no-untyped-def]
    result = ask(local_org, stream=True)
    assert result.text.strip()
    assert result.ttft_ms is not None and 0 < result.ttft_ms <= result.latency_ms
    assert result.finish_reason in ("stop", "length")
    assert result.raw["streamed"] is True


def test_max_tokens_is_honoured(local_org) -> None:  # type: ignore[no-untyped-def]
    # We send `max_tokens` (llama.cpp ignores `max_completion_tokens`).
    result = ask(local_org, max_tokens=3)
    assert result.usage.output_tokens <= 3
    assert result.finish_reason == "length"
