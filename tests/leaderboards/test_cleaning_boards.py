"""The `cleaning` section of run, experiment and dataset boards: seed 002's metrics per arm, with bounds."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from experiments.models import Attempt
from leaderboards import stats
from leaderboards.models import CleaningAggregate, RunLeaderboard
from leaderboards.selectors import dataset_leaderboard_get, experiment_leaderboard_get, run_leaderboard_get
from leaderboards.services import run_leaderboard_compute
from tests.leaderboards.cleaning_world import (
    alternating,
    clean,
    clean_on_easy_only,
    cleaning_dataset,
    cleaning_experiment,
    dirty,
    make_cleaning_run,
    prose,
    table,
)
from tests.leaderboards.factories import make_run, scored

pytestmark = pytest.mark.django_db


def breaking(payload, sample):  # type: ignore[no-untyped-def]
    """The clean table with one correct cell broken (the first data row's name)."""
    rows = table(payload["clean"])
    rows[1][1] = "ZZZ"
    return "\n".join(",".join(r) for r in rows)


def failing_half(payload, sample):  # type: ignore[no-untyped-def]
    return None if sample == 0 else prose(payload, sample)


def row(board, arm):  # type: ignore[no-untyped-def]
    return next(r for r in board if r["arm"] == arm)


@pytest.fixture
def org(org_world):  # type: ignore[no-untyped-def]
    return org_world.a.org


def test_the_run_board_carries_every_cleaning_metric_per_arm(org):
    run = make_cleaning_run(org, samples=2, answers={
        "mock:clean": clean, "mock:lazy": dirty, "mock:easy-only": clean_on_easy_only,
        "mock:flaky": alternating, "mock:breaker": breaking,
    })
    run_leaderboard_compute(run_id=run.pk)
    section = run_leaderboard_get(org=org, run_id=run.pk)["cleaning"]

    f1 = section["f1"]
    assert row(f1, "mock:clean")["value"] == 1.0 and row(f1, "mock:clean")["rank"] == 1
    assert row(f1, "mock:clean")["n"] == 16 and row(f1, "mock:clean")["cases"] == 8
    assert row(f1, "mock:lazy")["value"] < row(f1, "mock:easy-only")["value"] < 1.0
    assert all(r["ci_low"] <= r["value"] <= r["ci_high"] for r in f1)
    assert all(r["low_sample"] for r in f1)  # 8 cases < 30
    assert row(section["corruption_rate"], "mock:breaker")["value"] > 0 == row(section["corruption_rate"], "mock:clean")["value"]
    assert section["corruption_rate"][-1]["arm"] == "mock:breaker"  # lower is better: the breaker ranks last
    assert row(section["drift"], "mock:clean")["value"] == 0.0 < row(section["drift"], "mock:lazy")["value"]
    assert row(section["reliability"], "mock:clean")["value"] == 1.0
    assert row(section["reliability"], "mock:flaky")["value"] < 1.0
    assert row(section["robustness"], "mock:clean")["value"] == 1.0
    assert row(section["robustness"], "mock:easy-only")["value"] < row(section["robustness"], "mock:clean")["value"]
    assert row(section["robustness"], "mock:easy-only")["easy_f1"] == 1.0
    assert {"precision", "recall", "auditability"} <= set(section)
    assert set(section["by_dimension"]) == {"accuracy", "completeness", "consistency", "uniqueness"}
    uniqueness = row(section["by_dimension"]["uniqueness"], "mock:lazy")
    assert uniqueness["errors"] > 0 and uniqueness["repaired"] == 0 and uniqueness["recall"] == 0.0
    assert set(section["by_difficulty"]) == {"easy", "hard"}
    assert row(section["by_difficulty"]["easy"], "mock:easy-only")["value"] == 1.0
    assert CleaningAggregate.objects.filter(aggregate__run=run).count() == 5


def test_the_bounds_are_the_boards_case_bootstrap_over_the_attempts_scores(org):
    run = make_cleaning_run(org, samples=2, answers={"mock:easy-only": clean_on_easy_only, "mock:flaky": alternating})
    board = run_leaderboard_compute(run_id=run.pk)
    section = RunLeaderboard.objects.get(pk=board.pk).boards["cleaning"]
    # Recomputed here from the stored scores, through the statistics every board uses.
    per_case: dict[tuple[str, int], list[float]] = defaultdict(list)
    for label, case, scores in Attempt.objects.filter(run=run).values_list("arm__label", "task_instance__case_id",
                                                                             "scores"):
        per_case[(label, case)].append(scores["data_cleaning"]["details"]["f1"])
    cases = sorted({case for _, case in per_case})
    labels = ["mock:easy-only", "mock:flaky"]
    sums = np.array([[sum(per_case[(a, c)]) for a in labels] for c in cases])
    counts = np.array([[len(per_case[(a, c)]) for a in labels] for c in cases])
    weights = stats.case_resample_weights(len(cases), n_boot=board.params["bootstrap"], seed=board.params["seed"])
    expected = stats.bootstrap_ratio_means(sums, counts, weights)
    for label, interval in zip(labels, expected, strict=True):
        got = row(section["f1"], label)
        assert (got["value"], got["ci_low"], got["ci_high"]) == pytest.approx(
            (interval.value, interval.low, interval.high), abs=1e-6)


def test_parse_errors_and_failed_attempts_count_zero_f1_and_are_not_measured_for_corruption(org):
    run = make_cleaning_run(org, samples=2, answers={"mock:prose": prose, "mock:half-down": failing_half,
                                                     "mock:clean": clean})
    run_leaderboard_compute(run_id=run.pk)
    section = run_leaderboard_get(org=org, run_id=run.pk)["cleaning"]
    assert row(section["f1"], "mock:prose")["value"] == 0.0 and row(section["f1"], "mock:prose")["n"] == 16
    assert row(section["f1"], "mock:half-down")["n"] == 16  # the 8 failed attempts count, as 0
    assert {r["arm"] for r in section["corruption_rate"]} == {"mock:clean"}  # no table, nothing to measure
    attempts = {r["arm"]: r for r in section["attempts"]}
    assert attempts["mock:prose"]["parse_errors"] == 16
    assert attempts["mock:half-down"] == {"arm": "mock:half-down", "n": 16, "parse_errors": 8, "failed": 8, "passes": 0}
    # Two samples that both have no table agree on having none.
    assert row(section["reliability"], "mock:prose")["value"] == 1.0


def test_a_run_without_the_data_cleaning_scorer_has_no_cleaning_section(org):
    world = make_run(org, n_cases=4, outcome=lambda ai, ci, sample: scored(1.0))
    run_leaderboard_compute(run_id=world.run.pk)
    assert run_leaderboard_get(org=org, run_id=world.run.pk)["cleaning"] is None
    assert not CleaningAggregate.objects.exists()


def test_experiment_and_dataset_boards_merge_the_runs_of_an_arm(org):
    dataset = cleaning_dataset(org)
    experiment = cleaning_experiment(org, dataset, arms=["mock:clean", "mock:lazy"])
    answers = {"mock:clean": clean, "mock:lazy": dirty}
    runs = [make_cleaning_run(org, answers=answers, experiment=experiment) for _ in range(2)]
    for run in runs:
        run_leaderboard_compute(run_id=run.pk)
    for payload in (experiment_leaderboard_get(org=org, experiment_id=experiment.pk),
                    dataset_leaderboard_get(org=org, dataset_id=dataset.pk)):
        f1 = row(payload["cleaning"]["f1"], "mock:clean")
        assert (f1["n"], f1["cases"], f1["value"]) == (16, 8, 1.0)  # the same case in two runs: one cluster
        assert row(payload["cleaning"]["f1"], "mock:lazy")["value"] < 1.0
        # Two runs of one arm give the same cells: reliability counts each run's samples apart.
        assert payload["cleaning"]["reliability"] == []  # one sample per case per run
    # A recompute rewrites the cleaning rows with the aggregates instead of adding to them.
    run_leaderboard_compute(run_id=runs[0].pk)
    assert CleaningAggregate.objects.count() == 4
