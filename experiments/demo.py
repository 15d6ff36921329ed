"""The experiments part of `manage.py demo`: a bundled dataset, mock arms (and the real local model
when it runs), a finished run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchhub.dispatch import background_wait, in_process
from experiments.models import Experiment, Run
from experiments.runs import run_start
from experiments.services import dataset_create, experiment_create
from orgs.models import Organization
from providers.local_model import MODEL_ALIAS
from providers.selectors import policy_rules
from providers.services import credential_set, policy_set

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
# The real model (providers.local_model, Gemma 3 270M): greedy and short, since llama.cpp answers
# one request at a time (about 0.5 s each here on 2 cores).
DEMO_LOCAL_EXPERIMENT = "Demo: three mock arms and Gemma 3 270M on 24 questions"
DEMO_LOCAL_ARM = {"provider": "local", "model": MODEL_ALIAS, "config": {"temperature": 0, "max_tokens": 16}}


def _allow(org: Organization, provider: str) -> None:
    rules = list(policy_rules(org_id=org.pk))
    if not any(r.get("provider") == provider and "*" in (r.get("models") or []) for r in rules):
        policy_set(org=org, rules=[*rules, {"provider": provider, "models": ["*"]}])


def _connect_local_model(org: Organization, base_url: str) -> None:
    _allow(org, "local")
    credential_set(org=org, provider="local", api_key=None, base_url=base_url, name="demo: Gemma 3 270M",
                   config={"max_concurrency": 1, "timeout": 120})


def seed(*, org: Organization, base_url: str, local_model_url: str | None = None, timeout: float = 600) -> dict[str, Any]:
    """Store the dataset (idempotent by checksum), reuse or create the experiment, run it to the end.

    With `local_model_url` (a running `providers.local_model.LocalModelServer`) the real model is a
    fourth arm.
    """
    _allow(org, "mock")
    arms, name = list(DEMO_ARMS), DEMO_EXPERIMENT
    if local_model_url:
        _connect_local_model(org, local_model_url)
        arms, name = [*arms, DEMO_LOCAL_ARM], DEMO_LOCAL_EXPERIMENT
    dataset, _ = dataset_create(
        org=org, name="demo-questions", kind="qa", content=DEMO_DATASET.read_bytes(), filename=DEMO_DATASET.name
    )
    experiment = Experiment.objects.filter(org=org, name=name, dataset=dataset).first()
    if experiment is None:
        experiment = experiment_create(
            org=org, name=name, dataset=dataset, arms=arms, scorers=DEMO_SCORERS,
            samples_per_case=2, seed=7, concurrency=32,
        )
    run = run_start(experiment=experiment)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = Run.objects.get(pk=run.pk)
        if run.is_terminal:
            background_wait(timeout=max(1.0, deadline - time.monotonic()))
            break
        time.sleep(0.2)
    url = base_url.rstrip("/") + f"/runs/{run.pk}/"
    return {
        "run": run.pk, "run_status": run.status, "run_url": url, "dataset": dataset.pk,
        "arms": [f"{arm['provider']}:{arm['model']}" for arm in arms],
        "executes": "in this process" if in_process() else "on Celery workers",
    }
