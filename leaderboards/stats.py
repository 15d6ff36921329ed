"""The statistics behind every board: bounds, ranks, paired tests, Bradley–Terry ratings, frontier.

Pure numpy/scipy; no Django. Everything a caller gets back is a plain frozen dataclass.

Conventions that keep boards defensible and reproducible:
- Cases are the unit of resampling. Samples of one case share the case's difficulty, so treating
  them as independent would shrink the bounds; the bootstrap draws whole cases (all their samples
  go together) and the Wilson bound of a pass rate is widened by the design effect of that
  clustering.
- One matrix of resampling weights (`case_resample_weights`) serves every arm and every metric of a
  board, drawn from a fixed seed over a case universe in a fixed order. Same data + seed gives the
  same bounds, and an arm added to a board leaves the other arms' bounds untouched.
- Percentile bootstrap intervals (2.5th / 97.5th percentile of the replicate statistics) for
  latency percentiles, cost, throughput and Bradley–Terry ratings; means of scores in 0..1 (pass
  rate, mean rule score) use a cluster-robust score interval instead (`score_bounds`), because
  `leaderboards.simulation` measured the percentile bootstrap of a mean covering 88–92% at 10–20
  cases where 95% is printed. `benchmarks/ranking_calibration.py` prints the measured coverage
  of every published bound; `bounds_approximate` flags the regimes where it stays outside 94–96%.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95
DEFAULT_SEED = 20_240_601
DEFAULT_BOOTSTRAP = 1000
# Weights are built in slices of this many replicates so a percentile bootstrap over hundreds of
# thousands of attempts stays within a few tens of megabytes.
_REPLICATE_CHUNK = 100
_TIE_EPS = 1e-9


def _z(confidence: float) -> float:
    return float(sps.norm.ppf(0.5 + confidence / 2))


@dataclass(frozen=True)
class Interval:
    value: float | None
    low: float | None
    high: float | None


EMPTY = Interval(None, None, None)


# --- Wilson ------------------------------------------------------------------------------------


def wilson_bounds(p: np.ndarray, n: np.ndarray, quantile: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score bounds of proportions `p` on (possibly effective, fractional) sample sizes `n`.

    Vectorised over columns; `quantile` is z (plain Wilson) or a t quantile (estimated variance).
    An infinite `n` (no observed spread) gives a zero-width bound at p.
    """
    p, n = np.asarray(p, dtype=float), np.asarray(n, dtype=float)
    q2 = np.asarray(quantile, dtype=float) ** 2
    with np.errstate(all="ignore"):
        denom = 1 + q2 / n
        centre = (p + q2 / (2 * n)) / denom
        half = np.sqrt(q2) / denom * np.sqrt(p * (1 - p) / n + q2 / (4 * n * n))
    return np.maximum(0.0, centre - half), np.minimum(1.0, centre + half)


def wilson_interval(successes: float, n: float, *, confidence: float = CONFIDENCE) -> Interval:
    """Wilson score interval (no continuity correction), as scipy's `proportion_ci(method="wilson")`.

    `successes` and `n` may be fractional: the clustered variant passes an effective sample size.
    """
    if n <= 0:
        return EMPTY
    p = successes / n
    low, high = wilson_bounds(np.array(p), np.array(n), _z(confidence))
    return Interval(float(p), float(low), float(high))


def cluster_ratio_variance(sums: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of (cases × columns) sums and attempt counts: the mean per attempt Σs/Σn, its
    cluster-robust (linearised, CR1) variance k/(k-1)·Σ(s_c - mean·n_c)²/(Σn)², and the number of
    cases k that have attempts. NaN variance where k < 2."""
    sums = np.atleast_2d(np.asarray(sums, dtype=float))
    counts = np.atleast_2d(np.asarray(counts, dtype=float))
    k = (counts > 0).sum(axis=0)
    n = counts.sum(axis=0)
    with np.errstate(all="ignore"):
        mean = sums.sum(axis=0) / n
        resid = sums - mean * counts
        var = np.where(k >= 2, k / (k - 1) * np.sum(resid * resid, axis=0) / (n * n), np.nan)
    return mean, var, k


def score_bounds(
    sums: np.ndarray, counts: np.ndarray, *, confidence: float = CONFIDENCE, binary: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster-robust score interval of a mean of values in 0..1, per column: (mean, low, high).

    The Wilson interval on the effective sample size n_eff = mean(1-mean) / (cluster-robust
    variance). Wilson's shape keeps the bound inside 0..1 and asymmetric near the edges, where the
    percentile bootstrap and the t interval of a mean undercover (measured in
    `leaderboards.simulation`: 88% and 93% at 20 cases and a 0.9 rate; this one 95%).
    A graded score's spread is estimated from k cases, so Student's t on k-1 degrees of freedom
    replaces z (z measured 93% at 10–20 cases). A pass rate (`binary`) keeps z: the variance of a
    0/1 outcome follows from the rate, only the design effect is estimated, and t made 10-case
    bounds cover 98–99%; its design effect is never taken below 1 (a negative intra-case
    correlation is noise at these sizes and must not narrow a bound), while a graded score may
    legitimately vary less than a 0/1 outcome, so it is not floored. Fewer than two cases: Wilson
    with z on the attempts.
    """
    mean, var, k = cluster_ratio_variance(sums, counts)
    n = np.atleast_2d(np.asarray(counts, dtype=float)).sum(axis=0)
    with np.errstate(all="ignore"):
        binomial = mean * (1 - mean) / n
        deff = np.where((binomial > 0) & np.isfinite(var), var / binomial, 1.0)
        if binary:
            deff = np.maximum(deff, 1.0)
        n_eff = np.where(deff > 0, n / deff, np.inf)
        quantile = _z(confidence) if binary else np.where(
            k >= 2, sps.t.ppf(0.5 + confidence / 2, np.maximum(k - 1, 1)), _z(confidence))
    low, high = wilson_bounds(mean, n_eff, quantile)
    empty = ~(n > 0)
    return mean, np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def score_intervals(sums: np.ndarray, counts: np.ndarray, *, confidence: float = CONFIDENCE,
                    binary: bool = False) -> list[Interval]:
    """`score_bounds` as one Interval per column (EMPTY where a column has no attempts)."""
    mean, low, high = score_bounds(sums, counts, confidence=confidence, binary=binary)
    return [EMPTY if not np.isfinite(mean[j]) else Interval(float(mean[j]), _finite(low[j]), _finite(high[j]))
            for j in range(len(mean))]


def clustered_wilson(
    successes_per_case: np.ndarray, attempts_per_case: np.ndarray, *, confidence: float = CONFIDENCE
) -> Interval:
    """A pass rate's interval: `score_bounds` of 0/1 outcomes, clustered by case."""
    return score_intervals(np.asarray(successes_per_case, float)[:, None], np.asarray(attempts_per_case, float)[:, None],
                           confidence=confidence, binary=True)[0]


# --- Case-clustered bootstrap ------------------------------------------------------------------


def case_resample_weights(n_cases: int, *, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = DEFAULT_SEED) -> np.ndarray:
    """How often each case is drawn in each bootstrap replicate: a (n_boot, n_cases) float matrix.

    Row b is a multinomial draw of n_cases cases with replacement; a statistic of replicate b is
    the statistic of the data with every attempt of case c counted W[b, c] times.
    """
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_boot, n_cases), dtype=np.float64)
    if n_cases == 0:
        return weights
    for start in range(0, n_boot, _REPLICATE_CHUNK):
        stop = min(n_boot, start + _REPLICATE_CHUNK)
        draws = rng.integers(0, n_cases, size=(stop - start, n_cases))
        offsets = (np.arange(stop - start) * n_cases)[:, None]
        weights[start:stop] = np.bincount((draws + offsets).ravel(), minlength=(stop - start) * n_cases).reshape(
            stop - start, n_cases
        )
    return weights


def _percentile_bounds(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1 - confidence) / 2 * 100
    with np.errstate(all="ignore"), _quiet_nan():
        low = np.nanpercentile(replicates, alpha, axis=0)
        high = np.nanpercentile(replicates, 100 - alpha, axis=0)
    return low, high


class _quiet_nan:
    """nanpercentile warns on all-NaN columns (arms with no data); those simply get no bound."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def bootstrap_ratio_means(
    sums: np.ndarray, counts: np.ndarray, weights: np.ndarray, *, confidence: float = CONFIDENCE
) -> list[Interval]:
    """Mean per attempt (Σ value / Σ attempts) of each column, with case-bootstrap bounds.

    `sums` and `counts` are (n_cases, n_columns): per case, the sum of the metric over the case's
    attempts and how many attempts there were. One matrix product per board: cheap at 10k cases.
    """
    point, low, high = bootstrap_ratio_bounds(sums, counts, weights, confidence=confidence)
    total_n = np.atleast_2d(np.asarray(counts, dtype=float)).sum(axis=0)
    out = []
    for j in range(sums.shape[1]):
        if total_n[j] <= 0:
            out.append(EMPTY)
        else:
            out.append(Interval(float(point[j]), _finite(low[j]), _finite(high[j])))
    return out


def bootstrap_ratio_bounds(
    sums: np.ndarray, counts: np.ndarray, weights: np.ndarray, *, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`bootstrap_ratio_means` as arrays (point, low, high): the form simulations batch over runs."""
    sums = np.atleast_2d(np.asarray(sums, dtype=float))
    counts = np.atleast_2d(np.asarray(counts, dtype=float))
    with np.errstate(all="ignore"):
        point = sums.sum(axis=0) / counts.sum(axis=0)
        replicates = (weights @ sums) / (weights @ counts)
    low, high = _percentile_bounds(replicates, confidence)
    return point, low, high


def studentized_ratio_bounds(
    sums: np.ndarray, counts: np.ndarray, weights: np.ndarray, *, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Case-bootstrap-t bounds of the mean per attempt Σs/Σn of each column: (point, low, high).

    Each replicate is studentized by its own cluster-robust standard error, and the quantiles of
    those t statistics replace the normal ones: the interval follows the skew of the data (costs
    are lognormal-like; a few long answers dominate), where the percentile bootstrap covered
    82–86% at 10–20 cases in `leaderboards.simulation`. Same weights as every other bound.
    """
    sums = np.atleast_2d(np.asarray(sums, dtype=float))
    counts = np.atleast_2d(np.asarray(counts, dtype=float))
    point, var, k = cluster_ratio_variance(sums, counts)
    if weights.shape[0] == 0 or sums.size == 0:
        return point, np.full_like(point, np.nan), np.full_like(point, np.nan)
    clusters = weights.sum(axis=1, keepdims=True)  # cases drawn per replicate
    with np.errstate(all="ignore"):
        ws, wn = weights @ sums, weights @ counts
        rep = ws / wn
        resid2 = weights @ (sums * sums) - 2 * rep * (weights @ (sums * counts)) + rep * rep * (weights @ (counts * counts))
        rep_var = clusters / (clusters - 1) * np.maximum(resid2, 0.0) / (wn * wn)
        # Spreads below rounding error (relative to the mean) are none at all.
        tiny = 1e-9 * (np.abs(point) + 1e-300)
        shift = rep - point
        rep_se = np.sqrt(rep_var)
        t = np.where(rep_se > tiny, shift / rep_se, 0.0)
        # A replicate without spread (every drawn case alike) but off the mean is as extreme as it gets.
        t = np.where((rep_se <= tiny) & (np.abs(shift) > tiny), np.sign(shift) * np.inf, t)
        t = np.where(np.isnan(rep), np.nan, t)
        alpha = (1 - confidence) / 2 * 100
        with _quiet_nan():
            t_low, t_high = np.nanpercentile(t, [alpha, 100 - alpha], axis=0)
        se = np.sqrt(var)
        low, high = point - t_high * se, point - t_low * se
        # No spread in the data itself: the bound is the point.
        flat = ~(se > tiny)
        low = np.where(flat, point, low)
        high = np.where(flat, point, high)
    return point, low, high


def studentized_ratio_means(
    sums: np.ndarray, counts: np.ndarray, weights: np.ndarray, *, confidence: float = CONFIDENCE
) -> list[Interval]:
    """`studentized_ratio_bounds` as one Interval per column (EMPTY where a column has no attempts)."""
    point, low, high = studentized_ratio_bounds(sums, counts, weights, confidence=confidence)
    total_n = np.atleast_2d(np.asarray(counts, dtype=float)).sum(axis=0)
    return [EMPTY if total_n[j] <= 0 else Interval(float(point[j]), _finite(low[j]), _finite(high[j]))
            for j in range(len(point))]


def bootstrap_ratio_of_means(
    num_sums: np.ndarray, num_counts: np.ndarray, den_sums: np.ndarray, den_counts: np.ndarray,
    weights: np.ndarray, *, confidence: float = CONFIDENCE,
) -> list[Interval]:
    """(Σ num / Σ num attempts) / (Σ den / Σ den attempts) of each column, with case-bootstrap bounds.

    A relative figure such as the mean F1 on hard cases over the mean F1 on easy ones. The same
    weights resample numerator and denominator together, so the pairing of cases is kept; a
    replicate whose denominator mean is 0 or missing has no ratio and is left out.
    """
    num_sums, num_counts, den_sums, den_counts = (
        np.atleast_2d(np.asarray(x, dtype=float)) for x in (num_sums, num_counts, den_sums, den_counts))
    with np.errstate(all="ignore"):
        point = (num_sums.sum(axis=0) / num_counts.sum(axis=0)) / (den_sums.sum(axis=0) / den_counts.sum(axis=0))
        replicates = ((weights @ num_sums) / (weights @ num_counts)) / ((weights @ den_sums) / (weights @ den_counts))
    replicates[~np.isfinite(replicates)] = np.nan
    low, high = _percentile_bounds(replicates, confidence)
    return [Interval(float(point[j]), _finite(low[j]), _finite(high[j])) if np.isfinite(point[j]) else EMPTY
            for j in range(num_sums.shape[1])]


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def weighted_quantile_sorted(sorted_values: np.ndarray, cum_weights: np.ndarray, q: float) -> np.ndarray:
    """The `inverted_cdf` quantile of each row of weights over values already sorted ascending.

    The direct (replicates × attempts) computation; `bootstrap_percentiles` gets the same answer
    without it, and the tests hold the two to exact agreement.

    `cum_weights` is (rows, n) cumulative weights; the result is the smallest value whose
    cumulative weight reaches q of the row's total (numpy's `method="inverted_cdf"`).
    """
    totals = cum_weights[:, -1]
    target = q * totals
    # First index whose cumulative weight reaches the target (searchsorted per row, vectorised).
    idx = (cum_weights < target[:, None] - 1e-9 * np.maximum(totals[:, None], 1)).sum(axis=1)
    idx = np.minimum(idx, len(sorted_values) - 1)
    out = sorted_values[idx].astype(float)
    out[totals <= 0] = np.nan
    return out


def bootstrap_percentiles(
    values: np.ndarray,
    case_idx: np.ndarray,
    weights: np.ndarray,
    quantiles: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
    block: int = 256,
    weights_t: np.ndarray | None = None,
) -> list[Interval]:
    """Percentiles of one arm's attempt values with case-bootstrap bounds.

    Each replicate weights an attempt by how often its case was drawn; the replicate percentile is
    the weighted `inverted_cdf` quantile. Exact, without a (replicates × attempts) cumulative sum:
    the sorted attempts are cut into blocks, one sparse product gives every replicate's weight
    per block, the block where a replicate crosses the quantile is found on the block sums, and
    only that block's attempts are summed one by one. `weights_t` (the transposed weights, C
    order) may be passed by callers that bound many arms with one weight matrix.
    """
    from scipy import sparse

    mask = np.isfinite(values)
    values, case_idx = values[mask], case_idx[mask]
    n = len(values)
    if n == 0:
        return [EMPTY for _ in quantiles]
    order = np.argsort(values, kind="stable")
    sorted_values, sorted_cases = values[order], case_idx[order]
    point = [float(np.percentile(sorted_values, q * 100, method="inverted_cdf")) for q in quantiles]
    n_boot, n_cases = weights.shape
    n_blocks = -(-n // block)
    membership = sparse.csr_matrix(
        (np.ones(n), (np.arange(n) // block, sorted_cases)), shape=(n_blocks, n_cases)
    )
    if weights_t is None:
        weights_t = np.ascontiguousarray(weights.T)
    block_cum = np.cumsum(np.asarray(membership @ weights_t), axis=0)  # (n_blocks, n_boot)
    totals = block_cum[-1]
    tolerance = 1e-9 * np.maximum(totals, 1)
    rows = np.arange(n_boot)
    reps = np.empty((n_boot, len(quantiles)))
    for k, q in enumerate(quantiles):
        target = q * totals - tolerance
        crossing = np.minimum((block_cum < target).sum(axis=0), n_blocks - 1)
        before = np.where(crossing > 0, block_cum[np.maximum(crossing - 1, 0), rows], 0.0)
        positions = crossing[:, None] * block + np.arange(block)[None, :]
        inside = positions < n
        within = np.where(inside, weights[rows[:, None], sorted_cases[np.minimum(positions, n - 1)]], 0.0)
        steps = (before[:, None] + np.cumsum(within, axis=1) < target[:, None]).sum(axis=1)
        chosen = sorted_values[np.minimum(crossing * block + steps, n - 1)].astype(float)
        chosen[totals <= 0] = np.nan
        reps[:, k] = chosen
    low, high = _percentile_bounds(reps, confidence)
    return [Interval(point[k], _finite(low[k]), _finite(high[k])) for k in range(len(quantiles))]


# --- Where the bounds are approximate ----------------------------------------------------------

# Fewest cases at which the simulation (`benchmarks/ranking_calibration.py`, 1,000 runs per
# regime) measured the bound's coverage at 94% or more (within twice its Monte Carlo error, about
# 0.8 points) in every regime it tried; below that the
# board row says `bounds_approximate`. Measured, not guessed (figures: coverage at the sizes
# below the threshold): latency p50 92% at 10–20 cases; p90 82–92% up to 100 cases; p95 68–93.4%
# up to 1,000; p99 10–92% at every size tried (up to 2,000); cost per attempt 91–94% up
# to 100 cases; tokens per second 93.6–93.9% at 10–20; Bradley–Terry 95–98% (too wide) up to 50;
# paired differences 93.6–97.4% at 10–20. Pass rates and mean scores hold from 10 cases.
APPROXIMATE_BELOW_CASES = {
    "mean_score": 10,
    "pass_rate": 10,
    "latency_p50": 50,
    "latency_p90": 200,
    "latency_p95": 2000,
    "latency_p99": 5000,
    "cost_per_attempt": 200,
    "tokens_per_second": 50,
    "bt_rating": 100,
    "paired_difference": 50,
}


def bounds_approximate(metric: str, cases: int) -> bool:
    """True when `metric`'s 95% bound over `cases` cases is in a regime where it was measured to
    cover less than 94% (see APPROXIMATE_BELOW_CASES)."""
    return int(cases) < APPROXIMATE_BELOW_CASES.get(metric, 0)


# --- Ranking -----------------------------------------------------------------------------------


def rank_by_bounds(
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    *,
    higher_is_better: bool = True,
    beats: np.ndarray | None = None,
    values: Sequence[float | None] | None = None,
) -> list[int | None]:
    """rank = 1 + the number of arms that are clearly better (as Chatbot Arena ranks).

    "Clearly better" means the other arm's whole interval lies beyond this arm's: its lower bound
    above this upper bound (or, when lower is better, its upper bound below this lower bound).
    Overlapping arms share a rank. Rows without bounds get no rank and count for no one.

    With `beats` (beats[i, j]: the multiplicity-corrected paired test says i is better than j)
    the ranks become levels that never state an order the test does not: arms are sorted by
    `values` (default: the interval midpoints) and a new rank starts only where every arm above
    is clearly better, by bounds and by the test, than every arm below. Arena ranks can order two
    arms neither of which beats the other (a third arm beats one of them): the simulation measured
    that as a wrong strict order in 13% of runs with four arms (two tied) and 97% with twenty.
    """
    ranked = [i for i in range(len(lows)) if lows[i] is not None and highs[i] is not None]
    ranks: list[int | None] = [None] * len(lows)

    def clear(i: int, j: int) -> bool:  # i clearly better than j
        separated = lows[i] > highs[j] if higher_is_better else highs[i] < lows[j]  # type: ignore[operator]
        return bool(separated and (beats is None or beats[i, j]))

    if beats is None:
        for i in ranked:
            ranks[i] = 1 + sum(1 for j in ranked if j != i and clear(j, i))
        return ranks
    sign = -1 if higher_is_better else 1

    def key(i: int) -> float:
        v = values[i] if values is not None and values[i] is not None else (lows[i] + highs[i]) / 2  # type: ignore[operator]
        return sign * float(v)  # type: ignore[arg-type]

    order = sorted(ranked, key=key)
    level = 1
    for k, i in enumerate(order):
        if k > 0 and all(clear(a, b) for a in order[:k] for b in order[k:]):
            level = k + 1
        ranks[i] = level
    return ranks


# --- Paired comparison -------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedCase:
    case: str
    a: float
    b: float
    outcome: str  # "win" | "loss" | "tie", from a's side


@dataclass(frozen=True)
class McNemar:
    a_only: int  # cases a passes and b fails
    b_only: int
    p_value: float


@dataclass(frozen=True)
class PairedComparison:
    wins: int
    losses: int
    ties: int
    n: int
    win_rate: float | None  # wins / (wins + losses)
    ci_low: float | None
    ci_high: float | None
    p_value: float  # two-sided exact sign test on decisive cases
    mcnemar: McNemar | None
    cases: list[PairedCase] = field(default_factory=list)


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: under H0 a decisive case is a win with probability 1/2."""
    if wins + losses == 0:
        return 1.0
    return float(sps.binomtest(wins, wins + losses, 0.5).pvalue)


def paired_compare(
    case_ids: Sequence[str],
    a_scores: np.ndarray,
    b_scores: np.ndarray,
    *,
    a_pass: np.ndarray | None = None,
    b_pass: np.ndarray | None = None,
    confidence: float = CONFIDENCE,
) -> PairedComparison:
    """Head to head on the task instances both arms answered.

    Inputs are per case (the mean over the case's samples); NaN means the arm has no score for the
    case, and such cases are left out. McNemar (exact, i.e. a binomial test on the discordant
    pairs) uses per-case pass/fail: a case passes for an arm when most of its samples pass.
    """
    a_scores, b_scores = np.asarray(a_scores, float), np.asarray(b_scores, float)
    both = np.isfinite(a_scores) & np.isfinite(b_scores)
    diff = a_scores - b_scores
    win = both & (diff > _TIE_EPS)
    loss = both & (diff < -_TIE_EPS)
    tie = both & ~win & ~loss
    wins, losses, ties = int(win.sum()), int(loss.sum()), int(tie.sum())
    decisive = wins + losses
    bounds = wilson_interval(wins, decisive, confidence=confidence) if decisive else EMPTY
    mcnemar = None
    if a_pass is not None and b_pass is not None:
        a_ok = np.asarray(a_pass, float) > 0.5
        b_ok = np.asarray(b_pass, float) > 0.5
        a_only = int((both & a_ok & ~b_ok).sum())
        b_only = int((both & ~a_ok & b_ok).sum())
        mcnemar = McNemar(a_only, b_only, sign_test(a_only, b_only))
    rows = [
        PairedCase(str(case_ids[i]), float(a_scores[i]), float(b_scores[i]),
                   "win" if win[i] else "loss" if loss[i] else "tie")
        for i in np.flatnonzero(both)
    ]
    return PairedComparison(
        wins=wins, losses=losses, ties=ties, n=int(both.sum()),
        win_rate=bounds.value, ci_low=bounds.low, ci_high=bounds.high,
        p_value=sign_test(wins, losses), mcnemar=mcnemar, cases=rows,
    )


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (same shape; NaN entries are not tests).

    Controls the family-wise error rate at any alpha without assumptions on dependence.
    """
    p = np.asarray(p_values, dtype=float)
    flat = p.ravel()
    tested = np.flatnonzero(np.isfinite(flat))
    out = np.full(flat.shape, np.nan)
    if len(tested):
        order = tested[np.argsort(flat[tested], kind="stable")]
        m = len(order)
        adjusted = np.maximum.accumulate((m - np.arange(m)) * flat[order])
        out[order] = np.minimum(adjusted, 1.0)
    return out.reshape(p.shape)


@dataclass(frozen=True)
class PairedDifferences:
    """Every ordered pair (i, j) of arms on the cases both answered: mean score of i minus j.

    `low`/`high`: MOVER bounds (see `paired_difference_arrays`); `p_value`: two-sided paired t-test
    on the per-case differences (cluster-robust variance, k-1 degrees of freedom); `p_holm`: the
    same corrected over the A(A-1)/2 pairs; `beats[i, j]`: i is better than j by the corrected test.
    """

    n: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    p_value: np.ndarray
    p_holm: np.ndarray
    beats: np.ndarray


def paired_difference_arrays(
    sums: np.ndarray, counts: np.ndarray, *, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(n, mean, low, high, p) for every pair i < j (`np.triu_indices` order, last axis) of arms,
    from per-case score sums and attempt counts of shape (cases, ..., arms); leading axes after
    the first are batch axes (simulated runs).

    Bounds: MOVER (Zou & Donner 2008; Newcombe's paired-proportion method 10 generalised): each
    arm's cluster-robust score interval (`score_bounds`) on the cases both answered, recombined
    with the correlation r of the two arms' per-case means,
        low  = d - √((m_i - l_i)² + (u_j - m_j)² - 2r(m_i - l_i)(u_j - m_j)),
        high = d + √((u_i - m_i)² + (m_j - l_j)² - 2r(u_i - m_i)(m_j - l_j)).
    It inherits the score interval's behaviour near 0 and 1: measured 94.6–96.9% where the case
    bootstrap of the difference (percentile or studentized) covered 69–93% (`simulation`).
    """
    sums = np.asarray(sums, dtype=float)
    counts = np.asarray(counts, dtype=float)
    c, batch, a = sums.shape[0], sums.shape[1:-1], sums.shape[-1]
    i, j = np.triu_indices(a, k=1)
    valid = (counts[..., i] > 0) & (counts[..., j] > 0)  # (C, ..., P)
    si, ni = np.where(valid, sums[..., i], 0.0), np.where(valid, counts[..., i], 0.0)
    sj, nj = np.where(valid, sums[..., j], 0.0), np.where(valid, counts[..., j], 0.0)
    shape = batch + (len(i),)

    def bounds(x: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m, lo, hi = score_bounds(x.reshape(c, -1), n.reshape(c, -1), confidence=confidence)
        return m.reshape(shape), lo.reshape(shape), hi.reshape(shape)

    mi, li, ui = bounds(si, ni)
    mj, lj, uj = bounds(sj, nj)
    with np.errstate(all="ignore"):
        xi, xj = si / ni, sj / nj  # per-case means (NaN off the common cases)
        k = valid.sum(axis=0)
        ci = np.where(valid, xi - np.nansum(np.where(valid, xi, 0), axis=0) / k, 0.0)
        cj = np.where(valid, xj - np.nansum(np.where(valid, xj, 0), axis=0) / k, 0.0)
        r = np.sum(ci * cj, axis=0) / np.sqrt(np.sum(ci * ci, axis=0) * np.sum(cj * cj, axis=0))
        r = np.where(np.isfinite(r), r, 0.0)
        d = mi - mj
        low = d - np.sqrt(np.maximum((mi - li) ** 2 + (uj - mj) ** 2 - 2 * r * (mi - li) * (uj - mj), 0.0))
        high = d + np.sqrt(np.maximum((ui - mi) ** 2 + (mj - lj) ** 2 - 2 * r * (ui - mi) * (mj - lj), 0.0))
        # Paired t on the per-case differences.
        diff = np.where(valid, xi - xj, 0.0)
        _, var, kk = cluster_ratio_variance(diff.reshape(c, -1), valid.reshape(c, -1).astype(float))
        mean_diff = diff.sum(axis=0).reshape(-1) / np.maximum(kk, 1)
        t = mean_diff / np.sqrt(var)
        p = 2 * sps.t.sf(np.abs(t), np.maximum(kk - 1, 1))
    # No spread at all: identical cases are a certain difference (or none, when it is 0).
    p = np.where(np.isfinite(t), p, np.where(np.abs(mean_diff) > _TIE_EPS, 0.0, 1.0))
    p = np.where(kk >= 2, p, 1.0).reshape(shape)
    return k, d, low, high, p


def paired_differences(sums: np.ndarray, counts: np.ndarray, *, confidence: float = CONFIDENCE) -> PairedDifferences:
    """`paired_difference_arrays` of one board as (A, A) matrices, with Holm's correction."""
    a = np.asarray(sums).shape[-1]
    k, mean, low, high, p = paired_difference_arrays(sums, counts, confidence=confidence)
    i, j = np.triu_indices(a, k=1)
    adjusted = holm(p)

    def square(upper: np.ndarray, lower: np.ndarray, diagonal: float = np.nan) -> np.ndarray:
        out = np.full((a, a), diagonal, dtype=float)
        out[i, j], out[j, i] = upper, lower
        return out

    mean_sq = square(mean, -mean)
    p_holm = square(adjusted, adjusted)
    beats = (p_holm < 1 - confidence) & (mean_sq > 0)
    return PairedDifferences(
        n=square(k, k, 0).astype(int), mean=mean_sq, low=square(low, -high), high=square(high, -low),
        p_value=square(p, p), p_holm=p_holm, beats=beats,
    )


def case_outcomes(case_means: np.ndarray) -> np.ndarray:
    """Per case, who beat whom: (n_cases, A, A) with 1 for a win of row over column, ½ for a tie.

    Cases where either arm has no score contribute nothing to that pair.
    """
    x = np.asarray(case_means, float)
    diff = x[:, :, None] - x[:, None, :]
    valid = np.isfinite(diff)
    out = np.where(diff > _TIE_EPS, 1.0, 0.0) + np.where(np.abs(diff) <= _TIE_EPS, 0.5, 0.0)
    out[~valid] = 0.0
    idx = np.arange(x.shape[1])
    out[:, idx, idx] = 0.0
    return out


@dataclass(frozen=True)
class WinMatrix:
    wins: np.ndarray  # wins[i, j]: decisive cases where i beat j
    ties: np.ndarray
    n: np.ndarray  # cases both arms answered

    def win_rate(self) -> np.ndarray:
        """Share of decisive cases row won against column (NaN where none were decisive)."""
        decisive = self.wins + self.wins.T
        with np.errstate(all="ignore"):
            return np.where(decisive > 0, self.wins / decisive, np.nan)


def win_matrix(case_means: np.ndarray) -> WinMatrix:
    x = np.asarray(case_means, float)
    diff = x[:, :, None] - x[:, None, :]
    valid = np.isfinite(diff)
    wins = ((diff > _TIE_EPS) & valid).sum(axis=0)
    ties = ((np.abs(diff) <= _TIE_EPS) & valid).sum(axis=0)
    n = valid.sum(axis=0)
    np.fill_diagonal(ties, 0)
    np.fill_diagonal(n, 0)
    return WinMatrix(wins=wins.astype(int), ties=ties.astype(int), n=n.astype(int))


# --- Bradley–Terry -----------------------------------------------------------------------------


def bradley_terry(wins: np.ndarray, *, prior: float = 0.0, max_iter: int = 200, tol: float = 1e-10) -> np.ndarray:
    """Maximum-likelihood Bradley–Terry log-strengths θ (mean 0) from a win matrix.

    P(i beats j) = e^θi / (e^θi + e^θj). `wins[..., i, j]` may be fractional (a tie is half a win
    each way) and may carry leading batch axes (bootstrap replicates are fitted together).
    `prior` adds that many virtual wins each way between every pair: a weak prior that keeps the
    estimate finite when an arm never wins or the comparison graph is split; 0 is the plain MLE.
    Newton's method with step halving on the concave log-likelihood, vectorised over the batch.
    """
    w = np.asarray(wins, dtype=float)
    a = w.shape[-1]
    eye = np.eye(a, dtype=bool)
    w = np.where(eye, 0.0, w + prior)
    n = w + np.swapaxes(w, -1, -2)
    theta = np.zeros(w.shape[:-1])

    def loglik(t: np.ndarray) -> np.ndarray:
        d = t[..., :, None] - t[..., None, :]
        return np.sum(w * -np.logaddexp(0.0, -d), axis=(-1, -2))

    current = loglik(theta)
    centre = np.full((a, a), 1.0 / a)
    for _ in range(max_iter):
        d = theta[..., :, None] - theta[..., None, :]
        p = 1.0 / (1.0 + np.exp(-d))
        grad = np.sum(w - n * p, axis=-1)
        h = n * p * (1 - p)
        # Negative Hessian of the log-likelihood; the all-ones direction (a shift of every θ) is
        # free, so it is pinned by adding the projection onto it.
        neg_hess = np.where(eye, np.sum(h, axis=-1)[..., :, None] * eye, -h) + centre
        step = np.linalg.solve(neg_hess, grad[..., None])[..., 0]
        step -= step.mean(axis=-1, keepdims=True)
        scale = np.ones(theta.shape[:-1])
        for _halving in range(30):
            candidate = theta + scale[..., None] * step
            value = loglik(candidate)
            worse = value < current - 1e-12
            if not np.any(worse):
                break
            scale = np.where(worse, scale / 2, scale)
        theta, previous, current = candidate, current, value
        if np.all(np.abs(step * scale[..., None]) < tol) or np.all(np.abs(current - previous) < tol):
            break
    return theta - theta.mean(axis=-1, keepdims=True)


ELO_SCALE = 400 / np.log(10)
ELO_BASE = 1000.0


@dataclass(frozen=True)
class Rating:
    arm: str
    theta: float
    rating: float  # Elo scale: 1000 + 400·log10(e)·θ; 400 points = 10:1 odds
    ci_low: float | None
    ci_high: float | None
    rank: int | None


def bradley_terry_bounds(
    per_case: np.ndarray, weights: np.ndarray, *, prior: float = 0.5, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """θ (mean 0) with case-bootstrap bounds: (theta, low, high), bounds None without replicates.

    `per_case` is (n_cases, A, A) as `case_outcomes` returns. Each replicate's win matrix is the
    weighted sum of the cases it drew, so all replicates come from one product. The bound is
    θ ± t_{k-1} · (bootstrap standard deviation of θ): with the board's 200 replicates the 2.5%
    and 97.5% percentiles are themselves noisy, and the percentile interval measured 90.7–93.6%
    (20–200 cases) in `leaderboards.simulation` where this one holds 94–95% from 50 cases on.
    """
    c, a = per_case.shape[0], per_case.shape[-1]
    flat = per_case.reshape(c, a * a)
    theta = bradley_terry(flat.sum(axis=0).reshape(a, a), prior=prior)
    if weights.shape[0] < 2 or c < 2:
        return theta, None, None
    reps = bradley_terry((weights @ flat).reshape(weights.shape[0], a, a), prior=prior)
    half = sps.t.ppf(0.5 + confidence / 2, c - 1) * reps.std(axis=0, ddof=1)
    return theta, theta - half, theta + half


def bradley_terry_ratings(
    arms: Sequence[str],
    per_case: np.ndarray,
    weights: np.ndarray,
    *,
    prior: float = 0.5,
    confidence: float = CONFIDENCE,
) -> list[Rating]:
    """Bradley–Terry ratings on the Elo scale from per-case pairwise outcomes (further sources of
    pairwise outcomes, such as evaluator judgements, are added to `per_case` case by case), with
    the bounds of `bradley_terry_bounds`, ranked by them."""
    a = len(arms)
    if a == 0:
        return []
    theta, low, high = bradley_terry_bounds(per_case, weights, prior=prior, confidence=confidence)
    if low is not None and high is not None:
        lows = [float(ELO_BASE + ELO_SCALE * x) for x in low]
        highs = [float(ELO_BASE + ELO_SCALE * x) for x in high]
    else:
        lows = highs = [None] * a  # type: ignore[list-item]
    ranks = rank_by_bounds(lows, highs)
    return [
        Rating(arms[i], float(theta[i]), float(ELO_BASE + ELO_SCALE * theta[i]), lows[i], highs[i], ranks[i])
        for i in range(a)
    ]


# --- Frontier ----------------------------------------------------------------------------------


def pareto_frontier(points: Sequence[tuple[str, float, float]]) -> list[str]:
    """Arms no other arm beats on both cost (lower) and quality (higher), cheapest first.

    `points` are (arm, cost, quality); unpriced arms must be left out by the caller, never given
    a cost of 0.
    """
    ordered = sorted(points, key=lambda p: (p[1], -p[2], p[0]))
    frontier: list[str] = []
    best_quality = -np.inf
    for arm, _cost, quality in ordered:
        if quality > best_quality:
            frontier.append(arm)
            best_quality = quality
    return frontier
