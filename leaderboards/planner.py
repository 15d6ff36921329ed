"""Sample-size planner: how many cases separate arms at a given difference and power.

The test it plans for is the one the board uses to say "A beats B": the paired test on per-case
differences, Holm-corrected over every pair of arms (`stats.paired_differences`). Holm's first
step is Bonferroni, so the plan uses alpha / pairs for each pair: enough for the clearest pair of a
board, conservative for the others.

A case's mean over m samples of a 0/1 outcome (rate p, intra-case correlation ρ) has variance
p(1-p)·(1 + (m-1)ρ)/m; two arms judged on the same cases, taken as independent (the planner
cannot know how alike the arms' failures are, and positive correlation only helps), give a
per-case difference with the sum of the two variances. Then the normal-approximation size
    cases = (z_{1-α'/2} + z_{power})² · (V_a + V_b) / difference²,
rounded up. `tests/leaderboards/test_planner.py` checks it against `leaderboards.simulation`:
runs of the planned size reach the planned power with the product's own test.

From a run (`plan_from_case_stats`), the variance of the per-case difference between the two
leading arms is measured directly (it carries the run's own clustering and correlation).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

from leaderboards import aggregation, selectors, stats
from orgs.models import Organization

METRICS = ("pass_rate", "mean_score")
MAX_CASES = 10_000_000


@dataclass(frozen=True)
class Plan:
    cases: int  # cases needed (each run by every arm, `samples_per_case` times)
    attempts: int  # cases × arms × samples
    metric: str
    baseline: float
    difference: float
    arms: int
    samples_per_case: int
    icc: float
    power: float
    confidence: float
    pairs: int
    alpha_per_pair: float
    test: str = "paired t on per-case differences, Holm-corrected over all pairs (planned at alpha / pairs)"

    def as_dict(self) -> dict:
        return asdict(self)


def case_variance(*, mean: float, samples_per_case: int, icc: float, sd: float | None = None) -> float:
    """Variance of one case's mean over its samples: σ²·(1 + (m-1)ρ)/m, σ² = p(1-p) for a rate
    (and the largest a score in 0..1 with that mean can have, when no `sd` is given)."""
    sigma2 = mean * (1 - mean) if sd is None else sd * sd
    m = samples_per_case
    return sigma2 * (1 + (m - 1) * icc) / m


def cases_for(*, variance_of_difference: float, difference: float, power: float, alpha: float) -> int:
    z = sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)
    n = z * z * variance_of_difference / (difference * difference)
    return int(min(MAX_CASES, max(2, math.ceil(n))))


def plan(
    *,
    metric: str = "pass_rate",
    baseline: float,
    difference: float,
    arms: int = 2,
    samples_per_case: int = 1,
    icc: float = 0.0,
    power: float = 0.8,
    confidence: float = stats.CONFIDENCE,
    sd: float | None = None,
) -> Plan:
    """Cases needed to tell an arm at `baseline` from one at `baseline + difference` (or - when
    that would pass 1), at `power`, with every pair of `arms` tested (callers validate ranges)."""
    other = baseline + difference if baseline + difference <= 1 else baseline - difference
    pairs = arms * (arms - 1) // 2
    alpha = (1 - confidence) / max(1, pairs)
    variance = (case_variance(mean=baseline, samples_per_case=samples_per_case, icc=icc, sd=sd)
                + case_variance(mean=other, samples_per_case=samples_per_case, icc=icc, sd=sd))
    n = cases_for(variance_of_difference=variance, difference=abs(difference), power=power, alpha=alpha)
    return Plan(cases=n, attempts=n * arms * samples_per_case, metric=metric, baseline=baseline,
                difference=difference, arms=arms, samples_per_case=samples_per_case, icc=icc, power=power,
                confidence=confidence, pairs=pairs, alpha_per_pair=alpha)


def intra_case_correlation(successes: np.ndarray, attempts: np.ndarray) -> float:
    """One-way ANOVA estimate of the correlation of two attempts of one case (0 if not estimable)."""
    keep = attempts > 0
    y, m = successes[keep].astype(float), attempts[keep].astype(float)
    k, n = len(m), m.sum()
    if k < 2 or n <= k:
        return 0.0
    p = y.sum() / n
    msb = np.sum(m * (y / m - p) ** 2) / (k - 1)
    msw = np.sum(y - y * y / m) / (n - k)
    m0 = (n - np.sum(m * m) / n) / (k - 1)
    denom = msb + (m0 - 1) * msw
    return float(np.clip((msb - msw) / denom, 0.0, 1.0)) if denom > 0 else 0.0


@dataclass(frozen=True)
class RunPlan:
    plan: Plan
    arms: tuple[str, str]  # the two leading arms the plan separates
    observed_difference: float
    cases_now: int
    more_cases: int
    message: str


def plan_from_case_stats(
    labels: list[str],
    arm_stats: list[aggregation.ArmCaseStats],
    *,
    metric: str = "pass_rate",
    difference: float | None = None,
    power: float = 0.8,
    confidence: float = stats.CONFIDENCE,
) -> RunPlan | None:
    """Plan from a run's own data: baseline, clustering and the per-case spread of the difference
    between the two leading arms are measured; `difference` defaults to their observed gap.
    None when the run has fewer than two arms with at least two shared cases."""
    if len(arm_stats) < 2:
        return None
    universe = np.unique(np.concatenate([s.cases for s in arm_stats]))
    c, a = len(universe), len(arm_stats)
    sums, counts = np.zeros((c, a)), np.zeros((c, a))
    for j, s in enumerate(arm_stats):
        idx = np.searchsorted(universe, s.cases)
        sums[idx, j] = s.q_pass if metric == "pass_rate" else s.q_sum
        counts[idx, j] = s.q_n
    with np.errstate(all="ignore"):
        means = sums.sum(axis=0) / counts.sum(axis=0)
        case_means = np.where(counts > 0, sums / counts, np.nan)
    order = [int(j) for j in np.argsort(-np.nan_to_num(means, nan=-1.0), kind="stable")]
    top, second = order[0], order[1]
    d = case_means[:, top] - case_means[:, second]
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return None
    observed = float(d.mean())
    wanted = difference if difference is not None else observed
    samples = max(1, int(round(float(counts[counts > 0].mean()))))
    icc = intra_case_correlation(sums[:, top], counts[:, top]) if metric == "pass_rate" else 0.0
    base = plan(metric=metric, baseline=float(means[second]), difference=max(abs(wanted), 1e-6), arms=a,
                samples_per_case=samples, icc=icc, power=power, confidence=confidence)
    # The run's measured spread of per-case differences replaces the independent-arms assumption.
    measured = float(np.var(d, ddof=1))
    n = base.cases if measured <= 0 else cases_for(variance_of_difference=measured, difference=abs(wanted) or 1e-6,
                                                   power=power, alpha=base.alpha_per_pair)
    final = Plan(**{**asdict(base), "cases": n, "attempts": n * a * samples})
    more = max(0, n - len(d))
    pair = (labels[top], labels[second])
    pct = round(power * 100)
    if abs(wanted) < 1e-9:
        message = f"{pair[0]} and {pair[1]} score the same so far: give a difference to plan for."
    elif more == 0:
        message = f"{len(d)} cases are enough to tell {pair[0]} from {pair[1]} at {pct}% power (need {n})."
    else:
        message = f"To tell {pair[0]} from {pair[1]} at {pct}% power you need about {more} more cases ({n} in all)."
    return RunPlan(plan=final, arms=pair, observed_difference=round(observed, 6), cases_now=len(d),
                   more_cases=more, message=message)


def run_plan_get(*, org: Organization, run_id: int, metric: str = "pass_rate", difference: float | None = None,
                 power: float = 0.8) -> dict:
    """`GET runs/{id}/planner/`: the plan estimated from the run's own data."""
    labels, arm_stats = selectors.run_arm_case_stats(org=org, run_id=run_id)
    result = plan_from_case_stats(labels, arm_stats, metric=metric, difference=difference, power=power)
    if result is None:
        return {"run": run_id, "cases": None, "cases_now": None, "more_cases": None, "arms": labels,
                "observed_difference": None, "assumptions": None,
                "message": "The planner needs two arms with scores on at least two shared cases."}
    return {"run": run_id, "cases": result.plan.cases, "cases_now": result.cases_now, "more_cases": result.more_cases,
            "arms": list(result.arms), "observed_difference": result.observed_difference,
            "assumptions": result.plan.as_dict(), "message": result.message}
