"""Fixtures for the gateway tests: fake provider servers, an org allowed everything, clean state."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from orgs.models import Organization
from providers.context import context_invalidate
from providers.interface import ProviderKind
from providers.services import credential_set, policy_set
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

OPENAI_KEY = "sk-test-openai-secret-7f3a9c1e2b4d"
ANTHROPIC_KEY = "sk-ant-test-secret-5e8d2a7c9b1f"
# Fast retries so tests that retry do not sleep for seconds.
FAST_RETRY = {"base_delay_s": 0.01, "max_delay_s": 0.05, "max_retries": 2}


@pytest.fixture(autouse=True)
def _fresh_gateway_state(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """A Redis namespace of its own per test (breaker/limiter state never leaks between tests)."""
    settings.BENCHHUB_PROVIDER_KEY_PREFIX = f"bh:providers:test:{uuid.uuid4().hex[:10]}"
    context_invalidate()
    from providers import breaker, limits

    breaker._local.states.clear()
    limits._local.reset()
    yield
    context_invalidate()


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as server:
        yield server


@pytest.fixture(scope="session")
def fake_anthropic_server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=ANTHROPIC_KEY) as server:
        yield server


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_openai_server.reset()
    fake_openai_server.latency_s = 0.0
    yield fake_openai_server
    fake_openai_server.reset()


@pytest.fixture
def fake_anthropic(fake_anthropic_server: FakeAnthropic) -> Iterator[FakeAnthropic]:
    fake_anthropic_server.reset()
    yield fake_anthropic_server
    fake_anthropic_server.reset()


def allow_everything(org: Organization) -> None:
    policy_set(org=org, rules=[{"provider": kind.value, "models": ["*"]} for kind in ProviderKind])


@pytest.fixture
def gw_org(org_world) -> Organization:  # type: ignore[no-untyped-def]
    """Org A, allowed every provider and model, with fast retries."""
    org = org_world.a.org
    org.settings = {"provider_retry": FAST_RETRY}
    org.save(update_fields=["settings"])
    allow_everything(org)
    return org


def connect(org: Organization, provider: str, server_url: str, **config: object) -> None:
    """Point `provider` of `org` at a fake server, the way an admin would."""
    kind = ProviderKind(provider)
    if kind == ProviderKind.ANTHROPIC:
        credential_set(org=org, provider=provider, api_key=ANTHROPIC_KEY, base_url=server_url, config=dict(config))
    elif kind == ProviderKind.AZURE_OPENAI:
        credential_set(org=org, provider=provider, api_key=OPENAI_KEY, base_url=server_url, api_version="2024-10-21",
                       config=dict(config))
    else:
        credential_set(org=org, provider=provider, api_key=OPENAI_KEY, base_url=server_url + "/v1", config=dict(config))
