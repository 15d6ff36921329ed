"""From attempt outcomes to boards: per-arm sufficient statistics, then the four boards with bounds.

No database here. `arm_case_stats` reduces a run's attempts to per-case sums per arm (plus the
per-attempt latencies a percentile needs); `compute_boards` turns a list of those into boards.
Run boards and cross-run boards go through the same `compute_boards`, so they agree by
construction; cross-run boards merge the stats of several runs first (`ArmCaseStats.merge`).

Counting rules (documented in the README):
- quality: attempts that ended; a failed attempt scores 0 and does not pass (an arm that errors
  has not done the work); succeeded attempts not yet scored and cancelled ones are left out.
- speed: succeeded attempts with a latency; tokens per second = Σ output tokens / Σ seconds.
- cost: ended attempts with a known cost. An attempt that answered (or used tokens) without a
  cost is unpriced, and one such attempt makes the whole arm "unpriced": no value, no cost rank,
  never a silent 0.
- evaluator: attempts with an evaluator score.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from experiments.outcomes import FAILED, SUCCEEDED, AttemptOutcomes, PairwiseJudgement
from leaderboards import stats

LATENCY_QUANTILES = (0.5, 0.9, 0.95, 0.99)
BT_BOOTSTRAP = 200  # Bradley–Terry refits per replicate cost more than a mean; 200 is plenty for 95% bounds

_PER_CASE = ("q_n", "q_sum", "q_pass", "e_n", "e_sum", "c_n", "c_sum", "c_unpriced", "tok", "sec", "failed")


@dataclass
class ArmCaseStats:
    """One arm's sufficient statistics: per case (sorted `cases`) sums, plus per-attempt latencies."""

    cases: np.ndarray
    q_n: np.ndarray  # attempts counted for quality
    q_sum: np.ndarray  # Σ rule score
    q_pass: np.ndarray  # passes
    e_n: np.ndarray  # attempts with an evaluator score
    e_sum: np.ndarray
    c_n: np.ndarray  # attempts with a known cost
    c_sum: np.ndarray
    c_unpriced: np.ndarray  # attempts that answered without a cost
    tok: np.ndarray  # Σ output tokens of succeeded attempts with a latency
    sec: np.ndarray  # Σ their latency in seconds
    failed: np.ndarray
    lat_case: np.ndarray
    lat: np.ndarray
    ttft_case: np.ndarray
    ttft: np.ndarray

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{f.name: getattr(self, f.name) for f in fields(self)})
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ArmCaseStats:
        with np.load(io.BytesIO(bytes(data))) as npz:
            return cls(**{f.name: npz[f.name] for f in fields(cls)})

    @classmethod
    def merge(cls, parts: Sequence[ArmCaseStats]) -> ArmCaseStats:
        """One arm across runs: the same case in two runs is one cluster, its sums added."""
        if len(parts) == 1:
            return parts[0]
        all_cases = np.concatenate([p.cases for p in parts])
        cases, inverse = np.unique(all_cases, return_inverse=True)
        summed = {
            name: np.bincount(inverse, weights=np.concatenate([getattr(p, name) for p in parts]), minlength=len(cases))
            for name in _PER_CASE
        }
        return cls(
            cases=cases,
            **summed,
            lat_case=np.concatenate([p.lat_case for p in parts]),
            lat=np.concatenate([p.lat for p in parts]),
            ttft_case=np.concatenate([p.ttft_case for p in parts]),
            ttft=np.concatenate([p.ttft for p in parts]),
        )


def arm_case_stats(outcomes: AttemptOutcomes, arm_id: int) -> ArmCaseStats:
    mask = outcomes.arm == arm_id
    case = outcomes.case[mask]
    status = outcomes.status[mask]
    score, passed = outcomes.score[mask], outcomes.passed[mask]
    evaluator, cost = outcomes.evaluator[mask], outcomes.cost[mask]
    latency, ttft = outcomes.latency[mask], outcomes.ttft[mask]
    tokens = outcomes.output_tokens[mask]
    used_tokens = (outcomes.input_tokens[mask] + tokens) > 0

    cases, idx = np.unique(case, return_inverse=True)
    size = len(cases)

    def per_case(select: np.ndarray, values: np.ndarray | float = 1.0) -> np.ndarray:
        weights = np.where(select, values, 0.0)
        return np.bincount(idx, weights=weights, minlength=size)

    succeeded, failed = status == SUCCEEDED, status == FAILED
    scored = succeeded & np.isfinite(score)
    q_select = scored | failed
    q_score = np.where(failed, 0.0, np.nan_to_num(score))
    q_pass = np.where(failed, 0.0, np.nan_to_num(passed))
    ended = succeeded | failed
    priced = ended & np.isfinite(cost)
    unpriced = ~np.isfinite(cost) & (succeeded | (failed & used_tokens))
    timed = succeeded & np.isfinite(latency) & (latency > 0)
    has_ttft = succeeded & np.isfinite(ttft)
    return ArmCaseStats(
        cases=cases.astype(np.int64),
        q_n=per_case(q_select),
        q_sum=per_case(q_select, q_score),
        q_pass=per_case(q_select, q_pass),
        e_n=per_case(np.isfinite(evaluator)),
        e_sum=per_case(np.isfinite(evaluator), np.nan_to_num(evaluator)),
        c_n=per_case(priced),
        c_sum=per_case(priced, np.nan_to_num(cost)),
        c_unpriced=per_case(unpriced),
        tok=per_case(timed, tokens),
        sec=per_case(timed, np.nan_to_num(latency) / 1000.0),
        failed=per_case(failed),
        lat_case=case[timed].astype(np.int64),
        lat=latency[timed].astype(np.float32),
        ttft_case=case[has_ttft].astype(np.int64),
        ttft=ttft[has_ttft].astype(np.float32),
    )


@dataclass(frozen=True)
class Boards:
    """What `compute_boards` returns: plain JSON-ready rows, plus the pairwise section."""

    quality: list[dict]
    speed: list[dict]
    cost: list[dict]
    evaluator: list[dict]
    pairwise: dict
    frontier: list[dict]
    cases: int

    def board_dict(self) -> dict[str, list[dict]]:
        return {"quality": self.quality, "speed": self.speed, "cost": self.cost, "evaluator": self.evaluator}


def _round(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(float(x), digits)


def _sorted(rows: list[dict], *, higher_is_better: bool) -> list[dict]:
    """Best first: by rank, then by value; rows without a rank (no data, unpriced) last."""
    sign = -1 if higher_is_better else 1

    def key(row: dict) -> tuple:
        value = row["value"]
        return (row["rank"] is None, row["rank"] or 0, value is None, sign * (value or 0), row["arm"])

    return sorted(rows, key=key)


def _interval_row(arm: str, n: float, cases: int, interval: stats.Interval, rank: int | None) -> dict:
    return {
        "arm": arm,
        "n": int(n),
        "cases": int(cases),
        "value": _round(interval.value),
        "ci_low": _round(interval.low),
        "ci_high": _round(interval.high),
        "rank": rank,
    }


def compute_boards(
    arms: Sequence[str],
    arm_stats: Sequence[ArmCaseStats],
    *,
    seed: int = stats.DEFAULT_SEED,
    n_boot: int = stats.DEFAULT_BOOTSTRAP,
    judgements: Sequence[tuple[int, int, int, float]] = (),
    with_pairwise: bool = True,
) -> Boards:
    """The four boards (and pairwise ratings, frontier) for `arms` with their stats.

    `judgements` are extra pairwise outcomes (case key, arm index a, arm index b, 1/½/0 for a),
    e.g. evaluator pairwise verdicts, added to the rule-score pairs before Bradley–Terry.
    """
    a = len(arms)
    universe = np.unique(np.concatenate([s.cases for s in arm_stats])) if a else np.empty(0, np.int64)
    c = len(universe)
    weights = stats.case_resample_weights(c, n_boot=n_boot, seed=seed)

    def matrix(name: str) -> np.ndarray:
        out = np.zeros((c, a))
        for j, s in enumerate(arm_stats):
            out[np.searchsorted(universe, s.cases), j] = getattr(s, name)
        return out

    m = {name: matrix(name) for name in _PER_CASE}
    cases_per_arm = [(m["q_n"][:, j] > 0).sum() for j in range(a)]

    # Quality: mean rule score and pass rate (cluster-robust score intervals), ranked on the mean;
    # an arm is ranked above another only when the Holm-corrected paired test agrees.
    means = stats.score_intervals(m["q_sum"], m["q_n"])
    with np.errstate(all="ignore"):
        case_means = np.where(m["q_n"] > 0, m["q_sum"] / m["q_n"], np.nan)
    differences = stats.paired_differences(m["q_sum"], m["q_n"]) if a >= 2 else None
    ranks = stats.rank_by_bounds([x.low for x in means], [x.high for x in means],
                                 beats=None if differences is None else differences.beats,
                                 values=[x.value for x in means])
    quality = []
    for j in range(a):
        if m["q_n"][:, j].sum() <= 0:
            continue
        row = _interval_row(arms[j], m["q_n"][:, j].sum(), cases_per_arm[j], means[j], ranks[j])
        rate = stats.clustered_wilson(m["q_pass"][:, j], m["q_n"][:, j])
        row.update(
            passes=int(m["q_pass"][:, j].sum()),
            failed=int(m["failed"][:, j].sum()),
            pass_rate=_round(rate.value),
            pass_ci_low=_round(rate.low),
            pass_ci_high=_round(rate.high),
            beats=[] if differences is None else [arms[k] for k in np.flatnonzero(differences.beats[j])],
            bounds_approximate=stats.bounds_approximate("mean_score", cases_per_arm[j]),
        )
        quality.append(row)

    # Speed: latency percentiles (bootstrap over cases), ranked on the median; lower is better.
    speed_cells: list[tuple[int, list[stats.Interval], stats.Interval, int]] = []
    weights_t = np.ascontiguousarray(weights.T)
    for j, s in enumerate(arm_stats):
        if len(s.lat) == 0:
            continue
        lat = stats.bootstrap_percentiles(
            s.lat.astype(np.float64), np.searchsorted(universe, s.lat_case), weights, LATENCY_QUANTILES,
            weights_t=weights_t,
        )
        ttft = stats.bootstrap_percentiles(
            s.ttft.astype(np.float64), np.searchsorted(universe, s.ttft_case), weights, (0.5,), weights_t=weights_t
        )[0]
        speed_cells.append((j, lat, ttft, len(np.unique(s.lat_case))))
    throughput = stats.studentized_ratio_means(m["tok"], m["sec"], weights)
    speed_ranks = stats.rank_by_bounds(
        [cell[1][0].low for cell in speed_cells], [cell[1][0].high for cell in speed_cells], higher_is_better=False
    )
    speed = []
    for (j, lat, ttft, n_cases), rank in zip(speed_cells, speed_ranks, strict=True):
        row = _interval_row(arms[j], len(arm_stats[j].lat), n_cases, lat[0], rank)
        row.update(unit="ms", metric="latency_p50", bounds_approximate=stats.bounds_approximate("latency_p50", n_cases),
                   bounds_approximate_for=[f"p{round(q * 100)}" for q in LATENCY_QUANTILES
                                           if stats.bounds_approximate(f"latency_p{round(q * 100)}", n_cases)])
        for q, interval in zip(LATENCY_QUANTILES[1:], lat[1:], strict=True):
            tag = f"p{round(q * 100)}"
            row.update({tag: _round(interval.value, 3), f"{tag}_ci_low": _round(interval.low, 3),
                        f"{tag}_ci_high": _round(interval.high, 3)})
        row.update(ttft_p50=_round(ttft.value, 3), ttft_ci_low=_round(ttft.low, 3), ttft_ci_high=_round(ttft.high, 3))
        tps = throughput[j]
        row.update(tokens_per_second=_round(tps.value, 3), tps_ci_low=_round(tps.low, 3), tps_ci_high=_round(tps.high, 3),
                   tps_bounds_approximate=stats.bounds_approximate("tokens_per_second", n_cases))
        speed.append(row)

    # Cost: USD per attempt (ranked, lower is better), per passing attempt, total. Unpriced arms
    # keep their row with no value and no rank.
    per_attempt = stats.studentized_ratio_means(m["c_sum"], m["c_n"], weights)
    per_pass = stats.studentized_ratio_means(m["c_sum"], m["q_pass"], weights)
    priced = [m["c_unpriced"][:, j].sum() == 0 and m["c_n"][:, j].sum() > 0 for j in range(a)]
    cost_ranks = stats.rank_by_bounds(
        [per_attempt[j].low if priced[j] else None for j in range(a)],
        [per_attempt[j].high if priced[j] else None for j in range(a)],
        higher_is_better=False,
    )
    cost = []
    for j in range(a):
        n_cost = m["c_n"][:, j].sum() + m["c_unpriced"][:, j].sum()
        if n_cost <= 0:
            continue
        cases_j = int(((m["c_n"][:, j] + m["c_unpriced"][:, j]) > 0).sum())
        if priced[j]:
            row = _interval_row(arms[j], n_cost, cases_j, per_attempt[j], cost_ranks[j])
            row.update(
                status="priced", unit="usd_per_attempt",
                per_passing_attempt=_round(per_pass[j].value, 8),
                per_pass_ci_low=_round(per_pass[j].low, 8),
                per_pass_ci_high=_round(per_pass[j].high, 8),
                total_usd=_round(m["c_sum"][:, j].sum(), 8),
                unpriced_attempts=0,
                bounds_approximate=stats.bounds_approximate("cost_per_attempt", cases_j),
            )
        else:
            row = _interval_row(arms[j], n_cost, cases_j, stats.EMPTY, None)
            row.update(
                status="unpriced", unit="usd_per_attempt", per_passing_attempt=None,
                per_pass_ci_low=None, per_pass_ci_high=None,
                total_usd=None, unpriced_attempts=int(m["c_unpriced"][:, j].sum()),
            )
        cost.append(row)

    # Evaluator score: present and empty until attempts carry evaluator scores.
    ev = stats.bootstrap_ratio_means(m["e_sum"], m["e_n"], weights)
    ev_ranks = stats.rank_by_bounds([x.low for x in ev], [x.high for x in ev])
    evaluator = [
        _interval_row(arms[j], m["e_n"][:, j].sum(), int((m["e_n"][:, j] > 0).sum()), ev[j], ev_ranks[j])
        for j in range(a)
        if m["e_n"][:, j].sum() > 0
    ]

    frontier_points = [
        (arms[j], per_attempt[j].value, means[j].value)
        for j in range(a)
        if priced[j] and means[j].value is not None and per_attempt[j].value is not None
    ]
    on_frontier = set(stats.pareto_frontier(frontier_points))
    frontier = [
        {"arm": arm, "cost_per_attempt": _round(cost_value, 8), "quality": _round(quality_value),
         "on_frontier": arm in on_frontier}
        for arm, cost_value, quality_value in sorted(frontier_points, key=lambda p: (p[1], p[0]))
    ]

    pairwise: dict = {}
    if with_pairwise and a >= 2 and c > 0:
        per_case = stats.case_outcomes(case_means)
        for case_key, ia, ib, outcome in judgements:
            k = int(np.searchsorted(universe, case_key))
            if k < c and universe[k] == case_key:
                per_case[k, ia, ib] += outcome
                per_case[k, ib, ia] += 1 - outcome
        wm = stats.win_matrix(case_means)
        ratings = stats.bradley_terry_ratings(arms, per_case, weights[: min(BT_BOOTSTRAP, n_boot)])
        rates = wm.win_rate()
        pairwise = {
            "arms": list(arms),
            "wins": wm.wins.tolist(),
            "ties": wm.ties.tolist(),
            "n": wm.n.tolist(),
            "win_rate": [[None if not np.isfinite(x) else round(float(x), 6) for x in row] for row in rates],
            "judgements": len(judgements),
            "bounds_approximate": stats.bounds_approximate("bt_rating", c),
            "differences": _differences_payload(differences),
            "ratings": sorted(
                (
                    {"arm": r.arm, "theta": _round(r.theta), "rating": _round(r.rating, 2),
                     "ci_low": _round(r.ci_low, 2), "ci_high": _round(r.ci_high, 2), "rank": r.rank}
                    for r in ratings
                ),
                key=lambda row: (row["rank"] or 10**6, -(row["rating"] or 0), row["arm"]),
            ),
        }

    return Boards(
        quality=_sorted(quality, higher_is_better=True),
        speed=_sorted(speed, higher_is_better=False),
        cost=_sorted(cost, higher_is_better=False),
        evaluator=_sorted(evaluator, higher_is_better=True),
        pairwise=pairwise,
        frontier=frontier,
        cases=c,
    )


def _differences_payload(d: stats.PairedDifferences | None) -> dict:
    """Paired differences as matrices (row minus column), for the win-rate matrix of the board."""
    if d is None:
        return {}

    def rows(x: np.ndarray) -> list[list[float | None]]:
        return [[None if not np.isfinite(v) else round(float(v), 6) for v in row] for row in x]

    return {"metric": "rule_score", "bounds": "MOVER on cluster-robust score intervals",
            "test": "paired t on per-case differences, Holm-corrected",
            "mean": rows(d.mean), "ci_low": rows(d.low), "ci_high": rows(d.high), "n": d.n.tolist(),
            "p_value": rows(d.p_value), "p_holm": rows(d.p_holm), "beats": d.beats.tolist()}


def judgements_as_indices(
    judgements: Sequence[PairwiseJudgement], arm_index: dict[int, int]
) -> list[tuple[int, int, int, float]]:
    return [
        (j.case_id, arm_index[j.arm_a], arm_index[j.arm_b], j.outcome)
        for j in judgements
        if j.arm_a in arm_index and j.arm_b in arm_index
    ]


def trend_metrics(boards: Boards, arm: str) -> dict:
    """One arm's headline numbers in one run, kept on its ArmAggregate for trends."""
    out: dict = {}
    for name, board in boards.board_dict().items():
        row = next((r for r in board if r["arm"] == arm), None)
        if row is not None:
            out[name] = {k: row.get(k) for k in ("value", "ci_low", "ci_high", "n", "cases", "status", "pass_rate")
                         if k in row}
    return out
