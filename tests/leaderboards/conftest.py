from __future__ import annotations

import pytest

from leaderboards.selectors import cache_clear


@pytest.fixture(autouse=True)
def _no_cached_boards():
    """Each test starts without cached boards (only leaderboards keys: Redis also holds the broker)."""
    cache_clear()
    yield
    cache_clear()
