"""Celery tasks of runs: thin, idempotent, keyed by ids. Sent by name through `benchhub.dispatch`."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import DatabaseError, InterfaceError

from evaluation.models import EvaluatorProfile
from experiments import judging, lifecycle, scoring
from experiments.models import Run
from experiments.pipeline.executor import chunk_execute

logger = logging.getLogger("benchhub.runs")


@shared_task(
    name="experiments.attempts_execute",
    bind=True,
    # Safe to run twice: claiming the chunk is conditional and ended attempts are never called again.
    acks_late=True,
    reject_on_worker_lost=True,
    # The database going away mid-chunk leaves every unfinished attempt unfinished (nothing terminal
    # is written on the way out), so Celery's own retry resumes exactly where the chunk stopped.
    autoretry_for=(DatabaseError, InterfaceError),
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=False,
    max_retries=8,
)
def attempts_execute(self, run_id: int, chunk_index: int) -> str:  # type: ignore[no-untyped-def]
    # The task id is the lease token: a retry or redelivery of this very message may take its own
    # chunk back at once instead of waiting for the lease to expire.
    return chunk_execute(run_id=run_id, index=chunk_index, token=self.request.id).value


@shared_task(name="experiments.attempts_score_slow", acks_late=True)
def attempts_score_slow(attempt_ids: list[int]) -> int:
    return scoring.attempts_score_slow(attempt_ids=attempt_ids)


@shared_task(name="experiments.runs_recover", acks_late=True)
def runs_recover() -> dict[str, int]:
    return lifecycle.runs_recover()


@worker_ready.connect
def _recover_on_worker_start(sender=None, **_: object) -> None:  # type: ignore[no-untyped-def]
    """A worker that (re)starts looks for runs left behind by a dead one before taking new work."""
    try:
        lifecycle.runs_recover()
    except Exception:  # never keep a worker from starting
        logger.exception("run recovery at worker start failed")


@shared_task(name="experiments.evaluator_replay", acks_late=True)  # safe twice: stored verdicts are skipped
def evaluator_replay(run_id: int, profile_id: int) -> dict[str, int]:
    return judging.evaluator_replay(run=Run.objects.get(pk=run_id), profile=EvaluatorProfile.objects.get(pk=profile_id)).as_dict()
