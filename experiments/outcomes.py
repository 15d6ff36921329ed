"""Reads of attempt outcomes (scores, evaluator scores, usage, timings) for the apps that rank them.

Leaderboards read scores only through these functions (STYLE.md: apps reach each other through a
small facade returning plain data). Nothing here loads model instances: outcomes go straight into
numpy columns, exports are yielded row by row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Case as DjCase
from django.db.models import Count, FloatField, IntegerField, Value, When
from django.db.models.functions import Cast

from experiments.models import Arm, Attempt, AttemptStatus

# Status codes of `AttemptOutcomes.status` (numpy int8 so a million rows stay small).
SUCCEEDED, FAILED, CANCELLED, PENDING = 0, 1, 2, 3
_STATUS_CODE = {
    AttemptStatus.SUCCEEDED: SUCCEEDED,
    AttemptStatus.FAILED: FAILED,
    AttemptStatus.CANCELLED: CANCELLED,
}

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


def _outcome_query(run_id: int, arm_id: int) -> tuple[str, tuple[Any, ...]]:
    """SQL for one arm's attempts with every column already numeric (status as a code, money as
    a float, booleans as 0/1), so rows go straight into a float matrix without per-row Python."""
    status = DjCase(
        *(When(status=value, then=Value(code)) for value, code in _STATUS_CODE.items()),
        default=Value(PENDING),
        output_field=IntegerField(),
    )
    qs = (
        Attempt.objects.filter(run_id=run_id, arm_id=arm_id)
        .order_by()
        .annotate(
            o_status=status,
            o_passed=Cast("passed", IntegerField()),
            o_cost=Cast("cost_usd", FloatField()),
        )
        .values_list(
            "task_instance__case_id", "o_status", "score_value", "o_passed", "evaluator_score", "o_cost",
            "latency_ms", "ttft_ms", "input_tokens", "output_tokens",
        )
    )
    return qs.query.sql_with_params()


def attempt_outcomes_for_run(*, run_id: int) -> AttemptOutcomes:
    """Every attempt of a run as numpy columns.

    One query per arm (the (run, arm) index serves it), fetched whole: an arm's rows are at most
    cases × samples, and the database cursor hands plain numbers that numpy converts in C.
    """
    arm_ids = list(Arm.objects.filter(attempts__run_id=run_id).order_by("pk").values_list("pk", flat=True).distinct())
    blocks: list[np.ndarray] = []
    arms: list[np.ndarray] = []
    with connection.cursor() as cursor:
        for arm_id in arm_ids:
            cursor.execute(*_outcome_query(run_id, arm_id))
            rows = cursor.fetchall()
            if rows:
                blocks.append(np.array(rows, dtype=np.float64))  # None → NaN
                arms.append(np.full(len(rows), arm_id, dtype=np.int64))
    table = np.concatenate(blocks) if blocks else np.empty((0, 10))
    return AttemptOutcomes(
        arm=np.concatenate(arms) if arms else np.empty(0, dtype=np.int64),
        case=table[:, 0].astype(np.int64),
        status=table[:, 1].astype(np.int8),
        score=table[:, 2],
        passed=table[:, 3],
        evaluator=table[:, 4],
        cost=table[:, 5],
        latency=table[:, 6],
        ttft=table[:, 7],
        input_tokens=table[:, 8],
        output_tokens=table[:, 9],
    )


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
    """Pairwise evaluator judgements of a run by its own evaluator profile, for the Bradley–Terry
    ratings (one per pair of arms, task instance and sample; pairs without a verdict left out)."""
    from experiments.judging import run_profile_id
    from experiments.models import PairwiseEvaluation, Run

    profile_id = run_profile_id(Run.objects.filter(pk=run_id).values_list("snapshot", flat=True).first() or {})
    if profile_id is None:
        return []
    rows = (
        PairwiseEvaluation.objects.filter(run_id=run_id, profile_id=profile_id, outcome__isnull=False)
        .order_by("pk")
        .values_list("task_instance__case_id", "attempt_a__arm_id", "attempt_b__arm_id", "outcome")
    )
    return [PairwiseJudgement(case_id, arm_a, arm_b, outcome) for case_id, arm_a, arm_b, outcome in rows]


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
