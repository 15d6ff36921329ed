"""Seed 002's metric routes over the org's data-cleaning runs: overview, dimension, per-model metric."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from leaderboards.services import run_leaderboard_compute
from tests.conftest import bearer
from tests.leaderboards.cleaning_world import alternating, clean, clean_on_easy_only, dirty, make_cleaning_run

pytestmark = pytest.mark.django_db

# Arm names as the boards write them hold ":" and "/".
GOOD, LAZY = "local:meta/llama-3.1-8b", "mock:lazy"


@pytest.fixture
def world(org_world):  # type: ignore[no-untyped-def]
    """Org a: two runs (one with two samples); org b: a run whose arms must never show up in a."""
    a, b = org_world.a.org, org_world.b.org
    for run in (
        make_cleaning_run(a, answers={GOOD: clean, LAZY: dirty}),
        make_cleaning_run(a, samples=2, answers={GOOD: clean, LAZY: alternating}),
        make_cleaning_run(b, answers={"mock:secret": clean_on_easy_only, LAZY: clean}),
    ):
        run_leaderboard_compute(run_id=run.pk)
    return org_world


def client_for(api_client, world, org="a"):  # type: ignore[no-untyped-def]
    return bearer(api_client, getattr(world, org).keys["viewer"])


def test_overview_lists_every_arm_with_each_metric_and_its_bounds(api_client, world):
    body = client_for(api_client, world).get("/api/v1/metrics/overview/").json()
    assert body["count"] == 2 and body["next"] is None and len(body["runs"]) == 2
    good, lazy = body["results"]  # best F1 first
    assert good["arm"] == GOOD and lazy["arm"] == LAZY
    assert good["f1"] == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0, "rank": 1}
    assert good["n"] == 24 and good["cases"] == 8  # 8 cases x (1 + 2 samples), one cluster per case
    for metric in ("precision", "recall", "corruption_rate", "drift", "reliability", "robustness", "auditability"):
        assert set(good[metric]) == {"value", "ci_low", "ci_high", "rank"}
    assert good["reliability"]["value"] == 1.0 and lazy["reliability"]["value"] < 1.0
    assert lazy["f1"]["value"] < 1.0 and lazy["corruption_rate"]["value"] == 0.0


def test_overview_is_paginated(api_client, world):
    body = client_for(api_client, world).get("/api/v1/metrics/overview/?page_size=1").json()
    assert body["count"] == 2 and len(body["results"]) == 1 and body["next"].endswith("page=2&page_size=1")
    assert body["results"][0]["arm"] == GOOD


def test_dimension_rows_per_arm_and_unknown_dimension_is_404(api_client, world):
    client = client_for(api_client, world)
    body = client.get("/api/v1/metrics/dimension/uniqueness/").json()
    assert body["dimension"] == "uniqueness" and body["count"] == 2
    rows = {r["arm"]: r for r in body["results"]}
    assert rows[GOOD]["recall"] == 1.0 and rows[GOOD]["errors"] == rows[GOOD]["repaired"] > 0
    assert rows[LAZY]["recall"] < 1.0 and rows[LAZY]["recall_ci_low"] <= rows[LAZY]["recall"]
    missing = client.get("/api/v1/metrics/dimension/timeliness/")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found" and "timeliness" in missing.json()["error"]["message"]


@pytest.mark.parametrize("encode", [True, False])
def test_a_metric_for_one_model_with_its_runs(api_client, world, encode):
    model = quote(GOOD, safe="") if encode else GOOD
    body = client_for(api_client, world).get(f"/api/v1/metrics/f1/{model}/").json()
    assert body["arm"] == GOOD and body["metric"] == "f1"
    assert body["overall"]["value"] == 1.0 and body["overall"]["n"] == 24
    assert set(body["by_difficulty"]) == {"easy", "hard"} and "uniqueness" in body["by_dimension"]
    assert body["count"] == 2 and [r["value"] for r in body["results"]] == [1.0, 1.0]
    assert all(r["arm"] == GOOD and r["ci_low"] is not None for r in body["results"])


def test_every_metric_route_answers(api_client, world):
    client = client_for(api_client, world)
    for metric, board in (("corruption", "corruption_rate"), ("drift", "drift"), ("reliability", "reliability"),
                          ("robustness", "robustness")):
        body = client.get(f"/api/v1/metrics/{metric}/{quote(LAZY, safe='')}/").json()
        assert body["metric"] == metric and body["overall"]["arm"] == LAZY, board
        assert body["count"] == 2
    reliability = client.get(f"/api/v1/metrics/reliability/{quote(LAZY, safe='')}/").json()
    assert [r["value"] for r in reliability["results"]][1] < 1.0  # the two-sample run disagrees
    assert reliability["results"][0]["value"] is None  # one sample per case: nothing to agree on


def test_unknown_metric_or_model_is_404(api_client, world):
    client = client_for(api_client, world)
    for path in ("/api/v1/metrics/accuracy/mock:lazy/", "/api/v1/metrics/f1/mock:nobody/"):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["error"]["type"] == "not_found", path


def test_another_orgs_runs_never_count(api_client, world):
    client = client_for(api_client, world)
    overview = client.get("/api/v1/metrics/overview/").json()
    assert {r["arm"] for r in overview["results"]} == {GOOD, LAZY}
    lazy = next(r for r in overview["results"] if r["arm"] == LAZY)
    assert lazy["f1"]["value"] < 1.0  # org b's perfect "mock:lazy" run is not merged in
    assert client.get("/api/v1/metrics/f1/mock:secret/").status_code == 404
    other = client_for(api_client, world, "b").get("/api/v1/metrics/overview/").json()
    assert {r["arm"] for r in other["results"]} == {"mock:secret", LAZY} and len(other["runs"]) == 1
    assert next(r for r in other["results"] if r["arm"] == LAZY)["f1"]["value"] == 1.0


def test_an_org_without_cleaning_runs_gets_empty_lists(api_client, org_world):
    body = bearer(api_client, org_world.a.keys["viewer"]).get("/api/v1/metrics/overview/").json()
    assert body == {"count": 0, "next": None, "previous": None, "results": [], "runs": []}
    dimension = bearer(api_client, org_world.a.keys["viewer"]).get("/api/v1/metrics/dimension/accuracy/").json()
    assert dimension["count"] == 0


@pytest.mark.parametrize("path", ["/api/v1/metrics/overview/", "/api/v1/metrics/dimension/accuracy/",
                                  "/api/v1/metrics/f1/mock:lazy/"])
def test_unauthenticated_is_401(api_client, world, path):
    response = api_client.get(path)
    assert response.status_code == 401 and response.json()["error"]["type"] == "unauthenticated"


def test_a_bad_low_sample_is_a_validation_error(api_client, world):
    response = client_for(api_client, world).get("/api/v1/metrics/overview/?low_sample=lots")
    assert response.status_code == 400 and response.json()["error"]["type"] == "validation_error"
