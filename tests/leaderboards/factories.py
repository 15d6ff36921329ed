"""Runs with attempts built straight with the ORM (bulk inserts), for leaderboard tests.

`make_run` takes an `outcome(arm_index, case_index, sample)` function returning the attempt's
fields, so each test states exactly the data it ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from experiments.models import (
    Arm,
    Attempt,
    AttemptStatus,
    Case,
    Dataset,
    Experiment,
    Run,
    RunStatus,
    TaskInstance,
)
from orgs.models import Organization

Outcome = Callable[[int, int, int], dict[str, Any]]


@dataclass
class RunWorld:
    run: Run
    experiment: Experiment
    dataset: Dataset
    arms: list[Arm]
    cases: list[Case]


def make_dataset(org: Organization, *, n_cases: int, name: str = "qa-set") -> Dataset:
    version = Dataset.objects.filter(org=org, name=name).count() + 1
    dataset = Dataset.objects.create(
        org=org, name=name, version=version, kind="qa", rows=n_cases, checksum=f"{name}-{version}-{n_cases}"
    )
    Case.objects.bulk_create(
        Case(dataset=dataset, case_id=f"case-{i}", kind="qa", position=i, payload={"input": f"q{i}", "reference": "a"})
        for i in range(n_cases)
    )
    return dataset


def make_experiment(
    org: Organization, dataset: Dataset, *, arms: list[str], samples: int = 1, evaluator_profile: int | None = None
) -> tuple[Experiment, list[Arm]]:
    experiment = Experiment.objects.create(
        org=org, name="exp", dataset=dataset, samples_per_case=samples, evaluator_profile_id=evaluator_profile
    )
    made = []
    for position, spec in enumerate(arms):
        provider, _, model = spec.partition(":")
        made.append(Arm.objects.create(experiment=experiment, provider=provider, model=model, position=position,
                                       label=spec, config={"temperature": 0}))
    return experiment, made


def make_run(
    org: Organization,
    *,
    arms: list[str] | None = None,
    n_cases: int = 40,
    samples: int = 1,
    outcome: Outcome,
    status: str = RunStatus.COMPLETED,
    experiment: Experiment | None = None,
    finished_at=None,  # type: ignore[no-untyped-def]
) -> RunWorld:
    if experiment is None:
        dataset = make_dataset(org, n_cases=n_cases)
        experiment, arm_rows = make_experiment(org, dataset, arms=arms or ["mock:a", "mock:b"], samples=samples)
    else:
        dataset = experiment.dataset
        arm_rows = list(experiment.arms.order_by("position"))
    cases = list(Case.objects.filter(dataset=dataset).order_by("position"))
    now = timezone.now()
    run = Run.objects.create(
        org=org, experiment=experiment, status=status,
        snapshot={"evaluator_profile": experiment.evaluator_profile_id},
        total=len(cases) * len(arm_rows) * samples,
        started_at=now - timedelta(minutes=5),
        finished_at=(finished_at or now) if status != RunStatus.RUNNING else None,
    )
    instances = TaskInstance.objects.bulk_create(
        TaskInstance(run=run, case=case, position=i) for i, case in enumerate(cases)
    )
    attempts = []
    for ci, instance in enumerate(instances):
        for ai, arm in enumerate(arm_rows):
            for sample in range(samples):
                fields = {"status": AttemptStatus.SUCCEEDED, "latency_ms": 1000.0, "output_tokens": 100,
                          "input_tokens": 50, "cost_usd": Decimal("0.001")}
                fields.update(outcome(ai, ci, sample))
                if fields.get("cost_usd") is not None and not isinstance(fields["cost_usd"], Decimal):
                    fields["cost_usd"] = Decimal(str(fields["cost_usd"]))
                attempts.append(Attempt(run=run, task_instance=instance, arm=arm, sample=sample, queued_at=now,
                                        **fields))
    Attempt.objects.bulk_create(attempts, batch_size=2000)
    return RunWorld(run=run, experiment=experiment, dataset=dataset, arms=arm_rows, cases=cases)


def scored(score: float, *, passed: bool | None = None, **extra: Any) -> dict[str, Any]:
    """The fields of a succeeded attempt with a rule score (pass = score ≥ 0.5 unless given)."""
    return {"status": AttemptStatus.SUCCEEDED, "score_value": score,
            "passed": score >= 0.5 if passed is None else passed, **extra}


def make_isolation_objects(org: Organization) -> RunWorld:
    """A finished run with its boards computed: the objects isolation tests aim at from another org."""
    from leaderboards.services import run_leaderboard_compute

    world = make_run(org, n_cases=5, outcome=lambda ai, ci, sample: scored(float(ai == 0)))
    run_leaderboard_compute(run_id=world.run.pk)
    return world
