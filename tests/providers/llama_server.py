"""The real small model for tests (`providers.local_model`): skipped without the `local-llm` extra
locally, a failure in CI (CI=true), so a CI run can never pass by silently skipping the only real
model we have."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from providers.local_model import MODEL_ALIAS, LocalModelServer, missing_modules

__all__ = ["MODEL_ALIAS", "LocalModelServer", "llama", "require_local_llm"]


def require_local_llm() -> None:
    missing = missing_modules()
    if missing:
        message = f"needs the 'local-llm' extra (missing: {', '.join(missing)}); see README 'Providers'"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def llama() -> Iterator[LocalModelServer]:
    """The model served for the tests of one module (import this fixture into the module)."""
    require_local_llm()
    server = LocalModelServer().start()
    try:
        yield server
    finally:
        server.stop()
