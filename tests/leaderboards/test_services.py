"""Aggregation at run end: boards persisted from real attempts in the database."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from experiments.models import AttemptStatus, RunStatus
from leaderboards.models import ArmAggregate, RunLeaderboard
from leaderboards.selectors import run_leaderboard_get
from leaderboards.services import run_leaderboard_compute
from tests.leaderboards.factories import make_run, scored

pytestmark = pytest.mark.django_db


def _rng_outcome(means, seed=0, **extra):
    rng = np.random.default_rng(seed)
    cache: dict = {}

    def outcome(ai, ci, sample):
        key = (ai, ci, sample)
        if key not in cache:
            cache[key] = float(rng.random() < means[ai])
        return scored(cache[key], latency_ms=1000.0 * (ai + 1) + 10 * ci, ttft_ms=100.0 * (ai + 1), **extra)

    return outcome


def test_boards_of_a_finished_run(org_world):
    world = make_run(org_world.a.org, arms=["mock:good", "mock:bad"], n_cases=60,
                     outcome=_rng_outcome([0.9, 0.2], seed=1))
    board = run_leaderboard_compute(run_id=world.run.pk)
    assert board.state == "final" and board.version == 1
    quality = {row["arm"]: row for row in board.boards["quality"]}
    assert quality["mock:good"]["rank"] == 1 and quality["mock:bad"]["rank"] == 2
    assert quality["mock:good"]["n"] == 60 and quality["mock:good"]["cases"] == 60
    good = quality["mock:good"]
    assert good["ci_low"] < good["value"] < good["ci_high"]
    assert good["pass_rate"] == pytest.approx(good["value"])
    speed = [row["arm"] for row in board.boards["speed"]]
    assert speed == ["mock:good", "mock:bad"]  # 1 s vs 2 s latency: lower is better
    assert board.boards["speed"][0]["ttft_p50"] == pytest.approx(100.0)
    assert board.boards["speed"][0]["tokens_per_second"] > board.boards["speed"][1]["tokens_per_second"]
    cost = board.boards["cost"]
    assert all(row["status"] == "priced" and row["value"] == pytest.approx(0.001) for row in cost)
    assert cost[0]["total_usd"] == pytest.approx(0.06)
    assert board.boards["evaluator"] == []
    assert ArmAggregate.objects.filter(run=world.run).count() == 2
    assert board.pairwise["ratings"][0]["arm"] == "mock:good"


def test_failed_attempts_score_zero_and_are_counted_by_type(org_world):
    def outcome(ai, ci, sample):
        if ai == 1 and ci % 4 == 0:
            return {"status": AttemptStatus.FAILED, "error_type": "rate_limited" if ci % 8 else "timeout",
                    "latency_ms": None, "cost_usd": None, "input_tokens": 0, "output_tokens": 0}
        return scored(1.0)

    world = make_run(org_world.a.org, arms=["mock:a", "mock:b"], n_cases=40, outcome=outcome)
    board = run_leaderboard_compute(run_id=world.run.pk)
    quality = {row["arm"]: row for row in board.boards["quality"]}
    assert quality["mock:b"]["value"] == pytest.approx(0.75)
    assert quality["mock:b"]["failed"] == 10
    assert board.failures == {"total": 10, "by_type": {"rate_limited": 5, "timeout": 5},
                              "by_arm": {"mock:b": {"rate_limited": 5, "timeout": 5}}}
    # Failed calls without usage and without a price are not "unpriced": nothing was billed.
    assert all(row["status"] == "priced" for row in board.boards["cost"])


def test_unpriced_arm_is_never_a_silent_zero(org_world):
    def outcome(ai, ci, sample):
        return scored(0.5, cost_usd=None if (ai == 1 and ci == 3) else 0.002)

    world = make_run(org_world.a.org, arms=["mock:priced", "local:unpriced"], n_cases=30, outcome=outcome)
    board = run_leaderboard_compute(run_id=world.run.pk)
    cost = {row["arm"]: row for row in board.boards["cost"]}
    assert cost["local:unpriced"]["status"] == "unpriced"
    assert cost["local:unpriced"]["value"] is None and cost["local:unpriced"]["rank"] is None
    assert cost["local:unpriced"]["total_usd"] is None and cost["local:unpriced"]["unpriced_attempts"] == 1
    assert cost["mock:priced"]["rank"] == 1
    assert [row["arm"] for row in board.boards["cost"]] == ["mock:priced", "local:unpriced"]
    assert [p["arm"] for p in board.frontier] == ["mock:priced"]


def test_evaluator_board_fills_in_from_evaluator_scores(org_world):
    def outcome(ai, ci, sample):
        return scored(1.0, evaluator_score=0.9 if ai == 0 else 0.3 + 0.01 * (ci % 5))

    world = make_run(org_world.a.org, arms=["mock:a", "mock:b"], n_cases=40, outcome=outcome)
    board = run_leaderboard_compute(run_id=world.run.pk)
    evaluator = board.boards["evaluator"]
    assert [row["arm"] for row in evaluator] == ["mock:a", "mock:b"]
    assert evaluator[0]["value"] == pytest.approx(0.9) and evaluator[0]["rank"] == 1 and evaluator[1]["rank"] == 2


def test_clustered_bounds_with_several_samples_per_case(org_world):
    # Every sample of a case agrees: 5 samples carry the information of one.
    def outcome(ai, ci, sample):
        return scored(float(ci % 2 == 0 or ai == 0))

    one = make_run(org_world.a.org, n_cases=50, samples=1, outcome=outcome)
    five = make_run(org_world.a.org, n_cases=50, samples=5, outcome=outcome)
    b1 = {r["arm"]: r for r in run_leaderboard_compute(run_id=one.run.pk).boards["quality"]}["mock:b"]
    b5 = {r["arm"]: r for r in run_leaderboard_compute(run_id=five.run.pk).boards["quality"]}["mock:b"]
    assert b5["n"] == 250 and b5["cases"] == 50
    assert (b5["ci_low"], b5["ci_high"]) == pytest.approx((b1["ci_low"], b1["ci_high"]), abs=1e-9)
    assert (b5["pass_ci_low"], b5["pass_ci_high"]) == pytest.approx((b1["pass_ci_low"], b1["pass_ci_high"]), abs=0.02)


def test_partial_board_while_running_then_final(org_world):
    def outcome(ai, ci, sample):
        return scored(1.0) if ci < 10 else {"status": AttemptStatus.QUEUED, "latency_ms": None, "cost_usd": None}

    world = make_run(org_world.a.org, n_cases=20, outcome=outcome, status=RunStatus.RUNNING)
    payload = run_leaderboard_get(org=org_world.a.org, run_id=world.run.pk)
    assert payload["state"] == "partial" and payload["attempts_ended"] == 20
    assert payload["quality"][0]["n"] == 10
    # Read again at once: the same board, not a recompute (refreshed at most every few seconds).
    again = run_leaderboard_get(org=org_world.a.org, run_id=world.run.pk)
    assert again["version"] == payload["version"]
    world.run.status = RunStatus.COMPLETED
    world.run.save(update_fields=["status"])
    final = run_leaderboard_get(org=org_world.a.org, run_id=world.run.pk)
    assert final["state"] == "final" and final["version"] == payload["version"] + 1


def test_recompute_bumps_version_and_reads_never_touch_attempts(org_world):
    world = make_run(org_world.a.org, n_cases=20, outcome=_rng_outcome([0.7, 0.4]))
    first = run_leaderboard_compute(run_id=world.run.pk)
    second = run_leaderboard_compute(run_id=world.run.pk)
    assert second.version == first.version + 1
    assert RunLeaderboard.objects.filter(run=world.run).count() == 1
    with CaptureQueriesContext(connection) as cold:
        run_leaderboard_get(org=org_world.a.org, run_id=world.run.pk)
    with CaptureQueriesContext(connection) as warm:
        run_leaderboard_get(org=org_world.a.org, run_id=world.run.pk)
    assert not any("experiments_attempt" in q["sql"] for q in cold.captured_queries)
    assert len(warm.captured_queries) == 1  # the org-scoped version lookup; the payload comes from the cache


def test_run_without_attempts_has_empty_boards(org_world):
    world = make_run(org_world.a.org, n_cases=0, outcome=lambda *a: scored(1.0), status=RunStatus.CANCELLED)
    board = run_leaderboard_compute(run_id=world.run.pk)
    assert board.boards == {"quality": [], "speed": [], "cost": [], "evaluator": []}
    assert board.pairwise == {} and board.frontier == [] and board.failures["total"] == 0


def test_evaluator_pairwise_judgements_enter_the_ratings():
    # Rule scores tie everywhere; evaluator verdicts (a plug-in source of pairs) decide the ratings.
    from experiments.outcomes import AttemptOutcomes
    from leaderboards import aggregation

    n = 80
    ones = np.ones(n)
    outcomes = AttemptOutcomes(
        arm=np.repeat([1, 2], 40), case=np.tile(np.arange(1000, 1040), 2), status=np.zeros(n, dtype=np.int8),
        score=ones, passed=ones, evaluator=np.full(n, np.nan), cost=ones / 1000, latency=ones * 900,
        ttft=np.full(n, np.nan), input_tokens=ones, output_tokens=ones,
    )
    stats_ = [aggregation.arm_case_stats(outcomes, i) for i in (1, 2)]
    plain = aggregation.compute_boards(["x", "y"], stats_)
    assert plain.pairwise["ratings"][0]["rating"] == pytest.approx(plain.pairwise["ratings"][1]["rating"])
    verdicts = [(1000 + c, 0, 1, 0.0) for c in range(40)]  # y judged better on every case
    judged = aggregation.compute_boards(["x", "y"], stats_, judgements=verdicts)
    assert judged.pairwise["judgements"] == 40
    assert [r["arm"] for r in judged.pairwise["ratings"]] == ["y", "x"]
    assert judged.pairwise["ratings"][0]["rank"] == 1 and judged.pairwise["ratings"][1]["rank"] == 2


@pytest.mark.django_db(transaction=True)
def test_two_first_computations_at_once_make_one_board(org_world):
    """The end-of-run task and a reader may both find no board yet; neither may fail."""
    import threading

    from django.db import connections

    from tests.support.services import require_postgres

    require_postgres()  # concurrent writers: SQLite's test database locks whole tables

    world = make_run(org_world.a.org, arms=["mock:a", "mock:b"], n_cases=30, outcome=_rng_outcome([0.7, 0.3]))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def compute() -> None:
        try:
            barrier.wait(timeout=10)
            run_leaderboard_compute(run_id=world.run.pk)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=compute) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    board = RunLeaderboard.objects.get(run=world.run)
    assert board.version == 2
    assert ArmAggregate.objects.filter(run=world.run).count() == 2
