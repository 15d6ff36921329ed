"""/metrics: only a scraper with `BENCHHUB_METRICS_TOKEN` or a platform staff (superuser) session;
series recorded only for calls the policy admitted; models nobody prices fold into `other`."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY

from orgs.models import User
from providers.gateway import complete
from providers.interface import ProviderError
from providers.requests import completion_request
from providers.services import policy_set
from tests.conftest import bearer

pytestmark = pytest.mark.django_db

TOKEN = "metrics-scrape-token-0123456789"


def calls(model: str, provider: str = "mock") -> float:
    total = 0.0
    for status in ("ok", "error", "internal_error"):
        total += REGISTRY.get_sample_value("benchhub_provider_calls_total",
                                           {"provider": provider, "model": model, "status": status}) or 0.0
    return total


def test_metrics_refuse_anonymous_members_org_admins_and_wrong_tokens(client, api_client, org_world, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BENCHHUB_METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert bearer(api_client, org_world.a.keys["owner"]).get("/metrics").status_code == 401  # an API key is no scrape token
    assert client.login(email="admin@org-a.test", password="pw-admin")  # org admin: is_staff, not platform staff
    assert client.get("/metrics").status_code == 401


def test_metrics_answer_the_token_and_a_platform_staff_session(client, db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BENCHHUB_METRICS_TOKEN = TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200 and b"benchhub_provider" in response.content
    User.objects.create_superuser(email="ops@platform.test", password="pw-ops-long-enough")
    assert client.login(email="ops@platform.test", password="pw-ops-long-enough")
    assert client.get("/metrics").status_code == 200


def test_without_a_token_configured_no_bearer_gets_in(client, db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BENCHHUB_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_denied_calls_record_no_series_and_unknown_models_fold_into_other(org_world) -> None:  # type: ignore[no-untyped-def]
    org = org_world.a.org
    policy_set(org=org, rules=[{"provider": "mock", "models": ["allowed-*"]}])
    secret_name = f"org-b-secret-model-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ProviderError):
        complete(org_id=org.pk, provider="mock",
                 request=completion_request(model=secret_name, messages=[{"role": "user", "content": "x"}]))
    assert calls(secret_name) == 0.0
    before = calls("other")
    invented = f"allowed-{uuid.uuid4().hex}"
    complete(org_id=org.pk, provider="mock",
             request=completion_request(model=invented, messages=[{"role": "user", "content": "x"}]))
    assert calls(invented) == 0.0 and calls("other") == before + 1
    exported = "\n".join(str(m) for m in REGISTRY.collect())
    assert secret_name not in exported and invented not in exported
