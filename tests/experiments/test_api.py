"""Experiments, runs and attempts through the API: validation, names, filters, roles."""

from __future__ import annotations

import pytest

from experiments.models import Arm, AttemptStatus, Experiment
from experiments.runs import run_start
from experiments.services import arm_labels
from tests.conftest import bearer
from tests.experiments.factories import allow, make_dataset, make_experiment, mock_arm, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def member(api_client, org_world):  # type: ignore[no-untyped-def]
    allow(org_world.a.org, "mock")
    return bearer(api_client, org_world.a.keys["member"])


def experiment_body(dataset_id: int, **overrides):  # type: ignore[no-untyped-def]
    return {
        "name": "e", "dataset": dataset_id, "arms": [mock_arm("a"), mock_arm("a", temperature=0.7), mock_arm("b")],
        "scorers": [{"type": "exact"}, {"type": "regex", "pattern": "\\d+"}], "samples_per_case": 2, "seed": 3,
        "budget_usd": "1.50", "concurrency": 4, **overrides,
    }


def test_create_experiment_names_arms_like_the_api_says(member, org_world):
    dataset = make_dataset(org_world.a.org, 3)
    response = member.post("/api/v1/experiments/", experiment_body(dataset.pk), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [a["label"] for a in body["arms"]] == ["mock:a#1", "mock:a#2", "mock:b"]
    assert body["arms"][1]["config"] == {"temperature": 0.7}
    assert {k: body[k] for k in ("dataset", "samples_per_case", "seed", "budget_usd", "concurrency")} == {
        "dataset": dataset.pk, "samples_per_case": 2, "seed": 3, "budget_usd": 1.5, "concurrency": 4}
    assert member.get(f"/api/v1/experiments/{body['id']}/").json()["arms"] == body["arms"]
    assert member.get("/api/v1/experiments/").json()["count"] == 1


def test_arm_labels():
    arms = [mock_arm("x"), {"provider": "openai", "model": "x"}, mock_arm("x")]
    assert arm_labels(arms) == ["mock:x#1", "openai:x", "mock:x#2"]


def test_arm_outside_the_allowlist_is_policy_denied_before_anything_is_stored(member, org_world):
    dataset = make_dataset(org_world.a.org, 2)
    body = experiment_body(dataset.pk, arms=[mock_arm("a"), {"provider": "openai", "model": "gpt-4o", "config": {}}])
    response = member.post("/api/v1/experiments/", body, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "policy_denied"
    assert not Experiment.objects.exists() and not Arm.objects.exists()


def test_arm_without_credentials_is_a_validation_error(member, org_world):
    allow(org_world.a.org, "mock", "openai")
    dataset = make_dataset(org_world.a.org, 2)
    body = experiment_body(dataset.pk, arms=[{"provider": "openai", "model": "gpt-4o", "config": {}}])
    response = member.post("/api/v1/experiments/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "arms[0]"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scorers": [{"type": "telepathy"}]}, "scorers"),
        ({"scorers": [{"type": "regex", "pattern": "("}]}, "scorers"),
        ({"arms": []}, "arms"),
        ({"samples_per_case": 0}, "samples_per_case"),
        ({"concurrency": 0}, "concurrency"),
        ({"budget_usd": "-1"}, "budget_usd"),
    ],
)
def test_invalid_experiments(member, org_world, change, field):
    dataset = make_dataset(org_world.a.org, 2)
    response = member.post("/api/v1/experiments/", experiment_body(dataset.pk, **change), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "validation_error"
    assert field in str(response.json()["error"]["details"])


def test_another_orgs_dataset_is_not_usable(member, org_world):
    other = make_dataset(org_world.b.org, 2)
    response = member.post("/api/v1/experiments/", experiment_body(other.pk), format="json")
    assert response.status_code == 400
    assert "dataset" in response.json()["error"]["details"]


def test_viewer_reads_but_cannot_create_or_start(api_client, org_world):
    experiment = make_experiment(org_world.a.org, cases=2)
    viewer = bearer(api_client, org_world.a.keys["viewer"])
    assert viewer.get(f"/api/v1/experiments/{experiment.pk}/").status_code == 200
    assert viewer.post(f"/api/v1/experiments/{experiment.pk}/runs/").status_code == 403
    body = experiment_body(experiment.dataset_id)
    assert viewer.post("/api/v1/experiments/", body, format="json").status_code == 403


def test_attempts_list_filters_and_detail(api_client, org_world, settings):
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "sync"
    experiment = make_experiment(
        org_world.a.org, cases=4, samples_per_case=2,
        arms=[mock_arm("a", mock_response="2"), mock_arm("b", mock_failure_rate=1, mock_error_type="bad_request")],
        scorers=[{"type": "numeric"}],
    )
    run = wait_for(run_start(experiment=experiment))
    client = bearer(api_client, org_world.a.keys["viewer"])
    url = f"/api/v1/runs/{run.pk}/attempts/"
    assert client.get(url).json()["count"] == 16
    by_arm = client.get(url, {"arm": "mock:a"}).json()
    assert by_arm["count"] == 8 and {r["arm"] for r in by_arm["results"]} == {"mock:a"}
    failed = client.get(url, {"status": "failed"}).json()
    assert failed["count"] == 8 and all(r["error"]["type"] == "bad_request" for r in failed["results"])
    case = client.get(url, {"case": "case-1"}).json()
    assert case["count"] == 4 and {r["case"] for r in case["results"]} == {"case-1"}
    assert client.get(url, {"status": "nonsense"}).status_code == 400
    one = client.get(url, {"arm": "mock:a", "case": "case-1", "page_size": 1}).json()["results"][0]
    detail = client.get(f"/api/v1/attempts/{one['id']}/").json()
    for field in ("arm", "case", "sample", "status", "output", "patch", "validation", "scores", "evaluator_score",
                  "usage", "cost_usd", "latency_ms", "ttft_ms", "error", "retries", "queued_at", "started_at",
                  "responded_at", "validated_at", "scored_at", "raw_response"):
        assert field in detail, field
    assert detail["status"] == AttemptStatus.SUCCEEDED and detail["error"] is None
    assert detail["scores"]["numeric"]["passed"] is True  # case-1 asks for 1 + 1
    assert set(detail["usage"]) == {"input_tokens", "output_tokens", "cached_tokens"}
    assert isinstance(detail["cost_usd"], float)
    assert run.status == "completed_with_errors"


def test_run_list_and_dashboard_pages(api_client, client, org_world, settings):
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "sync"
    run = wait_for(run_start(experiment=make_experiment(org_world.a.org, cases=2)))
    listed = bearer(api_client, org_world.a.keys["viewer"]).get("/api/v1/runs/").json()
    assert listed["count"] == 1 and listed["results"][0]["progress"]["done"] == 4
    client.force_login(org_world.a.users["viewer"])
    assert b"#%d" % run.pk in client.get("/runs/").content
    page = client.get(f"/runs/{run.pk}/")
    assert page.status_code == 200 and b"mock:a" in page.content and b"completed" in page.content
    client.force_login(org_world.b.users["owner"])
    assert client.get(f"/runs/{run.pk}/").status_code == 404
