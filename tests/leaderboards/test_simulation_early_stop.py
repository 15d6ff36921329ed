"""Early stop: the anytime-valid settle test, its guarantees measured on simulated runs.

Each simulation is 400 runs of 300 cases looked at every 10 cases from case 30 on; a rate measured
on 400 runs has a Monte Carlo error of at most 2.5 points (√(0.25/400)), 1.1 points near 5%.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from leaderboards import early_stop
from leaderboards.simulation import Regime

RUNS, CASES = 400, 300


def _replay(rates, *, graded=False, seed=0, confidence=0.95):  # type: ignore[no-untyped-def]
    case_means = Regime("es", cases=CASES, pass_rates=rates, graded=graded).draw(
        RUNS, np.random.default_rng(seed)).case_means()
    return [early_stop.first_settled(case_means[r], confidence=confidence, min_cases=30, batch=10)
            for r in range(RUNS)]


def test_confidence_sequence_holds_at_every_look_at_once():
    # 1,000 streams of 500 Bernoulli(0.3): the share whose truth ever leaves the sequence ≤ 5%.
    x = (np.random.default_rng(1).random((1000, 500)) < 0.3).astype(float)
    low, high = early_stop.confidence_sequence(x, alpha=0.05)
    ever_missed = ((low > 0.3) | (high < 0.3)).any(axis=1).mean()
    assert ever_missed <= 0.05
    assert np.all(np.diff(low, axis=1) >= 0) and np.all(np.diff(high, axis=1) <= 0)  # running intersection
    assert high[:, -1].mean() - low[:, -1].mean() < 0.2  # and it narrows


def test_naive_peeking_would_be_wrong_far_more_often():
    # Why the sequence: a fixed-n 95% test repeated at every look "finds" a difference between
    # equal arms in far more than 5% of runs.
    d = np.random.default_rng(2).normal(size=(1000, 300))
    n = np.arange(1, 301)
    z = np.cumsum(d, axis=1) / np.sqrt(n)
    looks = np.arange(29, 300, 10)
    naive = (np.abs(z[:, looks]) > sps.norm.ppf(0.975)).any(axis=1).mean()
    assert naive > 0.15


@pytest.mark.parametrize("graded", [False, True])
def test_one_clearly_best_arm_stops_early_and_names_it(graded):
    outcomes = _replay((0.9, 0.65, 0.6), graded=graded, seed=3)
    stops = np.array([t if t is not None else CASES for t, _ in outcomes])
    wrong = np.mean([t is not None and top != (0,) for t, top in outcomes])
    saved = 1 - stops.mean() / CASES
    assert saved >= 0.40, saved
    assert wrong <= 0.05


def test_two_equal_arms_rarely_stop():
    outcomes = _replay((0.7, 0.7), seed=4)
    assert np.mean([t is not None for t, _ in outcomes]) <= 0.05


def test_settle_check_matches_the_replayed_decision():
    case_means = Regime("es", cases=120, pass_rates=(0.95, 0.5), graded=False).draw(
        1, np.random.default_rng(5)).case_means()[0]
    t, top = early_stop.first_settled(case_means, min_cases=30, batch=10)
    assert t is not None and top == (0,)
    at_stop = early_stop.settle_check(case_means[:t], min_cases=30)
    assert at_stop.settled and at_stop.top == (0,) and at_stop.cases == t
    before = early_stop.settle_check(case_means[: t - 10], min_cases=30)
    assert t == 30 or not before.settled
    assert not early_stop.settle_check(case_means[:20], min_cases=30).settled  # never before min_cases


def test_top_two_set():
    case_means = Regime("es", cases=300, pass_rates=(0.95, 0.9, 0.4, 0.35), graded=False).draw(
        1, np.random.default_rng(6)).case_means()[0]
    result = early_stop.settle_check(case_means, top=2)
    assert result.settled and set(result.top) == {0, 1}
    assert not early_stop.settle_check(case_means, top=1).settled  # 0.95 vs 0.9 is not settled at 300
