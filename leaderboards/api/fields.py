"""The `leaderboard` field of the run payload (`GET runs/{id}/`), for the experiments app's serializer."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from leaderboards.selectors import run_leaderboard_summary


@extend_schema_field(OpenApiTypes.OBJECT)
class RunLeaderboardField(serializers.Field):
    """The four boards once the run has ended, else null. Use as `leaderboard = RunLeaderboardField()`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("source", "*")
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, run: Any) -> dict[str, Any] | None:
        return run_leaderboard_summary(run=run)
