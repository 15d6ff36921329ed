"""Brute force and spend: logins lock out per account and per address; expensive routes are
limited per API key with the 429 envelope, Retry-After and X-RateLimit-* headers.

Before: 40 wrong passwords to auth/token/ and 25 to the dashboard login, then the right one worked;
chat and run creation had only the org-wide limit (6000/min), and no X-RateLimit-* headers.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from orgs.models import ApiKey
from tests.conftest import bearer
from tests.experiments.factories import make_experiment

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"


def _limit() -> int:
    # Read at call time (with the pre-lockout default of 10, so this file also runs against the old code).
    return getattr(settings, "AXES_FAILURE_LIMIT", 10)


def _token_login(api_client, email: str, password: str, *, address: str = "10.9.8.7"):  # type: ignore[no-untyped-def]
    return api_client.post(
        TOKEN_URL, {"email": email, "password": password, "org": "org-a"}, format="json", REMOTE_ADDR=address
    )


def test_token_login_locks_out_an_account_after_repeated_failures(api_client, org_world):
    limit = _limit()
    assert limit <= 10
    for attempt in range(limit - 1):
        # Spread over addresses: the account alone is what gets locked.
        response = _token_login(api_client, "admin@org-a.test", "wrong", address=f"10.0.0.{attempt + 1}")
        assert response.status_code == 401
    locked = _token_login(api_client, "admin@org-a.test", "wrong", address="10.0.1.1")
    assert locked.status_code == 429
    right = _token_login(api_client, "admin@org-a.test", "pw-admin", address="10.0.1.2")
    assert right.status_code == 429
    body = right.json()["error"]
    assert body["type"] == "rate_limited" and body["request_id"] == right["X-Request-ID"]
    assert int(right["Retry-After"]) > 0
    # Other accounts from other addresses are untouched.
    assert _token_login(api_client, "member@org-a.test", "pw-member", address="10.0.2.1").status_code == 200


def test_token_login_locks_out_an_address_trying_many_accounts(api_client, org_world):
    for attempt in range(_limit()):
        _token_login(api_client, f"nobody{attempt}@org-a.test", "wrong", address="10.66.0.1")
    response = _token_login(api_client, "owner@org-a.test", "pw-owner", address="10.66.0.1")
    assert response.status_code == 429
    assert _token_login(api_client, "owner@org-a.test", "pw-owner", address="10.66.0.2").status_code == 200


def test_dashboard_login_locks_out_after_repeated_failures(org_world):
    client = Client()
    for _ in range(_limit()):
        client.post("/login/", {"username": "member@org-a.test", "password": "wrong"})
    response = client.post("/login/", {"username": "member@org-a.test", "password": "pw-member"})
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert int(response["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session


def test_a_success_before_the_limit_resets_the_count(org_world):
    client = Client()
    for _ in range(_limit() - 1):
        client.post("/login/", {"username": "member@org-a.test", "password": "wrong"})
    assert client.post("/login/", {"username": "member@org-a.test", "password": "pw-member"}).status_code == 302
    client.post("/logout/")
    for _ in range(_limit() - 1):
        client.post("/login/", {"username": "member@org-a.test", "password": "wrong"})
    assert client.post("/login/", {"username": "member@org-a.test", "password": "pw-member"}).status_code == 302


def _key_pk(raw: str) -> int:
    return ApiKey.objects.get(prefix="_".join(raw.split("_", 2)[:2])).pk


@pytest.fixture
def fresh_key_limits(org_world):  # type: ignore[no-untyped-def]
    """Forget the per-key counters of org A's keys (the cache outlives a test's database)."""
    keys = [f"throttle_{scope}_key-{_key_pk(raw)}" for raw in org_world.a.keys.values() for scope in ("chat", "runs")]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


def test_chat_is_limited_per_api_key(api_client, org_world, settings, fresh_key_limits):
    from tests.experiments.factories import allow

    allow(org_world.a.org, "mock")
    settings.BENCHHUB_RATE_CHAT = "3/min"
    payload = {"provider": "mock", "model": "m", "messages": [{"role": "user", "content": "hi"}],
               "config": {"cache": False}}
    member = bearer(api_client, org_world.a.keys["member"])
    remaining = []
    for _ in range(3):
        response = member.post("/api/v1/chat/", payload, format="json")
        assert response.status_code == 200, response.content
        assert response["X-RateLimit-Limit"] == "3"
        remaining.append(int(response["X-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    limited = member.post("/api/v1/chat/", payload, format="json")
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limited"
    assert 0 < int(limited["Retry-After"]) <= 60
    assert limited["X-RateLimit-Remaining"] == "0" and 0 < int(limited["X-RateLimit-Reset"]) <= 60
    # Another key of the same org has its own allowance.
    other = bearer(api_client, org_world.a.keys["admin"]).post("/api/v1/chat/", payload, format="json")
    assert other.status_code == 200


def test_run_creation_is_limited_per_api_key(api_client, org_world, settings, memory_broker, fresh_key_limits):
    settings.BENCHHUB_RATE_RUNS = "1/min"
    experiment = make_experiment(org_world.a.org, cases=1)
    member = bearer(api_client, org_world.a.keys["member"])
    first = member.post(f"/api/v1/experiments/{experiment.pk}/runs/")
    assert first.status_code == 202, first.content
    assert first["X-RateLimit-Limit"] == "1" and first["X-RateLimit-Remaining"] == "0"
    second = member.post(f"/api/v1/experiments/{experiment.pk}/runs/")
    assert second.status_code == 429 and second.json()["error"]["type"] == "rate_limited"
    assert int(second["Retry-After"]) > 0


def test_evaluate_is_limited_per_api_key(api_client, org_world, settings, fresh_key_limits):
    """evaluate/ may call a platform-paid judge: it has its own per-key limit, like chat/."""
    settings.BENCHHUB_RATE_EVALUATE = "2/min"
    body = {"input": "2+2?", "output": "4", "reference": "4", "scorers": [{"type": "exact"}]}
    member = bearer(api_client, org_world.a.keys["member"])
    for remaining in ("1", "0"):
        response = member.post("/api/v1/evaluate/", body, format="json")
        assert response.status_code == 200, response.content
        assert response["X-RateLimit-Remaining"] == remaining
    limited = member.post("/api/v1/evaluate/", body, format="json")
    assert limited.status_code == 429 and limited.json()["error"]["type"] == "rate_limited"
    assert 0 < int(limited["Retry-After"]) <= 60
