"""Is the ranking settled? An anytime-valid test a run may apply after every batch of cases.

Looking at a leaderboard after each batch and stopping once a fixed-n 95% test says "A is best"
would be wrong far more than 5% of the time (every look is another chance for noise to cross the
line). Instead each pair of arms gets a *confidence sequence* for the mean per-case difference of
their scores: an interval valid at every number of cases simultaneously, so a run may look as
often as it likes. The one used is the predictable plug-in empirical-Bernstein sequence of
Waudby-Smith & Ramdas ("Estimating means of bounded random variables by betting", JRSS-B 2024,
eq. 13–15) on differences mapped to 0..1, with the running intersection taken; the A(A-1)/2 pairs
share the error budget (Bonferroni), so with probability ≥ `confidence` every sequence holds at
every look, whatever arm leads when.

The top-k set is settled when each of its arms' difference against each arm outside it has a
lower bound above 0. Then: the chance of naming a wrong top-k set, or of stopping at all when arms
are equal, is at most 1 - confidence. Cases must come in a random order (seeded by the run), so
that the cases seen so far are a random sample of the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def confidence_sequence(x: np.ndarray, *, alpha: float, cap: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds, at every prefix length t along the last axis, of the mean of
    i.i.d. observations in 0..1: valid simultaneously over all t with probability ≥ 1 - alpha.

    Predictable plug-in empirical-Bernstein (PrPl-EB): bets λ_t chosen from the variance seen
    before observation t, capped at `cap`.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    t = np.arange(1, n + 1, dtype=float)
    log_term = np.log(2 / alpha)
    mu_hat = (0.5 + np.cumsum(x, axis=-1)) / (t + 1)
    sigma2 = (0.25 + np.cumsum((x - mu_hat) ** 2, axis=-1)) / (t + 1)
    lead = np.ones(x.shape[:-1] + (1,))
    mu_prev = np.concatenate([0.5 * lead, mu_hat[..., :-1]], axis=-1)
    sigma2_prev = np.concatenate([0.25 * lead, sigma2[..., :-1]], axis=-1)
    lam = np.minimum(np.sqrt(2 * log_term / (sigma2_prev * t * np.log1p(t))), cap)
    psi = (-np.log1p(-lam) - lam) / 4
    v = 4 * (x - mu_prev) ** 2
    total = np.cumsum(lam, axis=-1)
    centre = np.cumsum(lam * x, axis=-1) / total
    half = (log_term + np.cumsum(v * psi, axis=-1)) / total
    low = np.maximum.accumulate(np.clip(centre - half, 0.0, 1.0), axis=-1)
    high = np.minimum.accumulate(np.clip(centre + half, 0.0, 1.0), axis=-1)
    return low, high


def difference_bounds(case_scores: np.ndarray, *, confidence: float) -> np.ndarray:
    """(..., T, A) per-case scores in 0..1, in run order -> (..., T, A, A) anytime-valid lower bounds
    of the mean difference row - column after each prefix of cases."""
    s = np.asarray(case_scores, dtype=float)
    a = s.shape[-1]
    i, j = np.triu_indices(a, k=1)
    pairs = max(1, len(i))
    x = (np.moveaxis(s[..., i] - s[..., j], -1, -2) + 1) / 2  # (..., P, T) in 0..1
    low, high = confidence_sequence(x, alpha=(1 - confidence) / pairs)
    lower = np.full(s.shape[:-1] + (a, a), -np.inf)
    lower[..., i, j] = np.moveaxis(2 * low - 1, -2, -1)
    lower[..., j, i] = np.moveaxis(1 - 2 * high, -2, -1)
    return lower


@dataclass(frozen=True)
class Settlement:
    settled: bool
    top: tuple[int, ...]  # the settled top-k arms (indices), best first; () when not settled
    cases: int  # cases looked at
    lower: np.ndarray  # (A, A): anytime-valid lower bound of mean difference row - column


def _top_set(lower: np.ndarray, means: np.ndarray, top: int) -> tuple[int, ...]:
    order = [int(k) for k in np.argsort(-means, kind="stable")]
    inside, outside = order[:top], order[top:]
    if outside and all(lower[i, j] > 0 for i in inside for j in outside):
        return tuple(inside)
    return ()


def settle_check(
    case_scores: np.ndarray, *, top: int = 1, confidence: float = 0.95, min_cases: int = 30
) -> Settlement:
    """After the cases seen so far (rows, in run order; columns arms; each a case's mean score in
    0..1), is the top-`top` set settled? Cases where an arm has no score are left out."""
    s = np.asarray(case_scores, dtype=float)
    s = s[np.all(np.isfinite(s), axis=1)]
    n, a = s.shape
    if n == 0 or a < 2:
        return Settlement(False, (), n, np.full((a, a), -np.inf))
    lower = difference_bounds(s, confidence=confidence)[-1]
    chosen = _top_set(lower, s.mean(axis=0), top) if n >= min_cases and top < a else ()
    return Settlement(bool(chosen), chosen, n, lower)


def first_settled(
    case_scores: np.ndarray,
    *,
    top: int = 1,
    confidence: float = 0.95,
    min_cases: int = 30,
    batch: int = 10,
) -> tuple[int | None, tuple[int, ...]]:
    """Replay a run that looks after every `batch` cases (from `min_cases` on): the number of cases
    at which it would stop and the top set it would name, or (None, ()) if it never settles.
    The same decision `settle_check` takes at each look (the bounds at t use only the first t cases)."""
    s = np.asarray(case_scores, dtype=float)
    n = s.shape[0]
    lower = difference_bounds(s, confidence=confidence)
    running = np.cumsum(s, axis=0) / np.arange(1, n + 1)[:, None]
    for t in range(max(min_cases, 1), n + 1, batch):
        chosen = _top_set(lower[t - 1], running[t - 1], top)
        if chosen:
            return t, chosen
    return None, ()
