"""/api/v1/credentials/, policy/, chat/ and embeddings/ as shared/API.md describes them."""

from __future__ import annotations

import pytest

from providers.models import ProviderCredential
from providers.services import policy_set
from tests.conftest import bearer
from tests.fakes.base import Reply
from tests.fakes.openai_server import OPENAI_ERRORS
from tests.providers.conftest import connect

pytestmark = pytest.mark.django_db

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def as_role(api_client, org_world):  # type: ignore[no-untyped-def]
    def client_for(role: str):  # type: ignore[no-untyped-def]
        return bearer(api_client, org_world.a.keys[role])

    return client_for


def error_of(response) -> dict:  # type: ignore[no-untyped-def]
    return response.json()["error"]


# --- credentials -------------------------------------------------------------------------------

def test_admin_creates_lists_replaces_and_deletes_credentials(as_role, org_world) -> None:  # type: ignore[no-untyped-def]
    client = as_role("admin")
    body = {"provider": "azure_openai", "api_key": "azure-key-123456", "base_url": "https://x.openai.azure.com",
            "api_version": "2024-10-21", "name": "prod", "config": {"deployments": {"gpt-4o": "dep"}, "rpm": 100}}
    created = client.post("/api/v1/credentials/", body, format="json")
    assert created.status_code == 201
    out = created.json()
    assert out["api_key_last4"] == "3456" and "api_key" not in out
    assert out["config"] == {"deployments": {"gpt-4o": "dep"}, "rpm": 100}
    again = client.post("/api/v1/credentials/", {**body, "api_key": "azure-key-999999"}, format="json")
    assert again.json()["id"] == out["id"]  # one credential per provider: replaced, not duplicated
    listed = client.get("/api/v1/credentials/").json()
    assert listed["count"] == 1 and listed["results"][0]["api_key_last4"] == "9999"
    assert client.delete(f"/api/v1/credentials/{out['id']}/").status_code == 204
    assert not ProviderCredential.objects.filter(pk=out["id"]).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "nope", "api_key": "k"}, "provider"),
        ({"provider": "azure_openai", "api_key": "k", "base_url": "https://x.example"}, None),
        ({"provider": "local"}, None),  # local needs a base_url
        ({"provider": "openai"}, None),  # openai needs a key
        ({"provider": "openai", "api_key": "k", "config": {"max_concurrency": 0}}, None),
    ],
)
def test_invalid_credentials_are_400(as_role, body, field) -> None:  # type: ignore[no-untyped-def]
    response = as_role("admin").post("/api/v1/credentials/", body, format="json")
    assert response.status_code == 400
    assert error_of(response)["type"] == "validation_error"
    if field:
        assert field in error_of(response)["details"]


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_only_admins_see_or_touch_credentials(as_role, role) -> None:  # type: ignore[no-untyped-def]
    client = as_role(role)
    assert client.get("/api/v1/credentials/").status_code == 403
    response = client.post("/api/v1/credentials/", {"provider": "openai", "api_key": "k"}, format="json")
    assert response.status_code == 403 and error_of(response)["type"] == "permission_denied"


# --- policy ------------------------------------------------------------------------------------

def test_policy_get_and_put(as_role) -> None:  # type: ignore[no-untyped-def]
    assert as_role("viewer").get("/api/v1/policy/").json() == {"rules": []}
    rules = [{"provider": "openai", "models": ["gpt-4o*"]}, {"provider": "mock", "models": ["*"]}]
    assert as_role("member").put("/api/v1/policy/", {"rules": rules}, format="json").status_code == 403
    response = as_role("admin").put("/api/v1/policy/", {"rules": rules}, format="json")
    assert response.status_code == 200 and response.json() == {"rules": rules}
    assert as_role("viewer").get("/api/v1/policy/").json() == {"rules": rules}


@pytest.mark.parametrize("rules", [[{"provider": "nope", "models": ["*"]}], [{"provider": "openai", "models": "gpt"}], "x"])
def test_invalid_policy_is_400(as_role, rules) -> None:  # type: ignore[no-untyped-def]
    response = as_role("admin").put("/api/v1/policy/", {"rules": rules}, format="json")
    assert response.status_code == 400 and error_of(response)["type"] == "validation_error"


# --- chat --------------------------------------------------------------------------------------

def test_chat_through_the_mock_provider(gw_org, as_role) -> None:  # type: ignore[no-untyped-def]
    response = as_role("member").post("/api/v1/chat/", {
        "provider": "mock", "model": "mock-small", "messages": HELLO, "config": {"temperature": 0, "cache": False},
    }, format="json")
    assert response.status_code == 200
    out = response.json()
    assert set(out) >= {"text", "finish_reason", "usage", "latency_ms", "ttft_ms", "cost_usd", "cache_hit",
                        "provider_request_id"}
    assert out["text"].startswith("Mock answer") and out["finish_reason"] == "stop"
    assert out["usage"] == {"input_tokens": 2, "output_tokens": out["usage"]["output_tokens"]}
    assert out["cost_usd"] > 0 and out["cache_hit"] is False and out["ttft_ms"] is None


def test_chat_cache_hit_is_reported(gw_org, as_role) -> None:  # type: ignore[no-untyped-def]
    client = as_role("member")
    payload = {"provider": "mock", "model": "mock-small", "messages": HELLO}
    first = client.post("/api/v1/chat/", payload, format="json").json()
    second = client.post("/api/v1/chat/", payload, format="json").json()
    assert first["cache_hit"] is False and second["cache_hit"] is True
    assert first["text"] == second["text"]


def test_chat_streaming_reports_ttft(gw_org, as_role, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    response = as_role("member").post("/api/v1/chat/", {
        "provider": "openai", "model": "gpt-4o-mini", "messages": HELLO, "config": {"stream": True},
    }, format="json")
    assert response.status_code == 200
    assert response.json()["ttft_ms"] > 0 and response.json()["text"] == "Echo: hello"


def test_chat_policy_denied_is_403_and_viewer_cannot_chat(org_world, as_role) -> None:  # type: ignore[no-untyped-def]
    policy_set(org=org_world.a.org, rules=[{"provider": "mock", "models": ["allowed-*"]}])
    denied = as_role("member").post("/api/v1/chat/", {"provider": "mock", "model": "other", "messages": HELLO},
                                     format="json")
    assert denied.status_code == 403 and error_of(denied)["type"] == "policy_denied"
    assert "mock:other" in error_of(denied)["message"]
    viewer = as_role("viewer").post("/api/v1/chat/", {"provider": "mock", "model": "allowed-1", "messages": HELLO},
                                    format="json")
    assert viewer.status_code == 403 and error_of(viewer)["type"] == "permission_denied"


def test_removing_a_rule_stops_further_calls(gw_org, as_role) -> None:  # type: ignore[no-untyped-def]
    client = as_role("member")
    payload = {"provider": "mock", "model": "m", "messages": HELLO, "config": {"cache": False}}
    assert client.post("/api/v1/chat/", payload, format="json").status_code == 200
    policy_set(org=gw_org, rules=[{"provider": "openai", "models": ["*"]}])
    assert client.post("/api/v1/chat/", payload, format="json").status_code == 403


def test_provider_failure_is_502_with_type_and_retries(gw_org, as_role, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    fake_openai.script(*[Reply.error(*OPENAI_ERRORS["server_error"])] * 3)
    response = as_role("member").post("/api/v1/chat/", {
        "provider": "openai", "model": "gpt-4o-mini", "messages": HELLO, "config": {"max_retries": 2},
    }, format="json")
    assert response.status_code == 502
    error = error_of(response)
    assert error["type"] == "provider_error"
    assert error["details"] == {"type": "unavailable", "retries": 2}
    assert error["request_id"] == response["X-Request-ID"]


def test_provider_rate_limit_is_429_with_retry_after(gw_org, as_role, fake_openai) -> None:  # type: ignore[no-untyped-def]
    connect(gw_org, "openai", fake_openai.url)
    fake_openai.script(Reply.error(*OPENAI_ERRORS["insufficient_quota"]))
    response = as_role("member").post("/api/v1/chat/", {
        "provider": "openai", "model": "gpt-4o-mini", "messages": HELLO,
    }, format="json")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert error_of(response)["details"] == {"type": "rate_limited", "retries": 0}


def test_chat_without_a_credential_is_a_provider_auth_error(gw_org, as_role) -> None:  # type: ignore[no-untyped-def]
    response = as_role("member").post("/api/v1/chat/", {"provider": "openai", "model": "gpt-4o", "messages": HELLO},
                                      format="json")
    assert response.status_code == 502 and error_of(response)["details"]["type"] == "auth"


def test_chat_input_is_validated(gw_org, as_role) -> None:  # type: ignore[no-untyped-def]
    client = as_role("member")
    for body in ({"provider": "mock", "model": "m", "messages": []},
                 {"provider": "mock", "model": "m", "messages": [{"role": "robot", "content": "x"}]},
                 {"provider": "bogus", "model": "m", "messages": HELLO}):
        response = client.post("/api/v1/chat/", body, format="json")
        assert response.status_code == 400 and error_of(response)["type"] == "validation_error"


# --- embeddings --------------------------------------------------------------------------------

def test_embeddings_string_or_list(gw_org, as_role) -> None:  # type: ignore[no-untyped-def]
    client = as_role("member")
    one = client.post("/api/v1/embeddings/", {"provider": "mock", "model": "mock-embed", "input": "a cat"}, format="json")
    assert one.status_code == 200
    assert len(one.json()["data"]) == 1 and one.json()["data"][0]["index"] == 0
    many = client.post("/api/v1/embeddings/", {"provider": "mock", "model": "mock-embed", "input": ["a", "b c"]},
                       format="json").json()
    assert [row["index"] for row in many["data"]] == [0, 1]
    assert len(many["data"][0]["embedding"]) == 256
    assert many["usage"]["input_tokens"] == 2 and "cost_usd" in many
    bad = client.post("/api/v1/embeddings/", {"provider": "mock", "model": "m", "input": [1, 2]}, format="json")
    assert bad.status_code == 400


def test_openapi_schema_lists_the_gateway_endpoints(api_client) -> None:  # type: ignore[no-untyped-def]
    schema = api_client.get("/api/schema/?format=json").json()
    for path in ("/api/v1/credentials/", "/api/v1/credentials/{credential_id}/", "/api/v1/policy/",
                 "/api/v1/chat/", "/api/v1/embeddings/"):
        assert path in schema["paths"], path
