"""Sample-size planner: the formula, its check against simulated runs, and its two API routes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from leaderboards import planner, simulation, stats
from leaderboards.services import run_leaderboard_compute
from leaderboards.simulation import Regime
from tests.conftest import bearer
from tests.leaderboards.factories import make_run, scored


def test_plan_by_hand():
    # Two arms, 0.7 vs 0.75, one sample per case: (1.96 + 0.8416)² · (0.21 + 0.1875) / 0.05² = 1247.9.
    result = planner.plan(baseline=0.7, difference=0.05, arms=2, power=0.8)
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert result.cases == int(np.ceil(z * z * (0.7 * 0.3 + 0.75 * 0.25) / 0.05**2)) == 1248
    assert result.attempts == 2 * 1248 and result.pairs == 1 and result.alpha_per_pair == pytest.approx(0.05)


def test_samples_clustering_and_arms_move_the_plan_the_right_way():
    one = planner.plan(baseline=0.7, difference=0.05, arms=4, samples_per_case=1)
    two = planner.plan(baseline=0.7, difference=0.05, arms=4, samples_per_case=2, icc=0.3)
    independent = planner.plan(baseline=0.7, difference=0.05, arms=4, samples_per_case=2, icc=0.0)
    fully = planner.plan(baseline=0.7, difference=0.05, arms=4, samples_per_case=2, icc=1.0)
    assert independent.cases < two.cases < fully.cases == one.cases  # ICC 1: a second sample adds nothing
    assert two.cases == pytest.approx(one.cases * (1 + 0.3) / 2, rel=0.01)
    assert planner.plan(baseline=0.7, difference=0.05, arms=2).cases < one.cases  # 6 pairs to control, not 1
    assert two.alpha_per_pair == pytest.approx(0.05 / 6)


@pytest.mark.parametrize(("rates", "samples"), [((0.6, 0.7), 2), ((0.7, 0.8, 0.7, 0.7), 1)])
def test_runs_of_the_planned_size_reach_the_planned_power(rates, samples):
    # Arms independent on a case (shared=0), as the planner assumes; ICC from the simulation's
    # own model. Power of the board's own claim (Holm-corrected paired test says arm 1 beats arm 0).
    regime = Regime("plan", cases=10, pass_rates=rates, samples=samples, spread=1.0, shared=0.0, graded=False)
    plan = planner.plan(baseline=rates[0], difference=rates[1] - rates[0], arms=len(rates), samples_per_case=samples,
                        icc=float(regime.observed_icc().mean()), power=0.8)
    sized = Regime("plan", cases=plan.cases, pass_rates=rates, samples=samples, spread=1.0, shared=0.0, graded=False)
    runs = 400
    draw = sized.draw(runs, np.random.default_rng(2))
    sums, counts = draw.score.sum(-1), np.full(draw.score.shape[:-1], float(samples))
    power = np.mean([stats.paired_differences(sums[r], counts[r]).beats[1, 0] for r in range(runs)])
    mc = np.sqrt(0.8 * 0.2 / runs)  # 0.02
    # At least the planned power (less 2 Monte Carlo errors), and not wastefully more: with 4 arms
    # Holm is less strict than the Bonferroni the plan assumes, so allow more there.
    assert 0.8 - 2 * mc <= power <= (0.8 + 2 * mc if len(rates) == 2 else 0.95)


def test_bradley_terry_recovers_20_strengths_at_the_planned_size():
    rates = tuple(np.round(np.linspace(0.45, 0.9, 20), 4))
    plan = planner.plan(baseline=0.65, difference=0.05, arms=20)
    regime = Regime("bt", cases=plan.cases, pass_rates=rates, graded=False)
    truth = simulation.truth(regime, cases=100_000)
    for run, case_means in enumerate(regime.draw(3, np.random.default_rng(3)).case_means()):
        theta = stats.bradley_terry(stats.case_outcomes(case_means).sum(axis=0), prior=0.5)
        rho = sps.spearmanr(theta, truth.bt_theta).statistic
        assert rho >= 0.95, (run, rho)


def test_run_plan_measures_its_own_data():
    regime = Regime("r", cases=60, pass_rates=(0.8, 0.6), samples=2, graded=False)
    draw = regime.draw(1, np.random.default_rng(4))
    result = planner.plan_from_case_stats(["a", "b"], draw.arm_case_stats(0))
    assert result is not None and result.arms == ("a", "b")
    assert result.plan.samples_per_case == 2 and result.cases_now == 60
    observed = draw.case_means()[0, :, 0].mean() - draw.case_means()[0, :, 1].mean()
    assert result.observed_difference == pytest.approx(observed, abs=1e-6)
    asked = planner.plan_from_case_stats(["a", "b"], draw.arm_case_stats(0), difference=0.02)
    assert asked.plan.cases > result.plan.cases and asked.more_cases == asked.plan.cases - 60
    assert "more cases" in asked.message


# --- API ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_planner_api_answers_cases_with_assumptions(api_client, org_world):
    client = bearer(api_client, org_world.a.keys["viewer"])
    response = client.get("/api/v1/planner/", {"metric": "pass_rate", "baseline": 0.7, "difference": 0.05, "arms": 4,
                                               "samples_per_case": 2, "icc": 0.3, "power": 0.8})
    assert response.status_code == 200
    body = response.json()
    expected = planner.plan(baseline=0.7, difference=0.05, arms=4, samples_per_case=2, icc=0.3, power=0.8)
    assert body["cases"] == expected.cases
    assert {k: body[k] for k in ("metric", "baseline", "difference", "arms", "samples_per_case", "icc", "power")} == {
        "metric": "pass_rate", "baseline": 0.7, "difference": 0.05, "arms": 4, "samples_per_case": 2, "icc": 0.3,
        "power": 0.8}


@pytest.mark.django_db
@pytest.mark.parametrize("params", [
    {"baseline": 1.5, "difference": 0.05},
    {"baseline": 0.7},
    {"baseline": 0.7, "difference": "x"},
    {"baseline": 0.7, "difference": 0.05, "arms": 1},
    {"baseline": 0.7, "difference": 0.05, "metric": "latency"},
    {"baseline": 0.5, "difference": 0.6},
    {"baseline": 0.7, "difference": 0.05, "sd": 0.2},
])
def test_planner_api_validation_errors_in_the_envelope(api_client, org_world, params):
    response = bearer(api_client, org_world.a.keys["viewer"]).get("/api/v1/planner/", params)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "validation_error"
    assert response.json()["error"]["details"]


@pytest.mark.django_db
def test_planner_api_needs_authentication(api_client):
    response = api_client.get("/api/v1/planner/", {"baseline": 0.7, "difference": 0.05})
    assert response.status_code == 401 and response.json()["error"]["type"] == "unauthenticated"


@pytest.mark.django_db
def test_run_planner_api(api_client, org_world):
    world = make_run(org_world.a.org, arms=["mock:good", "mock:fair"], n_cases=40, samples=2,
                     outcome=lambda ai, ci, sample: scored(float(ci % 10 < (8 if ai == 0 else 6))))
    run_leaderboard_compute(run_id=world.run.pk)
    client = bearer(api_client, org_world.a.keys["viewer"])
    body = client.get(f"/api/v1/runs/{world.run.pk}/planner/", {"difference": 0.05}).json()
    assert body["arms"] == ["mock:good", "mock:fair"] and body["cases_now"] == 40
    assert body["observed_difference"] == pytest.approx(0.2)
    assert body["cases"] > 40 and body["more_cases"] == body["cases"] - 40
    assert body["assumptions"]["samples_per_case"] == 2 and body["assumptions"]["arms"] == 2
    assert f"about {body['more_cases']} more cases" in body["message"]
    bad = client.get(f"/api/v1/runs/{world.run.pk}/planner/", {"power": 2})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "validation_error"
    other = bearer(api_client, org_world.b.keys["viewer"]).get(f"/api/v1/runs/{world.run.pk}/planner/")
    assert other.status_code == 404 and other.json()["error"]["type"] == "not_found"
    api_client.credentials()
    assert api_client.get(f"/api/v1/runs/{world.run.pk}/planner/").status_code == 401
