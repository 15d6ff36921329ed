"""Gates for tests that need real services: skip on a laptop without them, fail in CI."""

from __future__ import annotations

import os

import pytest
from django.conf import settings


def _missing(message: str) -> None:
    """Skip on a laptop, fail in CI (CI=true), where every service must be there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_redis() -> str:
    """The REDIS_URL to use, or skip (locally) / fail (CI=true) when none is configured."""
    if not settings.REDIS_URL:
        _missing("needs REDIS_URL (a real Redis); .ci/run sets it")
    return settings.REDIS_URL


def require_postgres() -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        _missing("needs DATABASE_URL pointing at PostgreSQL; .ci/run sets it")


def require_sandbox() -> None:
    """bubblewrap must work here (the pr_tests sandbox); .ci/run installs it."""
    from evaluation.sandbox import sandbox_unavailable_reason

    reason = sandbox_unavailable_reason()
    if reason:
        _missing(f"needs a working bubblewrap sandbox: {reason}")
