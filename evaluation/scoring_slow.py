"""Slow scorers (sandboxed tests, data-cleaning metrics, the evaluator) applied after an attempt lands.

Idempotent: a scorer whose key is already in `Attempt.scores` is not run again, so a redelivered
task re-scores nothing.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from evaluation.scorers import ScoreInput
from evaluation.services import case_reference, scores_summarize, scoring_plan_build


def attempts_score_slow(*, attempt_ids: list[int]) -> int:
    from experiments.models import Attempt, AttemptStatus

    attempts = list(
        Attempt.objects.filter(pk__in=attempt_ids, status=AttemptStatus.SUCCEEDED).select_related(
            "run", "task_instance__case"
        )
    )
    changed = []
    for attempt in attempts:
        plan = scoring_plan_build(specs=attempt.run.snapshot["experiment"].get("scorers") or [])
        case = attempt.task_instance.case
        item = ScoreInput(output=attempt.output, reference=case_reference(case.kind, case.payload), case=case.payload)
        scores = dict(attempt.scores)
        for key, scorer in plan.slow:
            if key not in scores:
                scores[key] = scorer.score(item).as_dict()
        if scores != attempt.scores:
            summary = scores_summarize(scores)
            attempt.scores, attempt.score_value, attempt.passed = summary.scores, summary.score_value, summary.passed
            attempt.scored_at = timezone.now()
            changed.append(attempt)
    with transaction.atomic():
        Attempt.objects.bulk_update(changed, ["scores", "score_value", "passed", "scored_at"])
    return len(changed)
