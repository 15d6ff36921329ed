"""Numerical tests of leaderboards.stats against SciPy, choix and hand-computed values."""

from __future__ import annotations

import itertools

import choix
import numpy as np
import pytest
from scipy import optimize
from scipy import stats as sps

from leaderboards import stats

# --- Wilson ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "n"), [(0, 10), (1, 10), (7, 10), (10, 10), (37, 120), (503, 1000), (1, 1)])
def test_wilson_matches_scipy(k, n):
    ours = stats.wilson_interval(k, n)
    ref = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert ours.value == pytest.approx(k / n)
    assert ours.low == pytest.approx(ref.low, abs=1e-12)
    assert ours.high == pytest.approx(ref.high, abs=1e-12)


def test_wilson_hand_computed():
    # 8 of 10, z = 1.959964: centre = (0.8 + z²/20) / (1 + z²/10), half = z/(1+z²/10)·√(0.016 + z²/400)
    z = 1.959963984540054
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z / (1 + z * z / 10) * np.sqrt(0.8 * 0.2 / 10 + z * z / 400)
    ours = stats.wilson_interval(8, 10)
    assert ours.low == pytest.approx(centre - half, abs=1e-12)
    assert ours.high == pytest.approx(centre + half, abs=1e-12)
    assert ours.low == pytest.approx(0.4901624, abs=1e-6)
    assert ours.high == pytest.approx(0.9433178, abs=1e-6)


def test_wilson_empty():
    assert stats.wilson_interval(0, 0) == stats.EMPTY


def test_clustered_wilson_with_one_sample_per_case_is_wilson_on_cluster_robust_size():
    # One attempt per case: the effective size is n·(k-1)/k (the CR1 factor); written out by hand.
    rng = np.random.default_rng(1)
    y = (rng.random(200) < 0.3).astype(float)
    ours = stats.clustered_wilson(y, np.ones(200))
    p, n_eff, t = y.mean(), 199.0, sps.norm.ppf(0.975)
    centre = (p + t * t / (2 * n_eff)) / (1 + t * t / n_eff)
    half = t / (1 + t * t / n_eff) * np.sqrt(p * (1 - p) / n_eff + t * t / (4 * n_eff**2))
    assert (ours.low, ours.high) == pytest.approx((centre - half, centre + half), abs=1e-12)
    plain = stats.wilson_interval(y.sum(), 200)
    assert ours.low < plain.low and ours.high > plain.high  # slightly wider than plain Wilson


def test_clustered_wilson_widens_when_samples_of_a_case_agree():
    # 100 cases × 5 samples, every sample of a case identical: the information is 100 cases, not 500.
    passes = np.r_[np.full(40, 5.0), np.zeros(60)]
    attempts = np.full(100, 5.0)
    clustered = stats.clustered_wilson(passes, attempts)
    per_case = stats.wilson_interval(40, 100)
    naive = stats.wilson_interval(200, 500)
    assert clustered.value == pytest.approx(0.4)
    assert clustered.high - clustered.low > naive.high - naive.low
    assert clustered.low == pytest.approx(per_case.low, abs=0.005)
    assert clustered.high == pytest.approx(per_case.high, abs=0.005)


# --- Bootstrap ---------------------------------------------------------------------------------


def test_resample_weights_are_multinomial_and_seeded():
    w = stats.case_resample_weights(50, n_boot=300, seed=7)
    assert w.shape == (300, 50)
    assert np.all(w.sum(axis=1) == 50)
    assert np.array_equal(w, stats.case_resample_weights(50, n_boot=300, seed=7))
    assert not np.array_equal(w, stats.case_resample_weights(50, n_boot=300, seed=8))
    # Each case is drawn once per replicate on average.
    assert w.mean() == pytest.approx(1.0)


def test_bootstrap_mean_matches_scipy_percentile_bootstrap():
    rng = np.random.default_rng(3)
    x = rng.beta(2, 5, size=400)
    weights = stats.case_resample_weights(len(x), n_boot=4000, seed=11)
    ours = stats.bootstrap_ratio_means(x[:, None], np.ones((len(x), 1)), weights)[0]
    ref = sps.bootstrap((x,), np.mean, n_resamples=4000, method="percentile", random_state=5).confidence_interval
    assert ours.value == pytest.approx(x.mean())
    # Two independent Monte Carlo estimates of the same interval: agree to Monte Carlo error.
    se = x.std() / np.sqrt(len(x))
    assert ours.low == pytest.approx(ref.low, abs=0.1 * se)
    assert ours.high == pytest.approx(ref.high, abs=0.1 * se)
    # And both close to the normal-theory interval at this size.
    assert ours.low == pytest.approx(x.mean() - 1.96 * se, abs=0.15 * se)


def test_bootstrap_mean_matches_exact_enumeration_on_tiny_data():
    # Five cases: the bootstrap distribution is over 5^5 = 3125 equally likely draws; enumerate it.
    # Its 2.5% and 97.5% quantiles sit inside cdf steps wide enough (0.018→0.029, 0.972→0.982)
    # that 200k replicates (Monte Carlo error ≈ 0.0004) land on the exact values.
    x = np.array([0.0, 0.2, 0.5, 0.9, 1.0])
    draws = np.array([np.mean(c) for c in itertools.product(x, repeat=5)])
    exact_low, exact_high = np.percentile(draws, [2.5, 97.5], method="inverted_cdf")
    assert (exact_low, exact_high) == pytest.approx((0.18, 0.86))
    weights = stats.case_resample_weights(5, n_boot=200_000, seed=1)
    ours = stats.bootstrap_ratio_means(x[:, None], np.ones((5, 1)), weights)[0]
    assert ours.low == pytest.approx(exact_low, abs=1e-9)
    assert ours.high == pytest.approx(exact_high, abs=1e-9)


def test_clustered_bootstrap_resamples_cases_not_attempts():
    # Cases with 5 identical samples each: clustering by case must give the per-case width,
    # which is √5 times the width of a naive attempt-level bootstrap.
    rng = np.random.default_rng(4)
    case_values = rng.random(300)
    sums, counts = (case_values * 5)[:, None], np.full((300, 1), 5.0)
    weights = stats.case_resample_weights(300, n_boot=3000, seed=2)
    clustered = stats.bootstrap_ratio_means(sums, counts, weights)[0]
    attempts = np.repeat(case_values, 5)
    naive_w = stats.case_resample_weights(1500, n_boot=3000, seed=2)
    naive = stats.bootstrap_ratio_means(attempts[:, None], np.ones((1500, 1)), naive_w)[0]
    ratio = (clustered.high - clustered.low) / (naive.high - naive.low)
    assert ratio == pytest.approx(np.sqrt(5), rel=0.1)
    ref = sps.bootstrap((case_values,), np.mean, n_resamples=3000, method="percentile", random_state=9)
    se = case_values.std() / np.sqrt(300)
    assert clustered.low == pytest.approx(ref.confidence_interval.low, abs=0.1 * se)
    assert clustered.high == pytest.approx(ref.confidence_interval.high, abs=0.1 * se)


def test_weighted_quantile_equals_numpy_on_repeated_values():
    rng = np.random.default_rng(5)
    values = np.sort(rng.normal(size=40))
    w = rng.integers(0, 4, size=(6, 40)).astype(float)
    for q in (0.5, 0.9, 0.95, 0.99):
        ours = stats.weighted_quantile_sorted(values, np.cumsum(w, axis=1), q)
        ref = [np.percentile(np.repeat(values, w[r].astype(int)), q * 100, method="inverted_cdf") for r in range(6)]
        assert np.allclose(ours, ref)


def test_bootstrap_percentile_matches_scipy():
    rng = np.random.default_rng(6)
    latency = rng.lognormal(6, 0.5, size=500)
    weights = stats.case_resample_weights(500, n_boot=3000, seed=3)
    p50, p95 = stats.bootstrap_percentiles(latency, np.arange(500), weights, [0.5, 0.95])

    def median(x, axis=-1):
        return np.percentile(x, 50, axis=axis, method="inverted_cdf")

    ref = sps.bootstrap((latency,), median, n_resamples=3000, method="percentile", random_state=1)
    assert p50.value == pytest.approx(np.percentile(latency, 50, method="inverted_cdf"))
    assert p95.value == pytest.approx(np.percentile(latency, 95, method="inverted_cdf"))
    spread = ref.confidence_interval.high - ref.confidence_interval.low
    assert p50.low == pytest.approx(ref.confidence_interval.low, abs=0.15 * spread)
    assert p50.high == pytest.approx(ref.confidence_interval.high, abs=0.15 * spread)
    assert p95.low < p95.value < p95.high


def test_bootstrap_with_missing_arm_gives_no_bound():
    weights = stats.case_resample_weights(10, n_boot=50)
    out = stats.bootstrap_ratio_means(np.zeros((10, 1)), np.zeros((10, 1)), weights)
    assert out[0] == stats.EMPTY


# --- Ranking -----------------------------------------------------------------------------------


def test_rank_is_one_plus_clearly_better_arms():
    lows = [0.80, 0.70, 0.50, 0.20]
    highs = [0.90, 0.85, 0.75, 0.40]
    # Arm 1 overlaps arm 0 → both 1. Arm 2: arm 0's low 0.80 > 0.75 → rank 2. Arm 3 below all three.
    assert stats.rank_by_bounds(lows, highs) == [1, 1, 2, 4]
    # Lower is better (latency): arm 3 is clearly best.
    assert stats.rank_by_bounds(lows, highs, higher_is_better=False) == [3, 2, 2, 1]


def test_rank_skips_rows_without_bounds():
    assert stats.rank_by_bounds([0.5, None, 0.1], [0.6, None, 0.2]) == [1, None, 2]


# --- Paired comparison -------------------------------------------------------------------------


def test_paired_compare_counts_and_sign_test():
    a = np.array([1, 1, 1, 0, 0.5, np.nan, 1, 1, 1, 1])
    b = np.array([0, 0, 1, 1, 0.5, 1.0, 0, 0, 0, 0])
    result = stats.paired_compare([str(i) for i in range(10)], a, b, a_pass=a, b_pass=b)
    assert (result.wins, result.losses, result.ties, result.n) == (6, 1, 2, 9)
    assert result.win_rate == pytest.approx(6 / 7)
    assert result.p_value == pytest.approx(sps.binomtest(6, 7, 0.5).pvalue)
    ref = sps.binomtest(6, 7).proportion_ci(method="wilson")
    assert (result.ci_low, result.ci_high) == pytest.approx((ref.low, ref.high))
    assert result.mcnemar.a_only == 6 and result.mcnemar.b_only == 1
    assert result.mcnemar.p_value == pytest.approx(sps.binomtest(6, 7, 0.5).pvalue)
    assert [row.outcome for row in result.cases][:4] == ["win", "win", "tie", "loss"]


def test_mcnemar_exact_matches_hand_value():
    # 10 discordant pairs split 9:1 → two-sided exact p = 2·(1 + 10)/2^10.
    a = np.r_[np.ones(9), np.zeros(1), np.ones(20)]
    b = np.r_[np.zeros(9), np.ones(1), np.ones(20)]
    result = stats.paired_compare([str(i) for i in range(30)], a, b, a_pass=a, b_pass=b)
    assert result.mcnemar.p_value == pytest.approx(2 * 11 / 1024)


def test_win_matrix_and_case_outcomes_agree():
    rng = np.random.default_rng(8)
    means = rng.integers(0, 3, size=(200, 4)) / 2.0
    means[rng.random((200, 4)) < 0.1] = np.nan
    m = stats.win_matrix(means)
    per_case = stats.case_outcomes(means)
    assert np.allclose(per_case.sum(axis=0), m.wins + m.ties / 2)
    assert np.array_equal(m.n, m.n.T)
    assert np.array_equal(m.wins + m.wins.T + m.ties, m.n)
    r = m.win_rate()
    decisive = (m.wins + m.wins.T) > 0
    assert decisive[~np.eye(4, dtype=bool)].all()  # 200 cases: every pair has a decisive case
    assert np.allclose((r + r.T)[decisive], 1.0)  # a's win rate over b and b's over a add up to 1
    assert np.isnan(r[~decisive]).all() and np.isnan(np.diag(r)).all()


# --- Bradley–Terry -----------------------------------------------------------------------------


def _synthetic_comparisons(strengths, n_per_pair, seed):
    rng = np.random.default_rng(seed)
    data, wins = [], np.zeros((len(strengths), len(strengths)))
    for i in range(len(strengths)):
        for j in range(i + 1, len(strengths)):
            p = np.exp(strengths[i]) / (np.exp(strengths[i]) + np.exp(strengths[j]))
            k = rng.binomial(n_per_pair, p)
            wins[i, j], wins[j, i] = k, n_per_pair - k
            data += [(i, j)] * k + [(j, i)] * (n_per_pair - k)
    return data, wins


def test_bradley_terry_matches_choix_and_recovers_known_strengths():
    truth = np.array([1.2, 0.6, 0.0, -0.3, -1.5])
    truth -= truth.mean()
    data, wins = _synthetic_comparisons(truth, 400, seed=12)
    ours = stats.bradley_terry(wins)
    reference = choix.ilsr_pairwise(len(truth), data, alpha=0.0, max_iter=1000, tol=1e-12)
    reference -= reference.mean()
    assert np.allclose(ours, reference, atol=1e-6)
    # Same order as the truth, and strength ratios e^(θi-θj) within 15% of the true ones.
    assert list(np.argsort(-ours)) == list(np.argsort(-truth))
    true_ratios = np.exp(truth[:, None] - truth[None, :])
    fitted_ratios = np.exp(ours[:, None] - ours[None, :])
    assert np.allclose(fitted_ratios, true_ratios, rtol=0.15)


def test_bradley_terry_matches_scipy_optimiser_with_ties_and_prior():
    rng = np.random.default_rng(13)
    wins = rng.integers(0, 30, size=(6, 6)).astype(float) + 0.5  # halves: ties split each way
    np.fill_diagonal(wins, 0)
    prior = 0.5
    w = wins + prior * (1 - np.eye(6))

    def neg_loglik(t):
        d = t[:, None] - t[None, :]
        return np.sum(w * np.logaddexp(0, -d))

    ref = optimize.minimize(neg_loglik, np.zeros(6), method="BFGS", options={"gtol": 1e-10}).x
    ref -= ref.mean()
    assert np.allclose(stats.bradley_terry(wins, prior=prior), ref, atol=1e-5)


def test_bradley_terry_batch_equals_one_by_one():
    rng = np.random.default_rng(14)
    batch = rng.integers(0, 20, size=(5, 4, 4)).astype(float)
    for b in batch:
        np.fill_diagonal(b, 0)
    together = stats.bradley_terry(batch, prior=0.5)
    for k in range(5):
        assert np.allclose(together[k], stats.bradley_terry(batch[k], prior=0.5), atol=1e-8)


def test_bradley_terry_stays_finite_when_an_arm_never_wins():
    wins = np.array([[0, 10, 10], [0, 0, 6], [0, 4, 0]], dtype=float)
    theta = stats.bradley_terry(wins, prior=0.5)
    assert np.all(np.isfinite(theta)) and theta[0] > theta[1] > theta[2]


def test_bradley_terry_ratings_bounds_and_ranks():
    truth = np.array([2.0, 0.0, 0.0, -2.0])
    rng = np.random.default_rng(15)
    cases = 600
    # Per-case scores drawn so that pairwise outcomes follow the strengths.
    latent = truth[None, :] + rng.gumbel(size=(cases, 4))
    per_case = stats.case_outcomes(latent)
    weights = stats.case_resample_weights(cases, n_boot=300, seed=1)
    ratings = stats.bradley_terry_ratings(["a", "b", "c", "d"], per_case, weights)
    assert [r.rank for r in ratings] == [1, 2, 2, 4]
    for r in ratings:
        assert r.ci_low < r.rating < r.ci_high


# --- Frontier ----------------------------------------------------------------------------------


def test_pareto_frontier():
    points = [("cheap-bad", 0.1, 0.3), ("mid", 0.5, 0.7), ("dominated", 0.6, 0.6), ("best", 2.0, 0.9),
              ("pricey-bad", 3.0, 0.5), ("cheap-better", 0.1, 0.4)]
    assert stats.pareto_frontier(points) == ["cheap-better", "mid", "best"]


@pytest.mark.parametrize("block", [1, 3, 7, 256])
def test_blocked_percentile_bootstrap_equals_the_direct_computation(block):
    # The blocked search must pick exactly the replicate quantiles a full cumulative sum picks.
    rng = np.random.default_rng(21)
    values = np.round(rng.lognormal(5, 0.6, size=300), 1)  # rounding makes ties, as real latencies have
    cases = rng.integers(0, 60, size=300)
    weights = stats.case_resample_weights(60, n_boot=80, seed=4)
    quantiles = (0.5, 0.9, 0.95, 0.99)
    ours = stats.bootstrap_percentiles(values, cases, weights, quantiles, block=block)
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[:, cases[order]], axis=1)
    for k, q in enumerate(quantiles):
        direct = stats.weighted_quantile_sorted(values[order], cum, q)
        low, high = np.percentile(direct, [2.5, 97.5])
        assert (ours[k].low, ours[k].high) == pytest.approx((low, high), abs=1e-12)
