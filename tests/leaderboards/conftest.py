from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache (Redis db of the test run, or local memory)."""
    cache.clear()
    yield
    cache.clear()
