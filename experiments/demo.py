"""The experiments part of `manage.py demo`: a bundled dataset, mock arms, a finished run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings

from experiments.execution import inline_wait
from experiments.models import Experiment, Run
from experiments.services import dataset_create, experiment_create, run_start
from orgs.models import Organization

DEMO_DATASET = Path(__file__).resolve().parent / "demo_data" / "demo_qa.jsonl"
DEMO_EXPERIMENT = "Demo: three mock arms on 24 questions"
# Three deterministic arms that answer differently, so the boards have something to rank: one
# repeats the prompt, one always says "Paris", one answers the mock's pseudo-random words.
DEMO_ARMS = [
    {"provider": "mock", "model": "echo", "config": {"mock_mode": "echo", "mock_latency_ms": 40}},
    {"provider": "mock", "model": "paris", "config": {"mock_response": "Paris", "mock_latency_ms": 15}},
    {"provider": "mock", "model": "words", "config": {"mock_latency_ms": 25}},
]
DEMO_SCORERS = [{"type": "contains"}, {"type": "normalized"}]


def _allow_mock(org: Organization) -> None:
    from providers.selectors import policy_rules
    from providers.services import policy_set

    rules = list(policy_rules(org_id=org.pk))
    if not any(r.get("provider") == "mock" and "*" in (r.get("models") or []) for r in rules):
        policy_set(org=org, rules=[*rules, {"provider": "mock", "models": ["*"]}])


def seed(*, org: Organization, base_url: str, timeout: float = 300) -> dict[str, Any]:
    """Store the dataset (idempotent by checksum), reuse or create the experiment, run it to the end."""
    _allow_mock(org)
    dataset, _ = dataset_create(
        org=org, name="demo-questions", kind="qa", content=DEMO_DATASET.read_bytes(), filename=DEMO_DATASET.name
    )
    experiment = Experiment.objects.filter(org=org, name=DEMO_EXPERIMENT, dataset=dataset).first()
    if experiment is None:
        experiment = experiment_create(
            org=org, name=DEMO_EXPERIMENT, dataset=dataset, arms=DEMO_ARMS, scorers=DEMO_SCORERS,
            samples_per_case=2, seed=7, concurrency=32,
        )
    run = run_start(experiment=experiment)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = Run.objects.get(pk=run.pk)
        if run.is_terminal:
            inline_wait(run_id=run.pk, timeout=max(1.0, deadline - time.monotonic()))
            break
        time.sleep(0.2)
    url = base_url.rstrip("/") + f"/runs/{run.pk}/"
    return {
        "run": run.pk, "run_status": run.status, "run_url": url, "dataset": dataset.pk,
        "executes": "in this process" if settings.CELERY_TASK_ALWAYS_EAGER else "on Celery workers",
    }
