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
    deadline = time.monotonic() + timeout
    while True:
        run = Run.objects.get(pk=run.pk)
        if (until(run) if until else run.is_terminal):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run.pk} still {run.status} ({run.done}/{run.total}) after {timeout}s")
        time.sleep(0.1)
