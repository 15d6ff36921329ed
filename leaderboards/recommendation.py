"""The decision: which arm to use for this work under an org's limits, and how sure that is.

An arm qualifies when its bounds, not its point values, meet every limit given: the upper bound
of its cost per attempt within `max_cost_usd`, the upper bound of its p95 latency within
`max_p95_ms`, the lower bound of its pass rate at least `min_pass_rate` (all from the same
boards the leaderboard publishes). Qualifiers are ranked by mean rule score; each gets the
probability of being the best of the qualifiers, the share of case-bootstrap replicates (the
board's own weights) in which it has the highest mean (replicates where several tie split their
vote). A tie is said when the Holm-corrected paired test does not separate the leader from the
next qualifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from leaderboards import aggregation, selectors, stats
from orgs.models import Organization


@dataclass(frozen=True)
class Limits:
    max_cost_usd: float | None = None  # USD per attempt
    max_p95_ms: float | None = None
    min_pass_rate: float | None = None

    def as_dict(self) -> dict:
        return {"max_cost_usd": self.max_cost_usd, "max_p95_ms": self.max_p95_ms, "min_pass_rate": self.min_pass_rate}


def _check(limit: float | None, bound: float | None, *, upper: bool) -> dict | None:
    if limit is None:
        return None
    ok = bound is not None and (bound <= limit if upper else bound >= limit)
    return {"limit": limit, "bound": bound, "ok": bool(ok)}


def recommend(
    labels: Sequence[str],
    arm_stats: Sequence[aggregation.ArmCaseStats],
    limits: Limits,
    *,
    seed: int = stats.DEFAULT_SEED,
    n_boot: int = stats.DEFAULT_BOOTSTRAP,
) -> dict:
    """`{"results": [{"arm", "p_best", "qualifies_on", ...}], "excluded": [...], "tie", "message", "limits"}`."""
    boards = aggregation.compute_boards(labels, arm_stats, seed=seed, n_boot=n_boot, with_pairwise=False)
    quality = {row["arm"]: row for row in boards.quality}
    cost = {row["arm"]: row for row in boards.cost}
    speed = {row["arm"]: row for row in boards.speed}
    qualified: list[int] = []
    checks: dict[str, dict] = {}
    for j, arm in enumerate(labels):
        q, c, s = quality.get(arm, {}), cost.get(arm, {}), speed.get(arm, {})
        on = {
            "cost": _check(limits.max_cost_usd, c.get("ci_high"), upper=True),
            "p95_ms": _check(limits.max_p95_ms, s.get("p95_ci_high"), upper=True),
            "pass_rate": _check(limits.min_pass_rate, q.get("pass_ci_low"), upper=False),
        }
        checks[arm] = {k: v for k, v in on.items() if v is not None}
        if q.get("value") is not None and all(v["ok"] for v in checks[arm].values()):
            qualified.append(j)
    excluded = [{"arm": arm, "qualifies_on": checks[arm]} for arm in labels
                if labels.index(arm) not in qualified]
    if not qualified:
        return {"results": [], "excluded": excluded, "tie": False, "limits": limits.as_dict(),
                "message": "No arm qualifies under these limits (judged on the bounds of cost, p95 latency and "
                           "pass rate)."}

    universe = np.unique(np.concatenate([arm_stats[j].cases for j in qualified]))
    sums, counts = np.zeros((len(universe), len(qualified))), np.zeros((len(universe), len(qualified)))
    for k, j in enumerate(qualified):
        idx = np.searchsorted(universe, arm_stats[j].cases)
        sums[idx, k], counts[idx, k] = arm_stats[j].q_sum, arm_stats[j].q_n
    weights = stats.case_resample_weights(len(universe), n_boot=n_boot, seed=seed)
    p_best = best_probabilities(sums, counts, weights)
    order = sorted(range(len(qualified)), key=lambda k: (-(quality[labels[qualified[k]]]["value"]), -p_best[k]))
    results = []
    for k in order:
        arm = labels[qualified[k]]
        row = quality[arm]
        results.append({"arm": arm, "p_best": round(float(p_best[k]), 4), "qualifies_on": checks[arm],
                        "quality": row["value"], "ci_low": row["ci_low"], "ci_high": row["ci_high"],
                        "pass_rate": row["pass_rate"], "cost_per_attempt": cost.get(arm, {}).get("value"),
                        "p95_ms": speed.get(arm, {}).get("p95")})
    tie = False
    if len(order) >= 2:
        beats = stats.paired_differences(sums, counts).beats
        tie = not bool(beats[order[0], order[1]])
    lead = results[0]
    if tie:
        message = (f"{lead['arm']} and {results[1]['arm']} are tied: the data do not separate them "
                   f"(probability of being best {lead['p_best']:.2f} and {results[1]['p_best']:.2f}).")
    elif len(results) == 1:
        message = f"Only {lead['arm']} qualifies."
    else:
        message = f"Use {lead['arm']}: probability {lead['p_best']:.2f} that it is the best of the arms that qualify."
    return {"results": results, "excluded": excluded, "tie": tie, "limits": limits.as_dict(), "message": message}


def best_probabilities(sums: np.ndarray, counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per column, the share of bootstrap replicates in which its mean per attempt is the highest
    (ties within a replicate split the replicate equally)."""
    with np.errstate(all="ignore"):
        reps = (weights @ sums) / (weights @ counts)
    reps = np.nan_to_num(reps, nan=-np.inf)
    top = reps.max(axis=1, keepdims=True)
    winners = np.isclose(reps, top, rtol=0, atol=1e-12) & np.isfinite(top)
    share = winners / np.maximum(winners.sum(axis=1, keepdims=True), 1)
    return share.mean(axis=0)


def _page(answer: dict, scope: dict) -> dict:
    # The API's list convention (API.md: lists are paginated), one page: `results` is the list
    # API.md describes, `[]` when no arm qualifies; the rest says why.
    return {"count": len(answer["results"]), "next": None, "previous": None, **scope, **answer}


def run_recommendation_get(*, org: Organization, run_id: int, limits: Limits) -> dict:
    """`GET runs/{id}/recommendation/`."""
    labels, arm_stats = selectors.run_arm_case_stats(org=org, run_id=run_id)
    return _page(recommend(labels, arm_stats, limits), {"run": run_id})


def cross_run_recommendation_get(*, org: Organization, limits: Limits, experiment_id: int | None = None,
                                 dataset_id: int | None = None) -> dict:
    """`GET experiments/{id}/recommendation/` and `GET datasets/{id}/recommendation/`: over the
    ended runs of the experiment or dataset version, each arm's cases merged as on the cross-run boards."""
    labels, arm_stats = selectors.cross_run_arm_case_stats(org=org, experiment_id=experiment_id,
                                                           dataset_id=dataset_id)
    scope = {"experiment": experiment_id} if experiment_id is not None else {"dataset": dataset_id}
    if not labels:
        return _page({"results": [], "excluded": [], "tie": False, "limits": limits.as_dict(),
                      "message": "No ended run to judge yet."}, scope)
    return _page(recommend(labels, arm_stats, limits), scope)
