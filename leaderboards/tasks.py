"""Celery tasks of the leaderboards app: thin, by id, safe to run twice (a recompute replaces)."""

from __future__ import annotations

from celery import shared_task

from leaderboards.services import REFRESH_TASK, run_leaderboard_compute


@shared_task(acks_late=True, name=REFRESH_TASK)
def leaderboard_refresh(run_id: int) -> int:
    return run_leaderboard_compute(run_id=run_id).version
