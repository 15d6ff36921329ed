"""Writes of the leaderboards app: (re)compute and persist a run's aggregates."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from experiments.models import Arm, Run
from experiments.outcomes import (
    attempt_failures_for_run,
    attempt_outcomes_for_run,
    evaluator_pairwise_judgements_for_run,
)
from leaderboards import aggregation, cleaning, stats
from leaderboards.models import ArmAggregate, BoardState, RunLeaderboard

logger = logging.getLogger(__name__)

# The task that recomputes a run's boards (leaderboards.tasks), sent by name.
REFRESH_TASK = "leaderboards.refresh"


def evaluator_profile_key(snapshot: dict) -> str:
    """The evaluator profile version a run was scored with, read from its frozen snapshot.

    Attempts carry no profile of their own: a run's snapshot freezes one profile for all its
    attempts, so the run is the unit that says which scores may be combined. A profile version is
    one row (its id); a snapshot may hold the id or an object with it. "" = no evaluator.
    """
    profile = (snapshot or {}).get("evaluator_profile")
    if profile in (None, "", {}):
        return ""
    if isinstance(profile, dict):
        ident = profile.get("id")
        version = profile.get("version")
        return f"{ident}" if version is None else f"{ident}:v{version}"
    return str(profile)


def arm_key(arm: Arm) -> str:
    """The same provider + model + config in two experiments is one arm across runs."""
    config = json.dumps(arm.config or {}, sort_keys=True, separators=(",", ":"))
    return f"{arm.provider}:{arm.model}:{hashlib.sha256(config.encode()).hexdigest()[:10]}"


def run_leaderboard_compute(*, run_id: int, seed: int = stats.DEFAULT_SEED, n_boot: int = stats.DEFAULT_BOOTSTRAP) -> RunLeaderboard:
    """Aggregate a run's attempts into its boards and per-arm stats, and persist both.

    Final when the run has ended, partial otherwise. Idempotent: recomputing replaces the
    aggregates and bumps `version`, which retires every cached copy. Safe to call again after a
    replay or backfill changed scores.
    """
    started = time.perf_counter()
    run = Run.objects.select_related("experiment").get(pk=run_id)
    arms = list(Arm.objects.filter(experiment_id=run.experiment_id).order_by("position"))
    outcomes = attempt_outcomes_for_run(run_id=run_id)
    present = {int(x) for x in set(outcomes.arm.tolist())}
    arms = [arm for arm in arms if arm.pk in present]
    arm_stats = [aggregation.arm_case_stats(outcomes, arm.pk) for arm in arms]
    labels = [arm.label for arm in arms]
    index = {arm.pk: i for i, arm in enumerate(arms)}
    judgements = aggregation.judgements_as_indices(evaluator_pairwise_judgements_for_run(run_id=run_id), index)
    boards = aggregation.compute_boards(labels, arm_stats, seed=seed, n_boot=n_boot, judgements=judgements)
    failures = _failure_taxonomy(run_id=run_id, labels={arm.pk: arm.label for arm in arms})
    profile = evaluator_profile_key(run.snapshot)
    state = BoardState.FINAL if run.is_terminal else BoardState.PARTIAL
    ended = int(((outcomes.status == 0) | (outcomes.status == 1) | (outcomes.status == 2)).sum())

    persist = functools.partial(_persist, run=run, arms=arms, arm_stats=arm_stats, boards=boards,
                                failures=failures, profile=profile, state=state, ended=ended, seed=seed,
                                n_boot=n_boot, started=started)
    try:
        board = persist()
    except IntegrityError:
        # SQLite has no row locks: a concurrent first computation inserted the board; ours replaces it.
        board = persist()
    board.compute_seconds = round(time.perf_counter() - started, 3)
    RunLeaderboard.objects.filter(pk=board.pk).update(compute_seconds=board.compute_seconds)
    logger.info("leaderboard computed", extra={"run_id": run_id, "state": state, "attempts": len(outcomes),
                                                "seconds": board.compute_seconds})
    return board


def _persist(*, run: Run, arms: list[Arm], arm_stats: list, boards: Any, failures: dict, profile: str,
             state: str, ended: int, seed: int, n_boot: int, started: float) -> RunLeaderboard:
    with transaction.atomic():
        # Lock the run, not the board: the board may not exist yet, and two first computations
        # (the end-of-run task and a reader) must not both insert it.
        Run.objects.select_for_update().filter(pk=run.pk).values_list("pk", flat=True).first()
        board = RunLeaderboard.objects.select_for_update().filter(run=run).first()
        if board is None:
            board = RunLeaderboard(org_id=run.org_id, run=run)
        board.version += 1
        board.state = state
        board.computed_at = timezone.now()
        board.attempts_ended = ended
        board.evaluator_profile = profile
        board.boards = boards.board_dict()
        board.pairwise = boards.pairwise
        board.frontier = boards.frontier
        board.failures = failures
        board.params = {"seed": seed, "bootstrap": n_boot, "bt_bootstrap": min(n_boot, aggregation.BT_BOOTSTRAP),
                        "cases": boards.cases, "confidence": stats.CONFIDENCE,
                        "evaluator_trust": _evaluator_trust(run)}
        board.compute_seconds = round(time.perf_counter() - started, 3)
        board.save()
        ArmAggregate.objects.filter(run=run).delete()
        aggregates = ArmAggregate.objects.bulk_create(
            ArmAggregate(
                org_id=run.org_id, run=run, experiment_id=run.experiment_id,
                dataset_id=run.experiment.dataset_id, arm=arm, arm_key=arm_key(arm),
                provider=arm.provider, model=arm.model, label=arm.label,
                evaluator_profile=profile, run_finished_at=run.finished_at or run.started_at or run.created_at,
                version=board.version, metrics=aggregation.trend_metrics(boards, arm.label),
                case_stats=s.to_bytes(),
            )
            for arm, s in zip(arms, arm_stats, strict=True)
        )
        cleaning.run_cleaning_persist(run=run, board=board, aggregates=aggregates, seed=seed, n_boot=n_boot)
    return board


def _evaluator_trust(run: Run) -> dict | None:
    """Shown beside the evaluator board: how far to trust this run's judge. Its pass against the PR
    tests' pass on this run (κ, confusion matrix) and its position bias over all its pairs."""
    from experiments.judging import evaluator_calibration, evaluator_position_bias, run_profile_id

    profile_id = run_profile_id(run.snapshot)
    if profile_id is None:
        return None
    return {"calibration": evaluator_calibration(run_id=run.pk, profile_id=profile_id),
            "position_bias": evaluator_position_bias(profile_id=profile_id)}


def _failure_taxonomy(*, run_id: int, labels: dict[int, str]) -> dict:
    by_arm: dict[str, dict[str, int]] = {}
    by_type: dict[str, int] = {}
    for row in attempt_failures_for_run(run_id=run_id):
        label = labels.get(row.arm_id, str(row.arm_id))
        by_arm.setdefault(label, {})[row.error_type] = row.count
        by_type[row.error_type] = by_type.get(row.error_type, 0) + row.count
    return {"total": sum(by_type.values()), "by_type": dict(sorted(by_type.items())),
            "by_arm": {k: dict(sorted(v.items())) for k, v in sorted(by_arm.items())}}
