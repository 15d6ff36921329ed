"""`POST /api/v1/evaluate/`: rule scorers and an evaluator profile on one sample, errors in the envelope."""

from __future__ import annotations

import pytest

from evaluation.models import EvaluatorVerdict
from tests.conftest import bearer
from tests.evaluation.judges import RATIONALE, judge_profile

pytestmark = pytest.mark.django_db


def test_evaluate_scores_one_sample_with_rules_and_a_profile(api_client, org_world, judge_server):
    profile = judge_profile(judge_server)
    client = bearer(api_client, org_world.a.keys["member"])
    body = {"input": "What is the capital of France?", "output": "As ChatGPT, I can tell you: Paris.",
            "reference": "Paris", "scorers": [{"type": "contains"}, {"type": "exact"}],
            "evaluator_profile": profile.pk}
    response = client.post("/api/v1/evaluate/", body, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["scores"]["contains"]["passed"] is True and data["scores"]["exact"]["passed"] is False
    assert data["evaluator_score"] == {"profile": profile.pk, "version": 1, "overall": 0.75, "passed": True,
                                       "status": "scored",
                                       "criteria": {"correctness": 4, "faithfulness": 4, "hallucination": 4}}
    assert RATIONALE not in response.content.decode()
    sent = judge_server.seen[0].body["messages"][-1]["content"]
    assert "As the assistant, I can tell you: Paris." in sent and "chatgpt" not in sent.lower()
    # The same sample again is a cache hit: the judge is not asked twice.
    assert client.post("/api/v1/evaluate/", body, format="json").json()["evaluator_score"] == data["evaluator_score"]
    assert len(judge_server.seen) == 1 and EvaluatorVerdict.objects.count() == 1


def test_evaluate_rules_only(api_client, org_world):
    client = bearer(api_client, org_world.a.keys["member"])
    response = client.post("/api/v1/evaluate/", {"input": "2+2?", "output": "4", "reference": "4",
                                                  "scorers": [{"type": "numeric"}]}, format="json")
    assert response.status_code == 200
    assert response.json() == {"scores": {"numeric": {"value": 1.0, "passed": True,
                                                      "details": {"expected": 4.0, "got": 4.0, "difference": 0.0}}},
                               "evaluator_score": None}


@pytest.mark.parametrize(("body", "field"), [
    ({"input": "q"}, "output"),
    ({"input": "q", "output": "a", "scorers": [{"type": "nope"}]}, "scorers"),
    ({"input": "q", "output": "a", "scorers": [{"type": "regex", "pattern": "("}]}, "scorers"),
    ({"input": "q", "output": "a", "evaluator_profile": 999999}, "evaluator_profile"),
    ({"input": "q", "output": "a", "kind": "pr"}, "kind"),
])
def test_evaluate_rejects_bad_input_with_the_envelope(api_client, org_world, body, field):
    response = bearer(api_client, org_world.a.keys["member"]).post("/api/v1/evaluate/", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "validation_error" and field in str(error["details"])


def test_evaluate_needs_authentication(api_client, db):
    response = api_client.post("/api/v1/evaluate/", {"input": "q", "output": "a"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthenticated"
