"""Builders for experiments tests: datasets, experiments with mock arms, and waiting for runs."""

from __future__ import annotations

import json
import time
from typing import Any

from experiments.models import Dataset, Experiment, Run
from experiments.services import dataset_create, experiment_create
from orgs.models import Organization


def qa_rows(n: int, *, prefix: str = "case") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}-{i}", "input": f"What is {i} + 1?", "reference": str(i + 1)} for i in range(n)]


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


def allow(org: Organization, *providers: str) -> None:
    from providers.services import policy_set

    policy_set(org=org, rules=[{"provider": p, "models": ["*"]} for p in providers])


def make_dataset(org: Organization, n: int = 10, *, name: str = "qa") -> Dataset:
    dataset, _ = dataset_create(org=org, name=name, kind="qa", content=jsonl(qa_rows(n)), filename="d.jsonl")
    return dataset


def mock_arm(model: str, **config: Any) -> dict[str, Any]:
    return {"provider": "mock", "model": model, "config": config}


def make_experiment(
    org: Organization, *, cases: int = 10, arms: list[dict[str, Any]] | None = None, **fields: Any
) -> Experiment:
    allow(org, "mock", "local")
    fields.setdefault("scorers", [{"type": "numeric"}])
    return experiment_create(
        org=org, name=fields.pop("name", "exp"), dataset=fields.pop("dataset", None) or make_dataset(org, cases),
        arms=arms or [mock_arm("a"), mock_arm("b")], **fields,
    )


def wait_for(run: Run, *, timeout: float = 120, until=None) -> Run:  # type: ignore[no-untyped-def]
    """Poll the run row until it ended (or `until(run)` holds). Fails the test on timeout."""
    from django.db import OperationalError

    deadline = time.monotonic() + timeout
    while True:
        try:
            run = Run.objects.get(pk=run.pk)
        except OperationalError:  # in-memory SQLite shared by threads answers "table is locked"
            time.sleep(0.05)
            continue
        if until is not None and until(run):
            return run
        if until is None and run.is_terminal:
            # An in-process run's thread still finishes its after-run work (the leaderboard hook):
            # let it, so that the next test starts on a quiet database.
            from benchhub.dispatch import background_wait

            background_wait(timeout=60)
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run.pk} still {run.status} ({run.done}/{run.total}) after {timeout}s")
        time.sleep(0.1)


def make_unstarted_run(org: Organization) -> Run:
    """A run with its task instances and attempts stored but not handed to any executor."""
    from django.utils import timezone

    from experiments.models import Attempt, TaskInstance
    from experiments.runs import run_snapshot

    experiment = make_experiment(org, cases=2)
    arms = list(experiment.arms.all())
    run = Run.objects.create(
        org=org, experiment=experiment, total=2 * len(arms), snapshot=run_snapshot(experiment=experiment, arms=arms)
    )
    for case in experiment.dataset.cases.all():
        instance = TaskInstance.objects.create(run=run, case=case, position=case.position)
        for arm in arms:
            Attempt.objects.create(run=run, task_instance=instance, arm=arm, queued_at=timezone.now())
    return run
