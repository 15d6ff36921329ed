"""Data-cleaning runs for board and API tests: a real builder dataset, attempts scored by the real scorer.

`make_cleaning_run` takes, per arm label, a function `(case payload, sample) -> answer text`; each
attempt is scored by `data_cleaning` exactly as the slow-scoring path does (`scores_compute`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from evaluation.services import scores_compute, scores_summarize, scoring_plan_build
from experiments.builders import CleaningConfig, data_cleaning_rows
from experiments.models import (
    Attempt,
    AttemptStatus,
    Case,
    Dataset,
    Experiment,
    Run,
    RunStatus,
    TaskInstance,
)
from experiments.runs import run_snapshot
from experiments.services import dataset_create_from_rows
from orgs.models import Organization
from tests.leaderboards.factories import make_experiment

Answer = Callable[[dict[str, Any], int], str | None]  # None: the attempt failed (provider error)

PEOPLE = "id,name,age,city\n" + "".join(
    f"{i},{name},{20 + (i * 7) % 45},{city}\n"
    for i, (name, city) in enumerate(
        [("Ann", "Oslo"), ("Bob", "Rome"), ("Cid", "Lima"), ("Dee", "Kyiv"), ("Eve", "Pune"), ("Fay", "Bern"),
         ("Gus", "Oslo"), ("Hal", "Rome"), ("Ida", "Lima"), ("Jon", "Kyiv"), ("Kim", "Pune"), ("Lou", "Bern"),
         ("Max", "Oslo"), ("Ned", "Rome"), ("Oda", "Lima"), ("Pia", "Kyiv")],
        start=1,
    )
)
RATES = {"accuracy": 0.1, "completeness": 0.1, "consistency": 0.1, "uniqueness": 0.25}


def cleaning_dataset(org: Organization, *, name: str = "people", rows_per_case: int = 4) -> Dataset:
    """Easy and hard cases from the same clean table (4 each with the defaults)."""
    rows = [
        *data_cleaning_rows(clean_csv=PEOPLE, config=CleaningConfig(rates=RATES, difficulty="easy", seed=11,
                                                                     rows_per_case=rows_per_case)),
        *data_cleaning_rows(clean_csv=PEOPLE, config=CleaningConfig(rates=RATES, difficulty="hard", seed=12,
                                                                     rows_per_case=rows_per_case)),
    ]
    dataset, _ = dataset_create_from_rows(org=org, name=name, kind="data_cleaning", rows=rows, source="builder")
    return dataset


def cleaning_experiment(org: Organization, dataset: Dataset, *, arms: list[str], samples: int = 1) -> Experiment:
    experiment, _ = make_experiment(org, dataset, arms=arms, samples=samples)
    experiment.scorers = [{"type": "data_cleaning"}]
    experiment.save(update_fields=["scorers"])
    return experiment


def make_cleaning_run(
    org: Organization, *, answers: dict[str, Answer], samples: int = 1, experiment: Experiment | None = None,
    dataset: Dataset | None = None,
) -> Run:
    if experiment is None:
        experiment = cleaning_experiment(org, dataset or cleaning_dataset(org), arms=list(answers), samples=samples)
    arms = list(experiment.arms.order_by("position"))
    cases = list(Case.objects.filter(dataset=experiment.dataset).order_by("position"))
    now = timezone.now()
    run = Run.objects.create(
        org=org, experiment=experiment, status=RunStatus.COMPLETED,
        snapshot=run_snapshot(experiment=experiment, arms=arms),
        total=len(cases) * len(arms) * experiment.samples_per_case,
        started_at=now - timedelta(minutes=5), finished_at=now,
    )
    plan = scoring_plan_build(specs=experiment.scorers)
    attempts = []
    for position, case in enumerate(cases):
        instance = TaskInstance.objects.create(run=run, case=case, position=position)
        for arm in arms:
            for sample in range(experiment.samples_per_case):
                output = answers[arm.label](case.payload, sample)
                fields: dict[str, Any] = {"status": AttemptStatus.FAILED, "error_type": "unavailable"}
                if output is not None:
                    summary = scores_summarize(scores_compute(plan.slow, output=output, case_kind=case.kind,
                                                              payload=case.payload))
                    fields = {"status": AttemptStatus.SUCCEEDED, "output": output, "scores": summary.scores,
                              "score_value": summary.score_value, "passed": summary.passed, "latency_ms": 500.0,
                              "output_tokens": 40, "input_tokens": 60, "cost_usd": Decimal("0.001")}
                attempts.append(Attempt(run=run, task_instance=instance, arm=arm, sample=sample, queued_at=now,
                                        **fields))
    Attempt.objects.bulk_create(attempts)
    return run


# --- answers -----------------------------------------------------------------------------------


def clean(payload: dict[str, Any], sample: int) -> str:
    return f"```csv\n{payload['clean']}```\nJustification: removed the duplicate rows and repaired the cells."


def dirty(payload: dict[str, Any], sample: int) -> str:
    return payload["dirty"]


def clean_on_easy_only(payload: dict[str, Any], sample: int) -> str:
    return clean(payload, sample) if payload.get("difficulty") == "easy" else dirty(payload, sample)


def alternating(payload: dict[str, Any], sample: int) -> str:
    """Clean on even samples, the dirty table on odd ones: samples disagree on every error cell."""
    return clean(payload, sample) if sample % 2 == 0 else dirty(payload, sample)


def prose(payload: dict[str, Any], sample: int) -> str:
    return "I am unable to help with that table."


def table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))
