"""Slow scorers run here, on the scoring queue, after the attempt's result is stored."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="evaluation.attempts_score_slow", acks_late=True)
def attempts_score_slow(attempt_ids: list[int]) -> int:
    from evaluation.scoring_slow import attempts_score_slow as score

    return score(attempt_ids=attempt_ids)
