"""Reads behind seed 002's `metrics/...` routes: the org's data-cleaning runs, per arm, with bounds.

Org-wide: every ended run of the org scored by `data_cleaning` (its final board holds cleaning
aggregates), each arm's per-case sums merged across runs (the same case in two runs is one
cluster), bounded by `leaderboards.cleaning.cleaning_section`. Arms are named as the cross-run
boards name them (`provider:model`, `#<config hash>` when one model ran with several configs).
Cached under a key built from the aggregates it was computed from, like the cross-run boards.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

from benchhub.api.errors import NotFound
from experiments.builders import DIMENSIONS
from leaderboards.cleaning import cleaning_section, cross_run_section, section_flag
from leaderboards.models import ArmAggregate, RunLeaderboard
from leaderboards.selectors import (
    CACHE_SECONDS,
    PAYLOAD_VERSION,
    _cross_run_labels,
    _final_aggregates,
    _scope_digest,
    low_sample_threshold,
)
from orgs.models import Organization
from orgs.scoping import for_org

# Route name -> the section's board.
METRICS = {"f1": "f1", "corruption": "corruption_rate", "drift": "drift", "reliability": "reliability",
           "robustness": "robustness"}
OVERVIEW = ("f1", "precision", "recall", "corruption_rate", "drift", "reliability", "robustness", "auditability")


def _aggregates(org: Organization):  # type: ignore[no-untyped-def]
    return _final_aggregates(for_org(ArmAggregate, org)).filter(cleaning__isnull=False)


def org_cleaning_get(*, org: Organization, threshold: int | None = None) -> dict[str, Any]:
    """`{"runs", "keys": {label: arm_key}, "section"}` over the org's data-cleaning runs."""
    threshold = low_sample_threshold() if threshold is None else threshold
    aggregates = _aggregates(org)
    index = list(aggregates.order_by("id").values_list("id", "version", "updated_at"))
    org_id = getattr(org, "pk", org)
    key = f"leaderboards:v{PAYLOAD_VERSION}:cleaning-org:{org_id}:{_scope_digest(index, threshold)}"
    payload = cache.get(key)
    if payload is not None:
        return payload
    rows = list(aggregates.values_list("arm_key", "provider", "model", "run_id"))
    meta = {arm_key: (provider, model) for arm_key, provider, model, _ in rows}
    labels = _cross_run_labels(sorted(meta), meta)
    section = cross_run_section(aggregates=aggregates, labels=labels) or cleaning_section([], [])
    payload = {
        "runs": sorted({run for *_, run in rows}),
        "keys": {label: arm_key for arm_key, label in labels.items()},
        "section": section_flag(section, threshold),
    }
    cache.set(key, payload, CACHE_SECONDS)
    return payload


def _row(board: list[dict[str, Any]], arm: str) -> dict[str, Any] | None:
    return next((row for row in board if row["arm"] == arm), None)


def metrics_overview_get(*, org: Organization, threshold: int | None = None) -> dict[str, Any]:
    """One row per arm (best F1 first) with every metric's value, bounds and rank."""
    data = org_cleaning_get(org=org, threshold=threshold)
    section = data["section"]
    rows = []
    for f1 in section["f1"]:
        row: dict[str, Any] = {"arm": f1["arm"], "n": f1["n"], "cases": f1["cases"], "low_sample": f1["low_sample"]}
        for metric in OVERVIEW:
            found = _row(section[metric], f1["arm"])
            row[metric] = None if found is None else {k: found[k] for k in ("value", "ci_low", "ci_high", "rank")}
        rows.append(row)
    return {"runs": data["runs"], "rows": rows}


def metrics_dimension_get(*, org: Organization, name: str, threshold: int | None = None) -> list[dict[str, Any]]:
    """Per arm: mean F1 on cases with errors of this dimension, and its pooled recall."""
    if name not in DIMENSIONS:
        raise NotFound(f"No dimension {name!r}; known: {', '.join(DIMENSIONS)}.", details={"dimension": name})
    return org_cleaning_get(org=org, threshold=threshold)["section"]["by_dimension"].get(name, [])


def metrics_arm_get(*, org: Organization, metric: str, arm: str, threshold: int | None = None) -> dict[str, Any]:
    """One arm's figure for one metric over the org's runs, and run by run (`runs`, oldest first)."""
    if metric not in METRICS:
        raise NotFound(f"No metric {metric!r}; known: {', '.join(METRICS)}.", details={"metric": metric})
    data = org_cleaning_get(org=org, threshold=threshold)
    if arm not in data["keys"]:
        raise NotFound(f"No data-cleaning results for {arm!r}.", details={"model": arm})
    board = METRICS[metric]
    section = data["section"]
    out: dict[str, Any] = {"arm": arm, "metric": metric, "overall": _row(section[board], arm)}
    if metric == "f1":
        out["by_dimension"] = {d: _row(rows, arm) for d, rows in section["by_dimension"].items() if _row(rows, arm)}
        out["by_difficulty"] = {d: _row(rows, arm) for d, rows in section["by_difficulty"].items() if _row(rows, arm)}
    aggregates = list(
        _aggregates(org).filter(arm_key=data["keys"][arm]).order_by("run_finished_at", "run_id")
        .values_list("run_id", "experiment_id", "dataset_id", "run_finished_at", "label")
    )
    boards = dict(RunLeaderboard.objects.filter(run_id__in=[a[0] for a in aggregates]).values_list("run_id", "boards"))
    runs = []
    for run_id, experiment_id, dataset_id, finished, label in aggregates:
        found = _row(((boards.get(run_id) or {}).get("cleaning") or {}).get(board) or [], label)
        runs.append({"run": run_id, "experiment": experiment_id, "dataset": dataset_id, "arm": label,
                     "finished_at": finished.isoformat() if finished else None,
                     **{k: (found or {}).get(k) for k in ("n", "cases", "value", "ci_low", "ci_high", "rank")}})
    out["runs"] = runs
    return out
