"""What an executor needs of its run, decoded once from the run's frozen snapshot."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from experiments.judging import run_profile_id
from experiments.models import Run, StopReason


@dataclass(frozen=True)
class RunPlan:
    org_id: int
    kind: str  # the dataset's case kind
    template: dict[str, str]  # the prompt template's system/user parts
    seed: int
    arms: dict[int, dict[str, Any]]  # by arm id, as frozen: provider, model, config
    scorers: list[dict[str, Any]]
    budget: Decimal | None
    limit: int  # calls in flight for this lane: the run's concurrency split over its lanes
    spent: Decimal  # at load
    stop_reason: str  # at load: "", "cancelled" or "budget_exhausted"
    judged: bool  # an evaluator profile: every answer goes to slow scoring, where the judge runs


def run_plan_load(*, run_id: int) -> RunPlan:
    run = Run.objects.only("org_id", "snapshot", "lanes", "spent_usd", "cancel_requested_at", "stop_reason").get(
        pk=run_id
    )
    snapshot = run.snapshot
    experiment = snapshot["experiment"]
    budget = experiment.get("budget_usd")
    if run.cancel_requested_at is not None:
        stop_reason = StopReason.CANCELLED
    elif run.stop_reason == StopReason.BUDGET:
        stop_reason = StopReason.BUDGET
    else:
        stop_reason = ""
    return RunPlan(
        org_id=run.org_id,
        kind=snapshot["dataset"]["kind"],
        template={k: v for k, v in snapshot["prompt_template"].items() if k in ("system", "user")},
        seed=int(experiment.get("seed") or 0),
        arms={a["id"]: a for a in snapshot["arms"]},
        scorers=experiment.get("scorers") or [],
        budget=Decimal(budget) if budget is not None else None,
        limit=max(1, math.ceil(int(experiment["concurrency"]) / max(1, run.lanes))),
        spent=Decimal(run.spent_usd or 0),
        stop_reason=stop_reason,
        judged=run_profile_id(snapshot) is not None,
    )
