"""Slow scorers (sandboxed tests, data-cleaning metrics, the evaluator) applied after an attempt lands.

Idempotent: a scorer whose key is already in `Attempt.scores` is not run again, so a redelivered
task re-scores nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from evaluation.services import ScoringPlan, scores_compute, scores_summarize, scoring_plan_build


def attempts_score_slow(*, attempt_ids: list[int]) -> int:
    from experiments.judging import attempts_judge
    from experiments.models import Attempt, AttemptStatus
    from experiments.services import run_finalize

    attempts = list(
        Attempt.objects.filter(pk__in=attempt_ids, status=AttemptStatus.SUCCEEDED).select_related(
            "run", "task_instance__case"
        )
    )
    changed = []
    plans: dict[int, ScoringPlan] = {}  # one per run, not one per attempt: building one builds every scorer
    for attempt in attempts:
        plan = plans.get(attempt.run_id)
        if plan is None:
            specs = attempt.run.snapshot["experiment"].get("scorers") or []
            plan = plans[attempt.run_id] = scoring_plan_build(specs=specs)
        case = attempt.task_instance.case
        artifacts: dict[str, Any] = {}
        new = scores_compute(plan.slow, output=attempt.output, case_kind=case.kind, payload=case.payload,
                             skip=set(attempt.scores), artifacts=artifacts)
        if "patch" in artifacts:
            attempt.patch = artifacts["patch"]
        if "validation" in artifacts:
            attempt.validation, attempt.validated_at = artifacts["validation"], timezone.now()
        if new:
            summary = scores_summarize({**attempt.scores, **new})
            attempt.scores, attempt.score_value, attempt.passed = summary.scores, summary.score_value, summary.passed
            attempt.scored_at = timezone.now()
            changed.append(attempt)
    with transaction.atomic():
        Attempt.objects.bulk_update(
            changed, ["scores", "score_value", "passed", "scored_at", "patch", "validation", "validated_at"])
    # The evaluator last: it sees the patch and validation results the slow scorers above produced.
    attempts_judge(attempt_ids=[attempt.pk for attempt in attempts])
    # A run whose chunks are all done waits for its slow scores; these may have been the last.
    for run_id in sorted({attempt.run_id for attempt in attempts}):
        run_finalize(run_id=run_id)
    return len(changed)
