"""Runs: start (with its frozen snapshot), cancel, retry the failures. Every transition they cause
is made by `experiments.lifecycle`; the attempts are executed by `experiments.pipeline`."""

from __future__ import annotations

import functools
import math
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from benchhub.api.errors import Conflict, ValidationFailed
from evaluation.evaluator import evaluator_profile_summary
from evaluation.models import EvaluatorProfile
from experiments import lifecycle, limits, prompts
from experiments.bulk import insert_attempts_for_run, insert_task_instances_for_run
from experiments.models import Arm, Attempt, AttemptStatus, Experiment, Run, RunChunk, RunStatus, TaskInstance
from experiments.services import arms_check_allowed
from orgs.models import User


@functools.cache
def code_version() -> str:
    """The commit the code runs from, frozen into each snapshot (package version when not in git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent.parent,
            capture_output=True, text=True, timeout=5, check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        try:
            return "benchhub-" + version("benchhub")
        except PackageNotFoundError:
            return "unknown"


def _evaluator_profile_snapshot(profile_id: int | None) -> dict[str, Any] | None:
    profile = EvaluatorProfile.objects.filter(pk=profile_id).first() if profile_id is not None else None
    return evaluator_profile_summary(profile) if profile is not None else None


def run_snapshot(*, experiment: Experiment, arms: list[Arm]) -> dict[str, Any]:
    dataset = experiment.dataset
    template = prompts.template_for(dataset.kind, experiment.prompt_template)
    return {
        "experiment": {
            "id": experiment.pk, "name": experiment.name, "scorers": experiment.scorers,
            "samples_per_case": experiment.samples_per_case, "seed": experiment.seed,
            "budget_usd": str(experiment.budget_usd) if experiment.budget_usd is not None else None,
            "concurrency": experiment.concurrency,
            "evaluator_budget_usd": (
                str(experiment.evaluator_budget_usd) if experiment.evaluator_budget_usd is not None else None
            ),
        },
        "evaluator_profile": _evaluator_profile_snapshot(experiment.evaluator_profile_id),
        "arms": [
            {"id": a.pk, "label": a.label, "provider": a.provider, "model": a.model, "config": a.config}
            for a in arms
        ],
        "dataset": {
            "id": dataset.pk, "name": dataset.name, "version": dataset.version, "kind": dataset.kind,
            "rows": dataset.rows, "checksum": dataset.checksum,
        },
        "prompt_template": {**template, "hash": prompts.template_hash(template)},
        "code_version": code_version(),
    }


def run_start(*, experiment: Experiment, started_by: User | None = None) -> Run:
    """Freeze a snapshot, create every task instance and attempt, and hand the run to the executors.

    Returns at once: execution happens on Celery workers (or a background thread without a broker).
    """
    arms = list(experiment.arms.order_by("position"))
    arms_check_allowed(org=experiment.org, arms=[{"provider": a.provider, "model": a.model} for a in arms])
    cases = list(experiment.dataset.cases.order_by("position").values_list("pk", "position"))
    if not cases:
        raise ValidationFailed("The dataset has no cases.")
    limits.run_size_check(attempts=len(cases) * len(arms) * experiment.samples_per_case)
    chunk_size = max(1, settings.BENCHHUB_RUN_CHUNK_SIZE)
    with transaction.atomic():
        total = len(cases) * len(arms) * experiment.samples_per_case
        chunks = math.ceil(total / chunk_size)
        run = Run.objects.create(
            org_id=experiment.org_id, experiment=experiment, status=RunStatus.QUEUED,
            snapshot=run_snapshot(experiment=experiment, arms=arms), total=total, created_by=started_by,
            lanes=lifecycle.run_lanes(chunks=chunks, concurrency=experiment.concurrency,
                                      budgeted=experiment.budget_usd is not None),
        )
        now = timezone.now()
        # Arms are interleaved within each chunk so that every chunk exercises every arm: progress
        # and failures show up for all arms from the start rather than arm by arm.
        if connection.vendor == "postgresql":
            insert_task_instances_for_run(run_id=run.pk, dataset_id=experiment.dataset_id)
            insert_attempts_for_run(run_id=run.pk, experiment_id=experiment.pk, chunk_size=chunk_size,
                                    samples=experiment.samples_per_case, queued_at=now)
        else:
            instances = TaskInstance.objects.bulk_create(
                [TaskInstance(run=run, case_id=case_pk, position=position) for case_pk, position in cases],
                batch_size=2000,
            )
            attempts = []
            for instance in instances:
                for sample in range(experiment.samples_per_case):
                    for arm in arms:
                        attempts.append(
                            Attempt(run=run, task_instance=instance, arm=arm, sample=sample,
                                    chunk=len(attempts) // chunk_size, queued_at=now)
                        )
            Attempt.objects.bulk_create(attempts, batch_size=2000)
        RunChunk.objects.bulk_create(
            [RunChunk(run=run, index=i, size=min(chunk_size, total - i * chunk_size)) for i in range(chunks)]
        )
        lifecycle.run_dispatch(run_id=run.pk)
    return run


@transaction.atomic
def run_cancel(*, run: Run) -> Run:
    """Stop issuing calls: chunks not yet handed out end now; running executors stop at their next flush."""
    run = lifecycle.run_cancel_request(run_id=run.pk)
    run.refresh_from_db()
    return run


@transaction.atomic
def run_retry_failed(*, run: Run) -> Run:
    """Queue again the failed attempts of an ended run — only those: succeeded ones keep their result."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    if not run.is_terminal:
        raise Conflict("The run is still in progress; retry its failures once it has ended.")
    failed_ids = list(
        Attempt.objects.filter(run=run, status=AttemptStatus.FAILED).order_by("pk").values_list("pk", flat=True)
    )
    if not failed_ids:
        raise Conflict("The run has no failed attempts to retry.")
    lifecycle.run_requeue_attempts(run_id=run.pk, attempt_ids=failed_ids)
    run.refresh_from_db()
    return run
