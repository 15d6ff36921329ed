"""Ranking-stability regression tests: the boards must not move for reasons that are not in the data."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.outcomes import SUCCEEDED, AttemptOutcomes
from leaderboards import aggregation
from leaderboards.services import run_leaderboard_compute
from tests.leaderboards.factories import make_run, scored


def _outcomes(means: list[float], *, cases: int = 120, samples: int = 3, seed: int = 0) -> AttemptOutcomes:
    """Attempts of arms with the given true pass rates; case difficulty shared across arms."""
    difficulty = np.random.default_rng(seed).normal(0, 0.15, size=cases)
    arm, case, score, latency = [], [], [], []
    for a, mean in enumerate(means):
        # One generator per arm: adding an arm leaves the other arms' draws as they were.
        rng = np.random.default_rng([seed, a])
        for c in range(cases):
            for _ in range(samples):
                arm.append(a + 1)
                case.append(1000 + c)
                score.append(float(rng.random() < np.clip(mean + difficulty[c], 0, 1)))
                latency.append(rng.lognormal(7 + 0.1 * a, 0.3))
    n = len(arm)
    s = np.array(score)
    return AttemptOutcomes(
        arm=np.array(arm, dtype=np.int64), case=np.array(case, dtype=np.int64),
        status=np.full(n, SUCCEEDED, dtype=np.int8), score=s, passed=s.copy(),
        evaluator=np.full(n, np.nan), cost=np.full(n, 0.001), latency=np.array(latency),
        ttft=np.full(n, np.nan), input_tokens=np.full(n, 10.0), output_tokens=np.full(n, 20.0),
    )


def _boards(outcomes: AttemptOutcomes, arm_ids: list[int], **kw):  # type: ignore[no-untyped-def]
    labels = [f"arm-{i}" for i in arm_ids]
    stats = [aggregation.arm_case_stats(outcomes, i) for i in arm_ids]
    return aggregation.compute_boards(labels, stats, **kw)


def _subset(o: AttemptOutcomes, keep: np.ndarray) -> AttemptOutcomes:
    return AttemptOutcomes(*(getattr(o, f)[keep] for f in AttemptOutcomes.__dataclass_fields__))


def test_same_data_and_seed_give_identical_boards():
    outcomes = _outcomes([0.8, 0.6, 0.55, 0.3])
    first = _boards(outcomes, [1, 2, 3, 4], seed=7)
    second = _boards(outcomes, [1, 2, 3, 4], seed=7)
    assert first == second  # every value, bound, rank, rating and frontier point
    other_seed = _boards(outcomes, [1, 2, 3, 4], seed=8)
    # The seed is what fixes the bootstrap bounds (quality bounds are analytic: seed-free)...
    assert other_seed.speed != first.speed and other_seed.quality == first.quality
    assert [r["arm"] for r in other_seed.speed] == [r["arm"] for r in first.speed]  # ...not the order


@pytest.mark.django_db
def test_same_run_recomputed_gives_identical_boards(org_world):
    rng = np.random.default_rng(3)
    draws = rng.random((3, 50, 2))

    def outcome(ai, ci, sample):
        return scored(float(draws[ai, ci, sample] < (0.8, 0.5, 0.45)[ai]), latency_ms=500 + 900 * draws[ai, ci, sample])

    world = make_run(org_world.a.org, arms=["mock:a", "mock:b", "mock:c"], n_cases=50, samples=2, outcome=outcome)
    first = run_leaderboard_compute(run_id=world.run.pk)
    boards, pairwise, frontier = first.boards, first.pairwise, first.frontier
    second = run_leaderboard_compute(run_id=world.run.pk)
    assert second.version == first.version + 1
    assert (second.boards, second.pairwise, second.frontier) == (boards, pairwise, frontier)


@pytest.mark.parametrize("new_mean", [0.02, 0.999])
def test_adding_an_arm_that_ties_no_one_does_not_reorder_the_others(new_mean):
    base = _outcomes([0.75, 0.6, 0.57, 0.4])
    before = _boards(base, [1, 2, 3, 4])
    extended = _outcomes([0.75, 0.6, 0.57, 0.4, new_mean])  # same draws for arms 1-4 (same seed)
    after = _boards(extended, [1, 2, 3, 4, 5])
    new = next(r for r in after.quality if r["arm"] == "arm-5")
    others = [r for r in after.quality if r["arm"] != "arm-5"]
    # Precondition: the new arm's interval overlaps no other arm's.
    assert all(new["ci_low"] > r["ci_high"] or new["ci_high"] < r["ci_low"] for r in others)
    assert [r["arm"] for r in others] == [r["arm"] for r in before.quality]
    for old, now in zip(before.quality, others, strict=True):
        assert (now["value"], now["ci_low"], now["ci_high"]) == (old["value"], old["ci_low"], old["ci_high"])
        # Ranks move only by the one arm now clearly above them.
        assert now["rank"] == old["rank"] + (1 if new["ci_low"] > now["ci_high"] else 0)
    # Speed and cost boards: the same holds for their order.
    assert [r["arm"] for r in after.speed if r["arm"] != "arm-5"] == [r["arm"] for r in before.speed]


def test_removing_a_duplicate_sample_does_not_flip_a_clear_winner():
    outcomes = _outcomes([0.8, 0.5], samples=2, seed=4)
    # A retried attempt stored twice: duplicate the first attempt of arm 2 on 30 cases, as a pass.
    dup = np.flatnonzero(outcomes.arm == 2)[::2][:30]
    with_dup = AttemptOutcomes(*(np.concatenate([getattr(outcomes, f), getattr(outcomes, f)[dup]])
                                 for f in AttemptOutcomes.__dataclass_fields__))
    with_dup.score[-30:] = 1.0
    with_dup.passed[-30:] = 1.0
    dirty = _boards(with_dup, [1, 2])
    clean = _boards(outcomes, [1, 2])
    for board in (dirty, clean):
        top, second = board.quality
        assert top["arm"] == "arm-1" and top["rank"] == 1 and second["rank"] == 2
        assert top["ci_low"] > second["ci_high"]  # a clear winner, both with and without the duplicate
        assert board.pairwise["ratings"][0]["arm"] == "arm-1"


def test_removing_one_sample_everywhere_keeps_overlapping_arms_tied():
    # Two arms with the same true rate share rank 1 with and without a sample dropped.
    outcomes = _outcomes([0.6, 0.6, 0.2], samples=3, seed=5)
    keep = np.ones(len(outcomes), dtype=bool)
    keep[2::3] = False  # drop the third sample of every case
    for o in (outcomes, _subset(outcomes, keep)):
        ranks = {r["arm"]: r["rank"] for r in _boards(o, [1, 2, 3]).quality}
        assert ranks == {"arm-1": 1, "arm-2": 1, "arm-3": 3}
