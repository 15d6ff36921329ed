"""Thin fixtures shared by every test module. Factories live beside the tests of their app."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.evaluation.judges import judge_server  # noqa: F401 (a fake judge for evaluator tests)
from tests.orgs.factories import OrgWorld, make_org_world


@pytest.fixture
def org_world(db) -> OrgWorld:  # type: ignore[no-untyped-def]
    """Two orgs, each with an owner, admin, member and viewer, and an API key per role."""
    return make_org_world()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def bearer(client: APIClient, key: str) -> APIClient:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def memory_broker(settings):  # type: ignore[no-untyped-def]
    """Celery messages go to an in-memory broker nobody consumes (not executed eagerly either).

    Celery caches its broker connection pool and producer pool on the app: both are reset on the
    way in and out, or every later test would publish into this memory broker instead of Redis.
    """
    from benchhub.celery import app

    def publish_to(url: str) -> None:
        # Dropped, not closed: kombu keeps one pool per broker URL process-wide and hands the same
        # one out again, so closing the Redis pool here would break every later publish.
        app.conf.broker_url = url
        app._pool = None
        app.amqp._producer_pool = None

    previous = app.conf.broker_url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_URL = "memory://"
    publish_to("memory://")
    yield
    publish_to(previous)


@pytest.fixture
def scorer_registry(monkeypatch):  # type: ignore[no-untyped-def]
    """Scorers a test registers are gone after it: the registry is process-wide, so a test's own
    scorer would otherwise stay visible to every later test (and to `scorer_types()`)."""
    from evaluation import scorers

    monkeypatch.setattr(scorers, "_REGISTRY", dict(scorers._REGISTRY))
