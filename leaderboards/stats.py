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
- Percentile bootstrap intervals (2.5th / 97.5th percentile of the replicate statistics).
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


def wilson_interval(successes: float, n: float, *, confidence: float = CONFIDENCE) -> Interval:
    """Wilson score interval (no continuity correction), as scipy's `proportion_ci(method="wilson")`.

    `successes` and `n` may be fractional: the clustered variant passes an effective sample size.
    """
    if n <= 0:
        return EMPTY
    p = successes / n
    z = _z(confidence)
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return Interval(float(p), float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def design_effect(successes_per_case: np.ndarray, attempts_per_case: np.ndarray) -> float:
    """Variance inflation of a proportion whose attempts come in clusters (cases).

    Ratio of the cluster-robust variance of p̂ = Σy/Σm to the binomial variance p(1-p)/n. It is 1
    when every case has one attempt, and never reported below 1: a negative intra-case
    correlation is noise at these sizes and must not narrow a bound.
    """
    m = attempts_per_case[attempts_per_case > 0].astype(float)
    y = successes_per_case[attempts_per_case > 0].astype(float)
    k, n = len(m), m.sum()
    if k < 2 or n <= k:
        return 1.0
    p = y.sum() / n
    binomial = p * (1 - p) / n
    if binomial <= 0:
        return 1.0
    clustered = k / (k - 1) * np.sum((y - p * m) ** 2) / (n * n)
    return float(max(1.0, clustered / binomial))


def clustered_wilson(
    successes_per_case: np.ndarray, attempts_per_case: np.ndarray, *, confidence: float = CONFIDENCE
) -> Interval:
    """Wilson interval on the effective sample size n / design effect (Kish)."""
    n = float(attempts_per_case.sum())
    if n <= 0:
        return EMPTY
    p = float(successes_per_case.sum()) / n
    n_eff = n / design_effect(successes_per_case, attempts_per_case)
    bounds = wilson_interval(p * n_eff, n_eff, confidence=confidence)
    return Interval(p, bounds.low, bounds.high)


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
    sums = np.atleast_2d(np.asarray(sums, dtype=float))
    counts = np.atleast_2d(np.asarray(counts, dtype=float))
    total_n = counts.sum(axis=0)
    with np.errstate(all="ignore"):
        point = sums.sum(axis=0) / total_n
        replicates = (weights @ sums) / (weights @ counts)
    low, high = _percentile_bounds(replicates, confidence)
    out = []
    for j in range(sums.shape[1]):
        if total_n[j] <= 0:
            out.append(EMPTY)
        else:
            out.append(Interval(float(point[j]), _finite(low[j]), _finite(high[j])))
    return out


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


# --- Ranking -----------------------------------------------------------------------------------


def rank_by_bounds(
    lows: Sequence[float | None], highs: Sequence[float | None], *, higher_is_better: bool = True
) -> list[int | None]:
    """rank = 1 + the number of arms that are clearly better (as Chatbot Arena ranks).

    "Clearly better" means the other arm's whole interval lies beyond this arm's: its lower bound
    above this upper bound (or, when lower is better, its upper bound below this lower bound).
    Overlapping arms share a rank. Rows without bounds get no rank and count for no one.
    """
    ranked = [i for i in range(len(lows)) if lows[i] is not None and highs[i] is not None]
    ranks: list[int | None] = [None] * len(lows)
    for i in ranked:
        if higher_is_better:
            better = sum(1 for j in ranked if j != i and lows[j] > highs[i])  # type: ignore[operator]
        else:
            better = sum(1 for j in ranked if j != i and highs[j] < lows[i])  # type: ignore[operator]
        ranks[i] = 1 + better
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


def bradley_terry_ratings(
    arms: Sequence[str],
    per_case: np.ndarray,
    weights: np.ndarray,
    *,
    prior: float = 0.5,
    confidence: float = CONFIDENCE,
) -> list[Rating]:
    """Bradley–Terry ratings from per-case pairwise outcomes, with case-bootstrap bounds.

    `per_case` is (n_cases, A, A) as `case_outcomes` returns (further sources of pairwise
    outcomes, such as evaluator judgements, are added to it case by case). Each replicate's win
    matrix is the weighted sum of the cases it drew, so all replicates come from one product.
    """
    a = len(arms)
    if a == 0:
        return []
    flat = per_case.reshape(per_case.shape[0], a * a)
    theta = bradley_terry(flat.sum(axis=0).reshape(a, a), prior=prior)
    reps = bradley_terry((weights @ flat).reshape(weights.shape[0], a, a), prior=prior) if weights.size else None
    if reps is not None:
        low, high = _percentile_bounds(reps, confidence)
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
