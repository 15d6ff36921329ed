"""Contract tests: every OpenAI-compatible adapter through the real `openai` SDK against a local
server speaking OpenAI's wire protocol (and Azure's deployment paths)."""

from __future__ import annotations

import time

import pytest

from providers.gateway import complete
from providers.interface import ErrorType, ProviderError
from providers.requests import completion_request
from tests.fakes.base import Reply
from tests.fakes.openai_server import OPENAI_ERRORS
from tests.providers.conftest import OPENAI_KEY, connect

pytestmark = pytest.mark.django_db

OPENAI_COMPATIBLE = ["openai", "azure_openai", "openrouter", "google", "together", "local"]


def ask(org, provider: str, text: str = "What is two plus two?", model: str = "gpt-4o-mini", **config):  # type: ignore[no-untyped-def]
    request = completion_request(model=model, messages=[{"role": "user", "content": text}], config=config)
    return complete(org_id=org.pk, provider=provider, request=request)


def fail(org, provider: str, text: str = "What is two plus two?", **config) -> ProviderError:  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderError) as caught:
        ask(org, provider, text, **config)
    return caught.value


@pytest.mark.parametrize("provider", OPENAI_COMPATIBLE)
def test_success_maps_text_usage_finish_and_request_id(gw_org, fake_openai, provider) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, provider, fake_openai.url)
    result = ask(gw_org, provider, "hello there world", temperature=0.2, max_tokens=50, seed=7, system="Be brief.")
    assert result.text == "Echo: hello there world"
    assert result.finish_reason == "stop"
    assert result.usage.input_tokens == 5  # "Be brief." + "hello there world", counted in words by the fake
    assert result.usage.output_tokens == 4
    assert result.provider_request_id.startswith("req_")
    assert result.raw["object"] == "chat.completion"
    assert result.latency_ms > 0 and result.ttft_ms is None
    assert result.retries == 0
    sent = fake_openai.seen[-1].body
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 50 and sent["seed"] == 7


@pytest.mark.parametrize("provider", OPENAI_COMPATIBLE)
def test_streaming_reports_time_to_first_token(gw_org, fake_openai, provider) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, provider, fake_openai.url)
    result = ask(gw_org, provider, "stream me a few words please", stream=True)
    assert result.text == "Echo: stream me a few words please"
    assert result.finish_reason == "stop"
    assert result.ttft_ms is not None and 0 < result.ttft_ms <= result.latency_ms
    assert fake_openai.seen[-1].body["stream"] is True
    if provider == "local":
        # llama.cpp sends no usage when streaming; we do not ask for it there.
        assert "stream_options" not in fake_openai.seen[-1].body
    else:
        assert result.usage.output_tokens == 7


def test_length_finish_reason(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    result = ask(gw_org, "openai", "one two three four five six", max_tokens=3)
    assert result.finish_reason == "length"
    assert result.text == "Echo: one two"


def test_azure_uses_deployment_path_api_version_and_api_key_header(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "azure_openai", fake_openai.url, deployments={"gpt-4o-mini": "prod-4o-mini"})
    result = ask(gw_org, "azure_openai", model="gpt-4o-mini")
    seen = fake_openai.seen[-1]
    assert seen.path == "/openai/deployments/prod-4o-mini/chat/completions"
    assert seen.query["api-version"] == "2024-10-21"
    assert seen.headers["api-key"] == OPENAI_KEY
    assert "Authorization" not in seen.headers
    assert result.text.startswith("Echo:")


def test_openai_sends_bearer_and_openrouter_sends_attribution_headers(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    ask(gw_org, "openai")
    assert fake_openai.seen[-1].headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    connect(gw_org, "openrouter", fake_openai.url)
    ask(gw_org, "openrouter", model="openai/gpt-4o-mini")
    headers = fake_openai.seen[-1].headers
    assert headers["HTTP-Referer"] and headers["X-Title"] == "BenchHub"


def test_extra_config_keys_reach_the_provider_body(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "together", fake_openai.url)
    ask(gw_org, "together", repetition_penalty=1.1, response_format={"type": "json_object"})
    body = fake_openai.seen[-1].body
    assert body["repetition_penalty"] == 1.1
    assert body["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("error", "expected", "retryable"),
    [
        ("auth", ErrorType.AUTH, False),
        ("bad_request", ErrorType.BAD_REQUEST, False),
        ("not_found", ErrorType.BAD_REQUEST, False),
        ("context_length", ErrorType.CONTEXT_LENGTH, False),
        ("content_filtered", ErrorType.CONTENT_FILTERED, False),
        ("insufficient_quota", ErrorType.RATE_LIMITED, False),
        ("rate_limited", ErrorType.RATE_LIMITED, True),
        ("server_error", ErrorType.UNAVAILABLE, True),
        ("unavailable", ErrorType.UNAVAILABLE, True),
    ],
)
def test_each_error_class_from_real_error_bodies(gw_org, fake_openai, error, expected, retryable) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    status, body = OPENAI_ERRORS[error]
    fake_openai.script(*[Reply.error(status, body)] * 3)
    caught = fail(gw_org, "openai", retry_max_rate_limited=2)  # 429s have their own retry budget
    assert caught.type == expected
    assert caught.retryable is retryable
    assert caught.status_code == status
    # Deterministic errors fail at once; transient ones use every retry (max_retries=2 here).
    assert len(fake_openai.seen) == (3 if retryable else 1)
    assert caught.retries == (2 if retryable else 0)
    assert [e.type for e in caught.errors] == [expected] * len(fake_openai.seen)


def test_wrong_key_is_auth_error_with_the_key_not_in_the_message(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    from providers.services import credential_set

    credential_set(org=gw_org, provider="openai", api_key="sk-wrong-key-abcdef123456", base_url=fake_openai.url + "/v1")
    caught = fail(gw_org, "openai")
    assert caught.type == ErrorType.AUTH and caught.status_code == 401
    assert "sk-wrong-key-abcdef123456" not in str(caught)


def test_429_with_retry_after_waits_then_succeeds(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    status, body = OPENAI_ERRORS["rate_limited"]
    fake_openai.script(Reply.error(status, body, headers={"Retry-After": "1"}), Reply.ok("finally"))
    started = time.monotonic()
    result = ask(gw_org, "openai")
    assert result.text == "finally"
    assert result.retries == 1
    assert [e.type for e in result.errors] == [ErrorType.RATE_LIMITED]
    # Retry-After is a floor: the retry never came sooner than the provider asked.
    assert fake_openai.seen[1].at - fake_openai.seen[0].at >= 0.95
    assert time.monotonic() - started >= 0.95


def test_slow_response_past_the_timeout_is_a_timeout(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    fake_openai.script(Reply.slow(3), Reply.slow(3), Reply.slow(3))
    caught = fail(gw_org, "openai", timeout=0.3, max_retries=0)
    assert caught.type == ErrorType.TIMEOUT
    assert caught.retryable


def test_malformed_json_is_invalid_response(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    fake_openai.script(Reply.malformed())
    caught = fail(gw_org, "openai", max_retries=0)
    assert caught.type == ErrorType.INVALID_RESPONSE


def test_dropped_connection_is_unavailable_and_retried(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    fake_openai.script(Reply.drop(), Reply.ok("after the drop"))
    result = ask(gw_org, "openai")
    assert result.text == "after the drop"
    assert result.retries == 1 and result.errors[0].type == ErrorType.UNAVAILABLE


def test_stream_dropped_midway_is_an_error_not_a_short_answer(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    fake_openai.script(Reply(kind="drop_mid_stream"))
    caught = fail(gw_org, "openai", "a longer sentence to stream in parts", stream=True, max_retries=0)
    assert caught.type in (ErrorType.UNAVAILABLE, ErrorType.INVALID_RESPONSE)


def test_sdk_retries_are_off_so_ours_are_the_only_ones(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    status, body = OPENAI_ERRORS["server_error"]
    fake_openai.script(*[Reply.error(status, body)] * 5)
    caught = fail(gw_org, "openai", max_retries=0)
    assert caught.type == ErrorType.UNAVAILABLE
    assert len(fake_openai.seen) == 1


def test_embeddings_through_the_gateway(gw_org, fake_openai) -> None:  # type: ignore[no-untyped-def]
    from providers.gateway import embed

    connect(gw_org, "openai", fake_openai.url)
    result = embed(org_id=gw_org.pk, provider="openai", model="text-embedding-3-small", inputs=["a b", "c"])
    assert len(result.vectors) == 2 and len(result.vectors[0]) == 8
    assert result.usage.input_tokens == 3
    assert fake_openai.seen[-1].path == "/v1/embeddings"
    assert result.cost_usd is not None  # text-embedding-3-small has a list price
