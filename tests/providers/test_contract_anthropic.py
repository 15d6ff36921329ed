"""Contract tests: the Anthropic adapter through the real `anthropic` SDK against a local server
speaking the Messages API (headers, SSE events, real error bodies)."""

from __future__ import annotations

import pytest

from providers.gateway import complete
from providers.interface import ErrorType, ProviderError
from providers.requests import completion_request
from tests.fakes.anthropic_server import ANTHROPIC_ERRORS
from tests.fakes.base import Reply
from tests.providers.conftest import ANTHROPIC_KEY, connect

pytestmark = pytest.mark.django_db

MODEL = "claude-haiku-4-5"


def ask(org, text: str = "Name a colour.", **config):  # type: ignore[no-untyped-def]
    messages = [{"role": "user", "content": text}]
    return complete(org_id=org.pk, provider="anthropic", request=completion_request(model=MODEL, messages=messages, config=config))


def fail(org, text: str = "Name a colour.", **config) -> ProviderError:  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderError) as caught:
        ask(org, text, **config)
    return caught.value


@pytest.fixture
def connected(gw_org, fake_anthropic):  # type: ignore[no-untyped-def]
    connect(gw_org, "anthropic", fake_anthropic.url)
    return gw_org


def test_success_maps_text_usage_stop_reason_and_headers(connected, fake_anthropic) -> None:  # type: ignore[no-untyped-def]
    result = ask(connected, "tell me three words", system="Be terse.", temperature=0.1, max_tokens=64)
    assert result.text == "Echo: tell me three words"
    assert result.finish_reason == "stop"  # end_turn, in the shared vocabulary
    assert result.usage.input_tokens == 6 and result.usage.output_tokens == 5
    assert result.provider_request_id.startswith("req_")
    assert result.raw["type"] == "message"
    assert result.cost_usd is not None  # claude-haiku-4-5 has a list price
    seen = fake_anthropic.seen[-1]
    # SDK 2.x sends the key as a Bearer token; older ones as x-api-key. Either way, only that key.
    assert ANTHROPIC_KEY in (seen.headers.get("x-api-key"), seen.headers.get("Authorization", "").removeprefix("Bearer "))
    assert seen.headers["anthropic-version"]
    assert seen.body["system"] == "Be terse."
    assert seen.body["max_tokens"] == 64 and seen.body["temperature"] == 0.1


def test_json_output_requests_become_structured_output(connected, fake_anthropic) -> None:  # type: ignore[no-untyped-def]
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    ask(connected, response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}})
    assert fake_anthropic.seen[-1].body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    ask(connected, response_format={"type": "json_object"})
    assert fake_anthropic.seen[-1].body["output_config"]["format"]["schema"] == {"type": "object"}


def test_max_tokens_default_and_length_stop(connected, fake_anthropic) -> None:  # type: ignore[no-untyped-def]
    ask(connected)
    assert fake_anthropic.seen[-1].body["max_tokens"] == 1024  # Anthropic requires one
    result = ask(connected, "one two three four", max_tokens=2)
    assert result.finish_reason == "length" and result.text == "Echo: one"


def test_streaming_reports_ttft_and_usage(connected) -> None:  # type: ignore[no-untyped-def]
    result = ask(connected, "stream these words", stream=True)
    assert result.text == "Echo: stream these words"
    assert result.finish_reason == "stop"
    assert result.ttft_ms is not None and 0 < result.ttft_ms <= result.latency_ms
    assert result.usage.input_tokens == 3 and result.usage.output_tokens == 4


@pytest.mark.parametrize(
    ("error", "expected", "retryable"),
    [
        ("auth", ErrorType.AUTH, False),
        ("permission", ErrorType.AUTH, False),
        ("bad_request", ErrorType.BAD_REQUEST, False),
        ("not_found", ErrorType.BAD_REQUEST, False),
        ("context_length", ErrorType.CONTEXT_LENGTH, False),
        ("rate_limited", ErrorType.RATE_LIMITED, True),
        ("api_error", ErrorType.UNAVAILABLE, True),
        ("overloaded", ErrorType.UNAVAILABLE, True),
    ],
)
def test_each_error_class_from_real_error_bodies(connected, fake_anthropic, error, expected, retryable) -> None:  # type: ignore[no-untyped-def]
    status, body = ANTHROPIC_ERRORS[error]
    fake_anthropic.script(*[Reply.error(status, body)] * 3)
    caught = fail(connected, retry_max_rate_limited=2)  # 429s have their own retry budget
    assert caught.type == expected and caught.retryable is retryable and caught.status_code == status
    assert len(fake_anthropic.seen) == (3 if retryable else 1)


def test_overloaded_529_then_success_is_retried(connected, fake_anthropic) -> None:  # type: ignore[no-untyped-def]
    status, body = ANTHROPIC_ERRORS["overloaded"]
    fake_anthropic.script(Reply.error(status, body), Reply.ok("ok now"))
    result = ask(connected)
    assert result.text == "ok now" and result.retries == 1
    assert result.errors[0].type == ErrorType.UNAVAILABLE and result.errors[0].status_code == 529


def test_429_retry_after_is_honoured(connected, fake_anthropic) -> None:  # type: ignore[no-untyped-def]
    status, body = ANTHROPIC_ERRORS["rate_limited"]
    fake_anthropic.script(Reply.error(status, body, headers={"retry-after": "1"}), Reply.ok("done"))
    result = ask(connected)
    assert result.text == "done" and result.retries == 1
    assert fake_anthropic.seen[1].at - fake_anthropic.seen[0].at >= 0.95


def test_error_event_inside_a_stream(connected, fake_anthropic) -> None:  # type: ignore[no-untyped-def]
    fake_anthropic.script(Reply(kind="stream_error"))
    caught = fail(connected, "some words to stream", stream=True, max_retries=0)
    assert caught.type == ErrorType.UNAVAILABLE


def test_wrong_key_is_auth_and_secret_not_in_message(gw_org, fake_anthropic) -> None:  # type: ignore[no-untyped-def]
    from providers.services import credential_set

    credential_set(org=gw_org, provider="anthropic", api_key="sk-ant-wrong-9999", base_url=fake_anthropic.url)
    caught = fail(gw_org)
    assert caught.type == ErrorType.AUTH
    assert "sk-ant-wrong-9999" not in str(caught) and "sk-ant-wrong-9999" not in repr(caught.raw)


def test_slow_malformed_and_dropped(connected, fake_anthropic) -> None:  # type: ignore[no-untyped-def]
    fake_anthropic.script(Reply.slow(3))
    assert fail(connected, timeout=0.3, max_retries=0).type == ErrorType.TIMEOUT
    fake_anthropic.script(Reply.malformed())
    assert fail(connected, max_retries=0).type == ErrorType.INVALID_RESPONSE
    fake_anthropic.script(Reply.drop())
    assert fail(connected, max_retries=0).type == ErrorType.UNAVAILABLE


def test_anthropic_has_no_embeddings(connected) -> None:  # type: ignore[no-untyped-def]
    from providers.gateway import embed

    with pytest.raises(ProviderError) as caught:
        embed(org_id=connected.pk, provider="anthropic", model=MODEL, inputs=["x"])
    assert caught.value.type == ErrorType.BAD_REQUEST
