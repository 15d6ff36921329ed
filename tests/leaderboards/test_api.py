"""The leaderboards API and page: shapes of API.md, envelope errors, cross-run boards, export, trends."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from experiments.models import AttemptStatus, RunStatus
from leaderboards.services import run_leaderboard_compute
from tests.conftest import bearer
from tests.leaderboards.factories import make_run, scored

pytestmark = pytest.mark.django_db


def _two_arm_run(org, **kw):  # type: ignore[no-untyped-def]
    def outcome(ai, ci, sample):
        if ai == 1 and ci == 0:
            return {"status": AttemptStatus.FAILED, "error_type": "timeout", "latency_ms": None, "cost_usd": None,
                    "input_tokens": 0, "output_tokens": 0}
        return scored(1.0 if ai == 0 or ci % 3 == 0 else 0.0, latency_ms=800.0 + 200 * ai + ci, ttft_ms=90.0)

    world = make_run(org, arms=["mock:a", "mock:b"], n_cases=36, outcome=outcome, **kw)
    run_leaderboard_compute(run_id=world.run.pk)
    return world


def test_leaderboard_has_the_four_boards(api_client, org_world):
    world = _two_arm_run(org_world.a.org)
    response = bearer(api_client, org_world.a.keys["viewer"]).get(f"/api/v1/runs/{world.run.pk}/leaderboard/")
    assert response.status_code == 200
    body = response.json()
    assert {"quality", "speed", "cost", "evaluator"} <= set(body)
    for name in ("quality", "speed", "cost"):
        for row in body[name]:
            assert {"arm", "n", "value", "ci_low", "ci_high", "rank", "low_sample"} <= set(row)
    assert body["evaluator"] == []
    assert body["quality"][0]["arm"] == "mock:a" and body["quality"][0]["rank"] == 1
    assert body["quality"][0]["low_sample"] is False  # 36 cases ≥ the default threshold of 30
    assert {"p90", "p95", "p99", "ttft_p50", "tokens_per_second"} <= set(body["speed"][0])
    assert body["failures"]["by_arm"] == {"mock:b": {"timeout": 1}}
    assert body["state"] == "final"


def test_low_sample_threshold_is_configurable(api_client, org_world, settings):
    world = _two_arm_run(org_world.a.org)
    client = bearer(api_client, org_world.a.keys["viewer"])
    url = f"/api/v1/runs/{world.run.pk}/leaderboard/"
    assert all(row["low_sample"] for row in client.get(url + "?low_sample=100").json()["quality"])
    settings.BENCHHUB_LEADERBOARD_LOW_SAMPLE = 50
    assert all(row["low_sample"] for row in client.get(url).json()["quality"])
    assert client.get(url + "?low_sample=x").json()["error"]["type"] == "validation_error"


def test_unknown_run_is_404_envelope(api_client, org_world):
    response = bearer(api_client, org_world.a.keys["viewer"]).get("/api/v1/runs/999999/leaderboard/")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_unauthenticated_is_401(api_client, org_world):
    world = _two_arm_run(org_world.a.org)
    response = api_client.get(f"/api/v1/runs/{world.run.pk}/leaderboard/")
    assert response.status_code == 401 and response.json()["error"]["type"] == "unauthenticated"


def test_compare_head_to_head(api_client, org_world):
    world = _two_arm_run(org_world.a.org)
    client = bearer(api_client, org_world.a.keys["viewer"])
    body = client.get(f"/api/v1/runs/{world.run.pk}/compare/", {"a": "mock:a", "b": "mock:b"}).json()
    # b fails case 0 and scores 1 on every third case after it: a wins 25, ties 11.
    assert (body["wins"], body["losses"], body["ties"], body["n"]) == (25, 0, 11, 36)
    assert body["win_rate"] == 1.0 and body["ci_low"] < 1.0 and body["p_value"] < 1e-6
    assert body["mcnemar"] == {"a_only": 25, "b_only": 0, "p_value": pytest.approx(2 * 0.5**25)}
    assert len(body["cases"]) == 36 and body["cases"][0] == {"case": "case-0", "a": 1.0, "b": 0.0, "outcome": "win"}
    by_id = client.get(f"/api/v1/runs/{world.run.pk}/compare/",
                       {"a": str(world.arms[1].pk), "b": str(world.arms[0].pk)}).json()
    assert (by_id["wins"], by_id["losses"]) == (0, 25)
    missing = client.get(f"/api/v1/runs/{world.run.pk}/compare/", {"a": "mock:a"})
    assert missing.status_code == 400 and missing.json()["error"]["type"] == "validation_error"
    unknown = client.get(f"/api/v1/runs/{world.run.pk}/compare/", {"a": "mock:a", "b": "mock:zzz"})
    assert unknown.status_code == 400


def test_pairwise_matrix_and_ratings(api_client, org_world):
    world = _two_arm_run(org_world.a.org)
    body = bearer(api_client, org_world.a.keys["viewer"]).get(f"/api/v1/runs/{world.run.pk}/pairwise/").json()
    assert body["arms"] == ["mock:a", "mock:b"]
    assert body["wins"] == [[0, 25], [0, 0]] and body["ties"][0][1] == 11
    assert body["win_rate"][0][1] == 1.0
    assert [r["arm"] for r in body["ratings"]] == ["mock:a", "mock:b"]
    assert body["ratings"][0]["rank"] == 1 and body["ratings"][1]["rank"] == 2


def test_export_csv_and_json_stream_every_attempt(api_client, org_world):
    world = _two_arm_run(org_world.a.org)
    client = bearer(api_client, org_world.a.keys["viewer"])
    response = client.get(f"/api/v1/runs/{world.run.pk}/export/?format=csv")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 72
    assert {"arm", "case", "score_value", "cost_usd", "latency_ms", "error_type"} <= set(rows[0])
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed[0]["error_type"] == "timeout" and failed[0]["cost_usd"] == ""
    response = client.get(f"/api/v1/runs/{world.run.pk}/export/?format=json")
    assert response["Content-Type"].startswith("application/json")
    data = json.loads(b"".join(response.streaming_content))
    assert len(data) == 72 and data[0]["cost_usd"] == "0.0010000000"
    wrong = client.get(f"/api/v1/runs/{world.run.pk}/export/?format=xml")
    assert wrong.status_code == 400 and wrong.json()["error"]["type"] == "validation_error"
    bad = client.get("/api/v1/runs/999999/export/?format=csv")
    assert bad.status_code == 404 and bad.json()["error"]["type"] == "not_found"


def test_run_payload_field_carries_the_boards_once_ended(org_world):
    from leaderboards.api.fields import RunLeaderboardField

    ended = _two_arm_run(org_world.a.org)
    field = RunLeaderboardField()
    boards = field.to_representation(ended.run)
    assert set(boards) == {"state", "computed_at", "quality", "speed", "cost", "evaluator"}
    running = make_run(org_world.a.org, n_cases=3, outcome=lambda *a: scored(1.0), status=RunStatus.RUNNING)
    assert field.to_representation(running.run) is None


def test_experiment_board_combines_runs_and_pins_one_evaluator_profile(api_client, org_world):
    org = org_world.a.org

    def outcome_for(evaluator):
        return lambda ai, ci, sample: scored(float(ai == 0 or ci % 2), evaluator_score=evaluator[ai])

    first = make_run(org, n_cases=20, outcome=outcome_for([0.9, 0.1]),
                     finished_at=timezone.now() - timedelta(days=2))
    first.experiment.evaluator_profile_id = 7
    first.experiment.save()
    first.run.snapshot = {"evaluator_profile": 7}
    first.run.save()
    run_leaderboard_compute(run_id=first.run.pk)
    first.experiment.evaluator_profile_id = 8
    first.experiment.save()
    second = make_run(org, experiment=first.experiment, outcome=outcome_for([0.2, 0.6]))
    run_leaderboard_compute(run_id=second.run.pk)

    client = bearer(api_client, org_world.a.keys["viewer"])
    body = client.get(f"/api/v1/experiments/{first.experiment.pk}/leaderboard/").json()
    assert body["runs"] == sorted([first.run.pk, second.run.pk])
    quality = {r["arm"]: r for r in body["quality"]}
    assert quality["mock:a"]["n"] == 40 and quality["mock:a"]["cases"] == 20  # same cases: one cluster each
    assert body["evaluator_profile"] == "8"  # the latest run's profile, unless pinned
    assert {r["arm"]: r["value"] for r in body["evaluator"]} == {"mock:a": 0.2, "mock:b": 0.6}
    pinned = client.get(f"/api/v1/experiments/{first.experiment.pk}/leaderboard/?evaluator_profile=7").json()
    assert {r["arm"]: r["value"] for r in pinned["evaluator"]} == {"mock:a": 0.9, "mock:b": 0.1}
    assert pinned["quality"] == body["quality"]

    dataset = client.get(f"/api/v1/datasets/{first.dataset.pk}/leaderboard/").json()
    assert dataset["runs"] == body["runs"]
    window = client.get(f"/api/v1/datasets/{first.dataset.pk}/leaderboard/",
                        {"since": (timezone.now() - timedelta(days=1)).isoformat()}).json()
    assert window["runs"] == [second.run.pk]

    trends = client.get(f"/api/v1/experiments/{first.experiment.pk}/trends/").json()
    arm_a = next(a for a in trends["arms"] if a["arm"] == "mock:a")
    assert [p["run"] for p in arm_a["points"]] == [first.run.pk, second.run.pk]
    assert set(arm_a["evaluator"]) == {"7", "8"}  # split by evaluator profile version
    assert arm_a["evaluator"]["7"][0]["value"] == 0.9
    assert client.get(f"/api/v1/datasets/{first.dataset.pk}/trends/").json()["arms"][0]["points"]


def test_cross_run_board_leaves_out_running_runs(api_client, org_world):
    world = _two_arm_run(org_world.a.org)
    running = make_run(org_world.a.org, experiment=world.experiment, outcome=lambda *a: scored(0.0),
                       status=RunStatus.RUNNING)
    run_leaderboard_compute(run_id=running.run.pk)
    body = bearer(api_client, org_world.a.keys["viewer"]).get(
        f"/api/v1/experiments/{world.experiment.pk}/leaderboard/").json()
    assert body["runs"] == [world.run.pk]


def test_schema_documents_the_leaderboard_routes(api_client, org_world):
    schema = api_client.get("/api/schema/?format=json").json()
    for path in ("/api/v1/runs/{run_id}/leaderboard/", "/api/v1/runs/{run_id}/compare/",
                 "/api/v1/runs/{run_id}/export/", "/api/v1/runs/{run_id}/pairwise/",
                 "/api/v1/experiments/{experiment_id}/leaderboard/", "/api/v1/datasets/{dataset_id}/leaderboard/",
                 "/api/v1/experiments/{experiment_id}/trends/", "/api/v1/datasets/{dataset_id}/trends/"):
        assert path in schema["paths"], path


def test_leaderboard_page_renders_with_bundled_plotly(client, org_world):
    world = _two_arm_run(org_world.a.org)
    client.force_login(org_world.a.users["viewer"])
    response = client.get(f"/runs/{world.run.pk}/leaderboard/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/vendor/plotly.min.js" in html and "cdn" not in html.lower()
    assert "chart-quality-data" in html and "mock:a" in html
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and b"plotly" in b"".join(js.streaming_content)[:2000].lower()
    other = client.get(f"/runs/{_two_arm_run(org_world.b.org).run.pk}/leaderboard/")
    assert other.status_code == 404


def test_leaderboard_page_shows_unpriced(client, org_world):
    world = make_run(org_world.a.org, n_cases=5, outcome=lambda ai, ci, s: scored(1.0, cost_usd=None if ai else 0.01))
    run_leaderboard_compute(run_id=world.run.pk)
    client.force_login(org_world.a.users["viewer"])
    html = client.get(f"/runs/{world.run.pk}/leaderboard/").content.decode()
    assert "unpriced" in html


def test_htmx_refresh_renders_only_the_boards_partial(client, org_world):
    world = make_run(org_world.a.org, n_cases=4, outcome=lambda *a: scored(1.0), status=RunStatus.RUNNING)
    client.force_login(org_world.a.users["viewer"])
    page = client.get(f"/runs/{world.run.pk}/leaderboard/").content.decode()
    assert "<html" in page and 'hx-trigger="every 5s"' in page  # partial boards poll while running
    partial = client.get(f"/runs/{world.run.pk}/leaderboard/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and 'id="leaderboard"' in partial
