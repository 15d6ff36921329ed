"""Reads of attempt outcomes (scores, evaluator scores, usage, timings) for the apps that rank them.

Leaderboards read scores only through these functions (STYLE.md: apps reach each other through a
small facade returning plain data). Everything here streams: attempts are read in chunks straight
into numpy columns or yielded row by row, never loaded as model instances.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
from django.db.models import Count

from experiments.models import Attempt, AttemptStatus

# Status codes of `AttemptOutcomes.status` (numpy int8 so a million rows stay small).
SUCCEEDED, FAILED, CANCELLED, PENDING = 0, 1, 2, 3
_STATUS_CODE = {
    AttemptStatus.SUCCEEDED: SUCCEEDED,
    AttemptStatus.FAILED: FAILED,
    AttemptStatus.CANCELLED: CANCELLED,
}
_CHUNK = 20_000

_OUTCOME_FIELDS = (
    "arm_id",
    "task_instance__case_id",
    "status",
    "score_value",
    "passed",
    "evaluator_score",
    "cost_usd",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
)


@dataclass(frozen=True)
class AttemptOutcomes:
    """One run's attempts as columns. NaN stands for NULL in the float columns.

    `case` is the dataset row's primary key (`experiments.Case.pk`), so the same case met in two
    runs is one cluster when boards combine runs.
    """

    arm: np.ndarray  # int64 arm id
    case: np.ndarray  # int64 Case pk
    status: np.ndarray  # int8, see the status codes above
    score: np.ndarray  # mean rule score in 0..1
    passed: np.ndarray  # 1.0 / 0.0 / NaN
    evaluator: np.ndarray
    cost: np.ndarray  # USD; NaN = unpriced (never read as 0)
    latency: np.ndarray  # ms
    ttft: np.ndarray  # ms
    input_tokens: np.ndarray
    output_tokens: np.ndarray

    def __len__(self) -> int:
        return len(self.arm)


def _floats(column: tuple[Any, ...]) -> np.ndarray:
    # None → NaN, Decimal/bool → float: numpy does both when asked for float64.
    return np.array(column, dtype=np.float64)


def attempt_outcomes_for_run(*, run_id: int) -> AttemptOutcomes:
    """Every attempt of a run as numpy columns, read in chunks of a server-side cursor."""
    parts: list[list[np.ndarray]] = [[] for _ in _OUTCOME_FIELDS]
    rows = (
        Attempt.objects.filter(run_id=run_id).order_by().values_list(*_OUTCOME_FIELDS).iterator(chunk_size=_CHUNK)
    )
    chunk: list[tuple[Any, ...]] = []

    def flush() -> None:
        if not chunk:
            return
        columns = list(zip(*chunk, strict=True))
        parts[0].append(np.array(columns[0], dtype=np.int64))
        parts[1].append(np.array(columns[1], dtype=np.int64))
        parts[2].append(np.array([_STATUS_CODE.get(s, PENDING) for s in columns[2]], dtype=np.int8))
        for k in range(3, len(_OUTCOME_FIELDS)):
            parts[k].append(_floats(columns[k]))
        chunk.clear()

    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            flush()
    flush()
    dtypes = [np.int64, np.int64, np.int8] + [np.float64] * (len(_OUTCOME_FIELDS) - 3)
    cols = [np.concatenate(p) if p else np.empty(0, dtype=d) for p, d in zip(parts, dtypes, strict=True)]
    return AttemptOutcomes(*cols)


@dataclass(frozen=True)
class FailureCount:
    arm_id: int
    error_type: str
    count: int


def attempt_failures_for_run(*, run_id: int) -> list[FailureCount]:
    """Failed attempts counted by arm and error type (one GROUP BY)."""
    rows = (
        Attempt.objects.filter(run_id=run_id, status=AttemptStatus.FAILED)
        .order_by()
        .values("arm_id", "error_type")
        .annotate(n=Count("id"))
        .values_list("arm_id", "error_type", "n")
    )
    return [FailureCount(arm_id, error_type or "unknown", n) for arm_id, error_type, n in rows]


@dataclass(frozen=True)
class PairwiseJudgement:
    """One evaluator pairwise verdict on one task instance: `outcome` 1 = a better, ½ tie, 0 = b."""

    case_id: int  # experiments.Case pk
    arm_a: int
    arm_b: int
    outcome: float


def evaluator_pairwise_judgements_for_run(*, run_id: int) -> list[PairwiseJudgement]:
    """Pairwise evaluator judgements of a run, for the Bradley–Terry ratings.

    The evaluator agent (a later issue) does not store pairwise judgements yet, so a run has none
    and the ratings come from rule-score pairs alone; once judgements are stored, this is the one
    function to fill and the aggregation picks them up unchanged.
    """
    return []


_EXPORT_FIELDS = (
    "id",
    "arm__label",
    "task_instance__case__case_id",
    "sample",
    "status",
    "score_value",
    "passed",
    "evaluator_score",
    "scores",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
    "latency_ms",
    "ttft_ms",
    "error_type",
    "retries",
    "queued_at",
    "started_at",
    "responded_at",
    "validated_at",
    "scored_at",
)
EXPORT_COLUMNS = (
    "id", "arm", "case", "sample", "status", "score_value", "passed", "evaluator_score", "scores",
    "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "latency_ms", "ttft_ms",
    "error_type", "retries", "queued_at", "started_at", "responded_at", "validated_at", "scored_at",
)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact, as stored; never a float rounding of money
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def attempt_rows_for_export(*, run_id: int, chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
    """Every attempt of a run with its scores, one plain dict at a time (constant memory)."""
    rows = (
        Attempt.objects.filter(run_id=run_id)
        .order_by("id")
        .values_list(*_EXPORT_FIELDS)
        .iterator(chunk_size=chunk_size)
    )
    for row in rows:
        yield {name: _plain(value) for name, value in zip(EXPORT_COLUMNS, row, strict=True)}
