"""Slow scorers (sandboxed tests, data-cleaning metrics, the evaluator) applied after an attempt lands.

Runs as the `experiments.attempts_score_slow` task on the scoring queue. A slow scorer's artifacts
(`Score.artifacts`) land on the attempt beside its score: `patch` -> `Attempt.patch`, `validation`
-> `Attempt.validation` (and `validated_at`). Idempotent: a scorer whose key is already in
`Attempt.scores` is not run again, so a redelivered task re-scores nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from evaluation.scorers import Score
from evaluation.services import ScoringPlan, scores_run, scores_summarize, scoring_plan_build
from experiments import lifecycle
from experiments.judging import attempts_judge
from experiments.models import Attempt, AttemptStatus

SCORE_FIELDS = ["scores", "score_value", "passed", "scored_at"]
# Score.artifacts keys -> the attempt field each is stored in.
ARTIFACT_FIELDS = {"patch": "patch", "validation": "validation"}


def _artifacts_apply(attempt: Attempt, new: dict[str, Score], now: Any) -> set[str]:
    """Copy the scorers' artifacts onto the attempt; the names of the fields that changed."""
    changed: set[str] = set()
    for score in new.values():
        for key, value in score.artifacts.items():
            field = ARTIFACT_FIELDS.get(key)
            if field is None:
                continue
            setattr(attempt, field, value)
            changed.add(field)
            if field == "validation":
                attempt.validated_at = now
                changed.add("validated_at")
    return changed


def attempts_score_slow(*, attempt_ids: list[int]) -> int:
    attempts = list(
        Attempt.objects.filter(pk__in=attempt_ids, status=AttemptStatus.SUCCEEDED).select_related(
            "run", "task_instance__case"
        )
    )
    changed: list[Attempt] = []
    fields = set(SCORE_FIELDS)
    plans: dict[int, ScoringPlan] = {}  # one per run, not one per attempt: building one builds every scorer
    for attempt in attempts:
        plan = plans.get(attempt.run_id)
        if plan is None:
            specs = attempt.run.snapshot["experiment"].get("scorers") or []
            plan = plans[attempt.run_id] = scoring_plan_build(specs=specs)
        case = attempt.task_instance.case
        new = scores_run(plan.slow, output=attempt.output, case_kind=case.kind, payload=case.payload,
                         skip=set(attempt.scores))
        if new:
            now = timezone.now()
            summary = scores_summarize({**attempt.scores, **{key: s.as_dict() for key, s in new.items()}})
            attempt.scores, attempt.score_value, attempt.passed = summary.scores, summary.score_value, summary.passed
            attempt.scored_at = now
            fields |= _artifacts_apply(attempt, new, now)
            changed.append(attempt)
    with transaction.atomic():
        Attempt.objects.bulk_update(changed, sorted(fields))
    # The evaluator last: it sees the patch and validation results the slow scorers above produced.
    attempts_judge(attempt_ids=[attempt.pk for attempt in attempts])
    # A run whose chunks are all done waits for its slow scores; these may have been the last.
    for run_id in sorted({attempt.run_id for attempt in attempts}):
        lifecycle.run_finalize(run_id=run_id)
    return len(changed)
