"""The decision: the best arm under the org's limits, with the probability that it is the best."""

from __future__ import annotations

import numpy as np
import pytest

from leaderboards import recommendation
from leaderboards.recommendation import Limits
from leaderboards.services import run_leaderboard_compute
from leaderboards.simulation import Regime
from tests.conftest import bearer
from tests.leaderboards.factories import make_run, scored


def _arms(rates, *, cases=200, price=None, latency=None, seed=1):  # type: ignore[no-untyped-def]
    regime = Regime("rec", cases=cases, pass_rates=rates, price=price, latency_ms=latency, graded=False)
    return regime.draw(1, np.random.default_rng(seed)).arm_case_stats(0)


def test_clearly_best_affordable_arm_is_recommended_with_high_probability():
    stats_ = _arms((0.9, 0.6, 0.55), price=(2e-6, 2e-6, 1e-6))
    result = recommendation.recommend(["best", "mid", "cheap"], stats_, Limits(max_cost_usd=0.01))
    assert [r["arm"] for r in result["results"]] == ["best", "mid", "cheap"]
    assert result["results"][0]["p_best"] >= 0.9
    assert sum(r["p_best"] for r in result["results"]) == pytest.approx(1.0)
    assert result["tie"] is False and result["message"].startswith("Use best")
    assert result["results"][0]["qualifies_on"]["cost"]["ok"] is True


def test_a_better_arm_over_the_cost_limit_is_excluded():
    # "premium" costs 10x; its cost bound is above the limit although "budget" fits.
    stats_ = _arms((0.95, 0.7), price=(2e-5, 2e-6))
    result = recommendation.recommend(["premium", "budget"], stats_, Limits(max_cost_usd=0.005))
    assert [r["arm"] for r in result["results"]] == ["budget"]
    assert result["results"][0]["p_best"] == 1.0
    excluded = result["excluded"][0]
    assert excluded["arm"] == "premium" and excluded["qualifies_on"]["cost"]["ok"] is False
    assert excluded["qualifies_on"]["cost"]["bound"] > 0.005


def test_limits_are_judged_on_bounds_not_points():
    # An arm whose pass rate is just above the minimum but whose lower bound is below it does not qualify.
    stats_ = _arms((0.72, 0.5), cases=60)
    rate = stats_[0].q_pass.sum() / stats_[0].q_n.sum()
    result = recommendation.recommend(["a", "b"], stats_, Limits(min_pass_rate=rate - 0.01))
    assert result["results"] == [] and "No arm qualifies" in result["message"]
    check = result["excluded"][0]["qualifies_on"]["pass_rate"]
    assert check["bound"] < rate - 0.01 < rate


def test_two_equal_arms_get_about_half_each_and_a_tie_is_said():
    # Same pass rate (70 of 100) on different cases: the data favour neither arm.
    stats_ = _arms((0.7, 0.7), cases=100)
    for j, passing in enumerate((np.arange(100) < 70, np.arange(100) >= 30)):
        stats_[j].q_sum[:] = stats_[j].q_pass[:] = passing.astype(float)
    result = recommendation.recommend(["x", "y"], stats_, Limits())
    p = sorted(r["p_best"] for r in result["results"])
    assert p[0] == pytest.approx(0.5, abs=0.06) and p[1] == pytest.approx(0.5, abs=0.06)
    assert result["tie"] is True and "tied" in result["message"]


def test_two_equal_arms_average_half_over_simulated_runs():
    # Any one run's p_best wanders with its data; over runs the two equal arms split evenly.
    shares = [recommendation.recommend(["x", "y"], _arms((0.7, 0.7), cases=100, seed=s), Limits(), n_boot=300)
              ["results"] for s in range(30)]
    p_x = np.mean([next(r["p_best"] for r in rows if r["arm"] == "x") for rows in shares])
    assert p_x == pytest.approx(0.5, abs=0.1)


def test_latency_limit_uses_the_p95_upper_bound():
    stats_ = _arms((0.9, 0.8), latency=(4000.0, 500.0))
    result = recommendation.recommend(["slow", "fast"], stats_, Limits(max_p95_ms=3000))
    assert [r["arm"] for r in result["results"]] == ["fast"]
    assert result["excluded"][0]["qualifies_on"]["p95_ms"]["ok"] is False


# --- API ---------------------------------------------------------------------------------------


def _run(org):  # type: ignore[no-untyped-def]
    def outcome(ai, ci, sample):
        good = ci % 10 < (9 if ai == 0 else 5)
        return scored(float(good), cost_usd=0.01 if ai == 0 else 0.001, latency_ms=900.0 + ci)

    world = make_run(org, arms=["mock:pricey", "mock:cheap"], n_cases=60, outcome=outcome)
    run_leaderboard_compute(run_id=world.run.pk)
    return world


@pytest.mark.django_db
def test_recommendation_api(api_client, org_world):
    world = _run(org_world.a.org)
    client = bearer(api_client, org_world.a.keys["viewer"])
    url = f"/api/v1/runs/{world.run.pk}/recommendation/"
    body = client.get(url).json()
    assert [r["arm"] for r in body["results"]] == ["mock:pricey", "mock:cheap"]
    assert body["results"][0]["p_best"] >= 0.9 and body["results"][0]["qualifies_on"] == {}
    limited = client.get(url, {"max_cost_usd": 0.005, "min_pass_rate": 0.3}).json()
    assert [r["arm"] for r in limited["results"]] == ["mock:cheap"]
    assert limited["results"][0]["qualifies_on"]["pass_rate"]["ok"] is True
    assert limited["limits"] == {"max_cost_usd": 0.005, "max_p95_ms": None, "min_pass_rate": 0.3}
    none = client.get(url, {"min_pass_rate": 0.99}).json()
    assert none["results"] == [] and none["count"] == 0 and "No arm qualifies" in none["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("params", [{"max_cost_usd": "cheap"}, {"min_pass_rate": 2}, {"max_p95_ms": -1}])
def test_recommendation_api_validation(api_client, org_world, params):
    world = _run(org_world.a.org)
    response = bearer(api_client, org_world.a.keys["viewer"]).get(f"/api/v1/runs/{world.run.pk}/recommendation/",
                                                                   params)
    assert response.status_code == 400 and response.json()["error"]["type"] == "validation_error"


@pytest.mark.django_db
def test_recommendation_api_other_org_and_unauthenticated(api_client, org_world):
    world = _run(org_world.a.org)
    url = f"/api/v1/runs/{world.run.pk}/recommendation/"
    response = bearer(api_client, org_world.b.keys["viewer"]).get(url)
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"
    api_client.credentials()
    response = api_client.get(url)
    assert response.status_code == 401 and response.json()["error"]["type"] == "unauthenticated"


@pytest.mark.django_db
def test_experiment_and_dataset_recommendation_merge_ended_runs(api_client, org_world):
    world = _run(org_world.a.org)
    client = bearer(api_client, org_world.a.keys["viewer"])
    for url in (f"/api/v1/experiments/{world.experiment.pk}/recommendation/",
                f"/api/v1/datasets/{world.dataset.pk}/recommendation/"):
        body = client.get(url, {"max_cost_usd": 0.005}).json()
        assert [r["arm"] for r in body["results"]] == ["mock:cheap"], url
        assert body["excluded"][0]["arm"] == "mock:pricey"
        other = bearer(api_client, org_world.b.keys["viewer"]).get(url)
        assert other.status_code == 404 and other.json()["error"]["type"] == "not_found"
        client = bearer(api_client, org_world.a.keys["viewer"])
