"""Gates for tests that need real services: skip on a laptop without them, fail in CI."""

from __future__ import annotations

import os

import pytest
from django.conf import settings


def require_redis() -> str:
    """The REDIS_URL to use, or skip (locally) / fail (CI=true) when none is configured."""
    if not settings.REDIS_URL:
        message = "needs REDIS_URL (a real Redis); .ci/run sets it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return settings.REDIS_URL


def require_postgres() -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        message = "needs DATABASE_URL pointing at PostgreSQL; .ci/run sets it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def require_sandbox() -> None:
    """bubblewrap must work here (the pr_tests sandbox); .ci/run installs it."""
    from evaluation.sandbox import sandbox_unavailable_reason

    reason = sandbox_unavailable_reason()
    if reason:
        message = f"needs a working bubblewrap sandbox: {reason}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
