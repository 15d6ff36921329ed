"""Writes for datasets, experiments and runs. The attempt pipeline itself is `experiments.execution`."""

from __future__ import annotations

import functools
import logging
import math
import subprocess
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, QuerySet
from django.utils import timezone

from benchhub.api.errors import Conflict, PayloadTooLarge, PolicyDenied, ValidationFailed
from evaluation.scorers import ScorerConfigError, scorers_validate
from evaluation.services import slow_score_keys
from experiments import limits, prompts
from experiments.bulk import insert_attempts_for_run, insert_task_instances_for_run
from experiments.datasets import DatasetInvalid, DatasetTooLarge, ParsedDataset, dataset_parse, rows_validate
from experiments.judging import attempts_awaiting_evaluation
from experiments.models import (
    Arm,
    Attempt,
    AttemptStatus,
    Case,
    ChunkStatus,
    Dataset,
    Experiment,
    Run,
    RunChunk,
    RunStatus,
    StopReason,
    TaskInstance,
)
from orgs.models import Organization, User

logger = logging.getLogger("benchhub.runs")

# Arm config keys that CompletionRequest takes as fields; the rest go to `extra` (see API.md).
# --- datasets ----------------------------------------------------------------------------------


def dataset_create(
    *, org: Organization, name: str, kind: str, content: bytes, filename: str = "", created_by: User | None = None
) -> tuple[Dataset, bool]:
    """Validate a whole uploaded file and store it as a new version (or return the identical one).

    Every bad row comes back as `ValidationFailed(details=[{line, field, message}, ...])`; nothing
    is stored for a rejected file because nothing is written before the whole file validated.
    """
    try:
        parsed = dataset_parse(
            content=content,
            kind=kind,
            filename=filename,
            max_rows=settings.BENCHHUB_DATASET_MAX_ROWS,
            max_bytes=settings.BENCHHUB_DATASET_MAX_BYTES,
        )
    except DatasetTooLarge as exc:
        raise PayloadTooLarge(str(exc)) from exc
    except DatasetInvalid as exc:
        raise ValidationFailed(
            f"The file has {len(exc.errors)} problem(s); nothing was stored.",
            details=[e.as_dict() for e in exc.errors],
        ) from exc
    return _dataset_store(org=org, name=name, parsed=parsed, created_by=created_by, metadata={"filename": filename})


def dataset_create_from_rows(
    *,
    org: Organization,
    name: str,
    kind: str,
    rows: list[dict[str, Any]],
    source: str,
    created_by: User | None = None,
    metadata: dict[str, Any] | None = None,
) -> tuple[Dataset, bool]:
    """Store rows built by a program (PR ingestion, the data-cleaning builder) after the same checks."""
    try:
        parsed = rows_validate(kind=kind, numbered=list(enumerate(rows, start=1)), source=source)
    except DatasetInvalid as exc:
        raise ValidationFailed("The built rows are invalid.", details=[e.as_dict() for e in exc.errors]) from exc
    if len(parsed.rows) > settings.BENCHHUB_DATASET_MAX_ROWS:
        raise PayloadTooLarge(f"{len(parsed.rows)} rows; the limit is {settings.BENCHHUB_DATASET_MAX_ROWS}")
    return _dataset_store(org=org, name=name, parsed=parsed, created_by=created_by, metadata=metadata or {})


def _dataset_store(
    *, org: Organization, name: str, parsed: ParsedDataset, created_by: User | None, metadata: dict[str, Any]
) -> tuple[Dataset, bool]:
    name = name.strip()
    if not name:
        raise ValidationFailed(details=[{"line": 0, "field": "name", "message": "is required"}])
    for _ in range(3):  # two concurrent uploads of one name race for the next version number
        existing = Dataset.objects.filter(org=org, name=name, checksum=parsed.checksum).first()
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                version = (Dataset.objects.filter(org=org, name=name).aggregate(v=Max("version"))["v"] or 0) + 1
                dataset = Dataset.objects.create(
                    org=org, name=name, version=version, kind=parsed.kind, rows=len(parsed.rows),
                    checksum=parsed.checksum, source=parsed.source, metadata=metadata, created_by=created_by,
                )
                Case.objects.bulk_create(
                    [
                        Case(dataset=dataset, case_id=row["id"], kind=parsed.kind, position=i, payload=row)
                        for i, row in enumerate(parsed.rows)
                    ],
                    batch_size=1000,
                )
            return dataset, True
        except IntegrityError:
            continue
    raise Conflict("Another upload of this dataset name is in progress; try again.")


# --- experiments -------------------------------------------------------------------------------


def arm_labels(arms: list[dict[str, Any]]) -> list[str]:
    """`provider:model`, plus `#N` (1-based within that model) when a model appears more than once."""
    keys = [f"{a['provider']}:{a['model']}" for a in arms]
    counts = Counter(keys)
    seen: Counter[str] = Counter()
    labels = []
    for key in keys:
        seen[key] += 1
        labels.append(key if counts[key] == 1 else f"{key}#{seen[key]}")
    return labels


def arms_check_allowed(*, org: Organization, arms: list[dict[str, Any]]) -> None:
    """The allowlist and the credentials, checked before anything is stored or called."""
    from providers.gateway import endpoint_check, policy_check
    from providers.interface import ErrorType, ProviderError

    problems = []
    for index, arm in enumerate(arms):
        try:
            policy_check(org_id=org.pk, provider=arm["provider"], model=arm["model"])
        except ProviderError as exc:
            if exc.type == ErrorType.POLICY_DENIED:
                raise PolicyDenied(
                    f"arms[{index}]: {arm['provider']}:{arm['model']} is not on the organisation's allowlist.",
                    details={"arm": index, "provider": arm["provider"], "model": arm["model"]},
                ) from exc
            problems.append({"field": f"arms[{index}]", "message": exc.message})
            continue
        try:
            endpoint_check(org_id=org.pk, provider=arm["provider"])
        except ProviderError as exc:
            problems.append({"field": f"arms[{index}]", "message": exc.message})
    if problems:
        raise ValidationFailed("Some arms cannot be called.", details=problems)


@transaction.atomic
def experiment_create(
    *,
    org: Organization,
    name: str,
    dataset: Dataset,
    arms: list[dict[str, Any]],
    scorers: list[dict[str, Any]] | None = None,
    evaluator_profile: int | None = None,
    samples_per_case: int = 1,
    seed: int = 0,
    budget_usd: Decimal | None = None,
    concurrency: int = 16,
    prompt_template: dict[str, str] | None = None,
    evaluator_budget_usd: Decimal | None = None,
    created_by: User | None = None,
) -> Experiment:
    if dataset.org_id != org.pk:
        raise ValidationFailed(details={"dataset": ["No such dataset."]})
    if not arms:
        raise ValidationFailed(details={"arms": ["At least one arm is required."]})
    for index, arm in enumerate(arms):
        if not arm.get("provider") or not arm.get("model"):
            raise ValidationFailed(details={"arms": [f"arms[{index}] needs a provider and a model."]})
        if not isinstance(arm.get("config") or {}, dict):
            raise ValidationFailed(details={"arms": [f"arms[{index}].config must be an object."]})
    limits.experiment_limits_check(arms=arms, samples_per_case=samples_per_case, rows=dataset.rows)
    try:
        scorers = scorers_validate(scorers or [])
    except ScorerConfigError as exc:
        raise ValidationFailed(str(exc), details={"scorers": [str(exc)]}) from exc
    arms_check_allowed(org=org, arms=arms)
    if evaluator_profile is not None:
        from evaluation.models import EvaluatorProfile

        if not EvaluatorProfile.objects.filter(pk=evaluator_profile).exists():
            raise ValidationFailed(details={"evaluator_profile": [f"No evaluator profile {evaluator_profile}."]})
    experiment = Experiment.objects.create(
        org=org, name=name, dataset=dataset, scorers=scorers, evaluator_profile_id=evaluator_profile,
        samples_per_case=samples_per_case, seed=seed, budget_usd=budget_usd, concurrency=concurrency,
        prompt_template=prompt_template, evaluator_budget_usd=evaluator_budget_usd, created_by=created_by,
    )
    Arm.objects.bulk_create(
        [
            Arm(experiment=experiment, provider=arm["provider"], model=arm["model"], config=arm.get("config") or {},
                position=i, label=label)
            for i, (arm, label) in enumerate(zip(arms, arm_labels(arms), strict=True))
        ]
    )
    return experiment


# --- runs --------------------------------------------------------------------------------------


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
        from importlib.metadata import PackageNotFoundError, version

        try:
            return "benchhub-" + version("benchhub")
        except PackageNotFoundError:
            return "unknown"


def _evaluator_profile_snapshot(profile_id: int | None) -> dict[str, Any] | None:
    from evaluation.evaluator import evaluator_profile_summary
    from evaluation.models import EvaluatorProfile

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


def _lanes_for(*, experiment: Experiment, chunks: int) -> int:
    if settings.CELERY_TASK_ALWAYS_EAGER or experiment.budget_usd is not None:
        # In-process execution drives one lane; a budgeted run uses one lane so that a single
        # executor sees all spent + in-flight cost and can stop exactly at the cap.
        return 1
    return max(1, min(settings.BENCHHUB_RUN_LANES, chunks, experiment.concurrency))


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
            lanes=_lanes_for(experiment=experiment, chunks=chunks),
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
        run_dispatch(run_id=run.pk)
    return run


def run_dispatch(*, run_id: int) -> None:
    """Fill the run's free lanes with pending chunks; sent once the transaction commits."""
    from experiments import execution

    if settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(lambda: execution.inline_start(run_id=run_id))
        return
    run = Run.objects.only("lanes").get(pk=run_id)
    for _ in range(max(0, run.lanes - lanes_busy(run_id=run_id))):
        if execution.chunk_enqueue_next(run_id=run_id) is None:
            break


def lanes_busy(*, run_id: int) -> int:
    """Lanes of the run at work: a chunk message on its way, or an executor (which may hold the
    chunk it drains and the next one it has gone on to, under one lease owner)."""
    chunks = RunChunk.objects.filter(run_id=run_id)
    enqueued = chunks.filter(status=ChunkStatus.ENQUEUED).count()
    executors = chunks.filter(status=ChunkStatus.RUNNING).values("lease_owner").distinct().count()
    return enqueued + executors


@transaction.atomic
def run_cancel(*, run: Run) -> Run:
    """Stop issuing calls: chunks not yet handed out end now; running executors stop at their next flush."""
    run = Run.objects.select_for_update().get(pk=run.pk)  # serialises with finalize and retry
    if run.is_terminal:
        raise Conflict(f"The run has already ended ({run.status}).")
    if run.cancel_requested_at is None:
        run.cancel_requested_at = timezone.now()
        run.stop_reason = StopReason.CANCELLED
        run.save(update_fields=["cancel_requested_at", "stop_reason", "updated_at"])
    # Pending chunks have no executor and no message: nobody else can touch their attempts.
    pending = list(
        RunChunk.objects.select_for_update().filter(run=run, status=ChunkStatus.PENDING).values_list("index", flat=True)
    )
    if pending:
        cancelled = Attempt.objects.filter(run=run, chunk__in=pending, status=AttemptStatus.QUEUED).update(
            status=AttemptStatus.CANCELLED, error_type="cancelled", error_message="The run was cancelled."
        )
        RunChunk.objects.filter(run=run, index__in=pending).update(status=ChunkStatus.DONE, finished_at=timezone.now())
        Run.objects.filter(pk=run.pk).update(done=F("done") + cancelled)
    if not RunChunk.objects.filter(run=run).exclude(status=ChunkStatus.DONE).exists():
        transaction.on_commit(lambda: run_finalize(run_id=run.pk))
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
    chunk_size = max(1, settings.BENCHHUB_RUN_CHUNK_SIZE)
    first = (RunChunk.objects.filter(run=run).aggregate(m=Max("index"))["m"] or 0) + 1
    now = timezone.now()
    new_chunks = []
    for offset in range(0, len(failed_ids), chunk_size):
        index = first + offset // chunk_size
        ids = failed_ids[offset : offset + chunk_size]
        # The status guard (status=FAILED) keeps a succeeded attempt out even if ids were stale.
        moved = Attempt.objects.filter(pk__in=ids, status=AttemptStatus.FAILED).update(
            status=AttemptStatus.QUEUED, chunk=index, queued_at=now, started_at=None, responded_at=None,
            scored_at=None, validated_at=None, error_type="", error_message="",
        )
        new_chunks.append(RunChunk(run=run, index=index, size=moved))
    RunChunk.objects.bulk_create(new_chunks)
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.QUEUED, finished_at=None, stop_reason=StopReason.NONE, message="",
        cancel_requested_at=None, done=F("done") - len(failed_ids), failed=F("failed") - len(failed_ids),
        running=0,
    )
    run_dispatch(run_id=run.pk)
    run.refresh_from_db()
    return run


SCORING_MESSAGE = "Scoring:"


def attempts_awaiting_slow_scores(*, run: Run) -> QuerySet[Attempt]:
    """Succeeded attempts of the run still missing a score of one of its slow scorers."""
    keys = slow_score_keys(specs=run.snapshot["experiment"].get("scorers") or [])
    awaiting = attempts_awaiting_evaluation(run=run)  # the evaluator is a slow scorer too
    if not keys:
        return awaiting
    return Attempt.objects.filter(run=run, status=AttemptStatus.SUCCEEDED).exclude(scores__has_keys=keys) | awaiting


def run_finalize(*, run_id: int) -> Run:
    """End a run whose chunks are all done: exact counters, the final status, `finished_at`.

    Idempotent: two executors finishing the last two chunks at once both call it; the row lock
    makes the second see a terminal run and return it unchanged.
    """
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.is_terminal:
            return run
        if RunChunk.objects.filter(run=run).exclude(status=ChunkStatus.DONE).exists():
            return run
        awaiting = attempts_awaiting_slow_scores(run=run).count()
        if awaiting:
            # Ended means scored: the slow scoring task finalizes the run once its last score lands.
            message = f"{SCORING_MESSAGE} slow scores pending for {awaiting} attempt{'s' if awaiting != 1 else ''}."
            if not run.message or run.message.startswith(SCORING_MESSAGE):
                Run.objects.filter(pk=run.pk).update(message=message)
            return run
        if run.message.startswith(SCORING_MESSAGE):
            run.message = ""
        counts = dict(
            Attempt.objects.filter(run=run).values_list("status").annotate(n=Count("pk")).values_list("status", "n")
        )
        succeeded = counts.get(AttemptStatus.SUCCEEDED, 0)
        failed = counts.get(AttemptStatus.FAILED, 0)
        cancelled = counts.get(AttemptStatus.CANCELLED, 0)
        run.done = succeeded + failed + cancelled
        run.failed = failed
        run.running = 0
        if run.cancel_requested_at is not None:
            run.status = RunStatus.CANCELLED
        elif succeeded == 0 and failed > 0:
            run.status = RunStatus.FAILED
        elif failed or cancelled or run.done < run.total:
            run.status = RunStatus.COMPLETED_WITH_ERRORS
        else:
            run.status = RunStatus.COMPLETED
        run.finished_at = timezone.now()
        run.started_at = run.started_at or run.finished_at
        run.save(update_fields=["done", "failed", "running", "status", "finished_at", "started_at", "message",
                                "updated_at"])
    logger.info("run finalized", extra={"run_id": run.pk, "status": run.status, "done": run.done})
    from leaderboards.services import run_leaderboard_schedule  # final boards, after commit
    run_leaderboard_schedule(run_id=run.pk)
    return run


def run_resume_if_stuck(*, run: Run) -> bool:
    """Embedded default (no workers, so no worker start and no beat to recover runs): a run whose
    executor died with its server process is resumed when someone looks at it."""
    if run.is_terminal or not settings.CELERY_TASK_ALWAYS_EAGER:
        return False
    if not RunChunk.objects.filter(run=run, status=ChunkStatus.RUNNING, lease_expires_at__lt=timezone.now()).exists():
        return False
    return any(runs_recover(run_ids=[run.pk]).values())


def runs_recover(*, now=None, run_ids: list[int] | None = None) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Find stuck runs and resume them. Safe to run anywhere, any number of times.

    - a RUNNING chunk whose lease expired (its executor died, e.g. SIGKILL) is enqueued again;
    - an ENQUEUED chunk nobody claimed for long (a lost message) is enqueued again;
    - a run with free lanes and pending chunks (a lost hand-over) gets its lanes filled;
    - a run whose chunks are all done but which never ended is finalized, or, while it awaits slow
      scores whose scoring message was lost long ago, those attempts are sent to scoring again.
    """
    from experiments import execution

    now = now or timezone.now()
    stats = {"requeued": 0, "dispatched": 0, "finalized": 0, "rescored": 0}
    live = Run.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).values_list("pk", flat=True)
    if run_ids is not None:
        live = live.filter(pk__in=run_ids)
    requeue_before = now - timezone.timedelta(seconds=settings.BENCHHUB_RUN_REQUEUE_AFTER_SECONDS)
    for run_id in list(live):
        stale = list(
            RunChunk.objects.filter(run_id=run_id, status=ChunkStatus.RUNNING, lease_expires_at__lt=now).values_list(
                "index", flat=True
            )
        ) + list(
            RunChunk.objects.filter(run_id=run_id, status=ChunkStatus.ENQUEUED, enqueued_at__lt=requeue_before)
            .values_list("index", flat=True)
        )
        for index in stale:
            execution.chunk_requeue(run_id=run_id, index=index)
            stats["requeued"] += 1
        chunks = Counter(RunChunk.objects.filter(run_id=run_id).values_list("status", flat=True))
        if chunks and set(chunks) == {ChunkStatus.DONE}:
            run = Run.objects.only("snapshot").get(pk=run_id)
            # Slow scores whose message was lost long ago (their scoring task never ran): again.
            lost = list(
                attempts_awaiting_slow_scores(run=run).filter(responded_at__lt=requeue_before)
                .values_list("pk", flat=True)
            )
            if lost:
                execution.slow_scoring_send(lost)
                stats["rescored"] += len(lost)
            elif run_finalize(run_id=run_id).is_terminal:
                stats["finalized"] += 1
        elif chunks.get(ChunkStatus.PENDING) and not settings.CELERY_TASK_ALWAYS_EAGER:
            with transaction.atomic():
                before = lanes_busy(run_id=run_id)
                run_dispatch(run_id=run_id)
                stats["dispatched"] += int(before < Run.objects.get(pk=run_id).lanes)
    if any(stats.values()):
        logger.warning("stuck runs recovered", extra=stats)
    return stats


# --- built datasets ----------------------------------------------------------------------------


def dataset_create_from_git(
    *, org: Organization, name: str, repo: Path, rev_range: str, test_command: str = "pytest -q",
    created_by: User | None = None,
) -> tuple[Dataset, bool]:
    from experiments.builders import GitError, pr_rows_from_git

    try:
        rows = pr_rows_from_git(repo=repo, rev_range=rev_range, test_command=test_command)
    except GitError as exc:
        raise ValidationFailed(f"Cannot read the commits: {exc}") from exc
    if not rows:
        raise ValidationFailed("The range has no commit with a parent to start from.")
    return dataset_create_from_rows(
        org=org, name=name, kind="pr", rows=rows, source="git", created_by=created_by,
        metadata={"repo": str(repo), "range": rev_range},
    )


def dataset_create_cleaning(
    *, org: Organization, name: str, clean_csv: str, rates: dict[str, float], difficulty: str = "medium",
    seed: int = 0, rows_per_case: int = 20, created_by: User | None = None,
) -> tuple[Dataset, bool]:
    from experiments.builders import CleaningConfig, data_cleaning_rows

    config = CleaningConfig(rates=rates, difficulty=difficulty, seed=seed, rows_per_case=rows_per_case)
    try:
        rows = data_cleaning_rows(clean_csv=clean_csv, config=config)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc
    return dataset_create_from_rows(
        org=org, name=name, kind="data_cleaning", rows=rows, source="builder", created_by=created_by,
        metadata={"rates": rates, "difficulty": difficulty, "seed": seed, "rows_per_case": rows_per_case},
    )
