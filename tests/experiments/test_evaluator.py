"""The evaluator agent on real runs: blind, structured, invalid-safe, replayable, order-debiased.

Arms and the judge are real SDK calls against fake wire servers (tests/fakes); every request the
judge receives is captured there. Runs execute in-process and on a real Celery worker.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest
from django.core.management import call_command

from evaluation.models import EvaluatorVerdict
from evaluation.verdicts import BUDGET_REASON
from experiments.judging import evaluator_position_bias, evaluator_replay, evaluator_shadow
from experiments.models import Attempt, AttemptEvaluation, PairwiseEvaluation, RunStatus
from experiments.services import dataset_create, experiment_create, run_start
from leaderboards.services import run_leaderboard_compute
from providers.registry import adapter_for
from providers.services import credential_set, policy_set
from tests.conftest import bearer
from tests.evaluation.judges import JUDGE_KEY, RATIONALE, judge, judge_profile, user_text
from tests.experiments.conftest import celery_worker, execution  # noqa: F401 (fixtures)
from tests.experiments.factories import jsonl, make_experiment, mock_arm, wait_for
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.base import Reply
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)

# The adapters import their SDK on first use; doing that here, as a worker's preload does, keeps a
# multi-second import on a loaded machine off the call loop (where it starves a Redis connect).
adapter_for("openai"), adapter_for("anthropic")

ARM_KEY = "sk-org-arm-key-1234abcd"
GPT, CLAUDE = "gpt-4o-mini", "claude-3-5-haiku-latest"
# Everything that would tell the judge which arm answered.
IDENTITIES = ("openai", "anthropic", "gpt-4o", "4o-mini", "claude", "haiku", "openai:gpt-4o-mini",
              "anthropic:claude-3-5-haiku-latest")


@pytest.fixture
def judge_server() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(api_key=JUDGE_KEY).start()
    server.responder = judge()
    yield server
    server.stop()


@pytest.fixture
def arm_servers() -> Iterator[tuple[FakeOpenAI, FakeAnthropic]]:
    """Arms whose answers name their own model and maker, as real models do."""
    openai, anthropic = FakeOpenAI(api_key=ARM_KEY).start(), FakeAnthropic(api_key=ARM_KEY).start()

    def number(body) -> str:  # type: ignore[no-untyped-def]
        return re.findall(r"\d+", user_text(body))[0]

    openai.responder = lambda body: f"I am GPT-4o mini, made by OpenAI (gpt-4o-mini). The answer is {int(number(body)) + 1}."
    anthropic.responder = lambda body: f"As Claude 3.5 Haiku from Anthropic, I say {int(number(body)) + 1}."
    yield openai, anthropic
    openai.stop()
    anthropic.stop()


def qa_dataset(org, n: int, *, name: str = "qa"):  # type: ignore[no-untyped-def]
    rows = [{"id": f"q{i}", "input": f"What is {i} + 1?", "reference": str(i + 1)} for i in range(n)]
    return dataset_create(org=org, name=name, kind="qa", content=jsonl(rows), filename="q.jsonl")[0]


def vendor_experiment(org, servers, profile, *, cases: int = 3, **fields):  # type: ignore[no-untyped-def]
    openai, anthropic = servers
    policy_set(org=org, rules=[{"provider": "openai", "models": ["*"]}, {"provider": "anthropic", "models": ["*"]}])
    credential_set(org=org, provider="openai", api_key=ARM_KEY, base_url=openai.url + "/v1")
    credential_set(org=org, provider="anthropic", api_key=ARM_KEY, base_url=anthropic.url)
    return experiment_create(
        org=org, name="vendors", dataset=qa_dataset(org, cases),
        arms=[{"provider": "openai", "model": GPT, "config": {"max_tokens": 64}},
              {"provider": "anthropic", "model": CLAUDE, "config": {"max_tokens": 64}}],
        scorers=[{"type": "numeric"}], evaluator_profile=profile.pk, **fields,
    )


def test_the_judge_never_sees_an_arm_identity_even_when_outputs_name_themselves(
    execution, api_client, org_world, judge_server, arm_servers,  # noqa: F811
):
    org = org_world.a.org
    profile = judge_profile(judge_server)
    run = wait_for(run_start(experiment=vendor_experiment(org, arm_servers, profile)))
    assert run.status == RunStatus.COMPLETED

    outputs = list(Attempt.objects.filter(run=run).values_list("output", flat=True))
    assert any("Claude" in o for o in outputs) and any("GPT-4o mini" in o for o in outputs)  # they do name themselves
    # 3 cases x 2 arms graded, and 3 pairs asked in both orders: every judge request captured.
    assert len(judge_server.seen) == 6 + 6
    for seen in judge_server.seen:
        sent = json.dumps(seen.body).lower()
        leaked = [term for term in IDENTITIES if term in sent]
        assert not leaked, f"the judge saw {leaked} in {sent[:500]}"
        assert seen.body["model"] == "gpt-4.1-mini" and seen.body["temperature"] == 0
        assert seen.body["response_format"]["type"] == "json_schema"
    prompts = [user_text(s.body) for s in judge_server.seen]
    assert any("As the assistant from the vendor, I say" in p for p in prompts)

    evaluations = AttemptEvaluation.objects.filter(run=run)
    assert evaluations.count() == 6 and {e.status for e in evaluations} == {"scored"}
    assert all(e.profile_id == profile.pk and e.profile_version == 1 for e in evaluations)
    assert PairwiseEvaluation.objects.filter(run=run).count() == 3
    assert Attempt.objects.filter(run=run, evaluator_score__isnull=True).count() == 0

    # The run's four boards all fill, the evaluator board and the evaluator's pairwise judgements included.
    client = bearer(api_client, org_world.a.keys["viewer"])
    boards = client.get(f"/api/v1/runs/{run.pk}/leaderboard/").json()
    assert {row["arm"] for row in boards["evaluator"]} == {f"openai:{GPT}", f"anthropic:{CLAUDE}"}
    pairwise = client.get(f"/api/v1/runs/{run.pk}/pairwise/").json()
    assert pairwise["judgements"] == 3

    # Org users see the scores, never the rationale or the raw judge output.
    attempts = client.get(f"/api/v1/runs/{run.pk}/attempts/").json()["results"]
    score = attempts[0]["evaluator_score"]
    assert score == {"profile": profile.pk, "version": 1, "overall": 0.75, "passed": True, "status": "scored",
                     "criteria": {"correctness": 4, "faithfulness": 4, "hallucination": 4}}
    detail = client.get(f"/api/v1/attempts/{attempts[0]['id']}/").content.decode()
    listing = client.get(f"/api/v1/runs/{run.pk}/attempts/").content.decode()
    assert RATIONALE not in detail and RATIONALE not in listing
    assert json.loads(detail)["evaluator_score"]["overall"] == 0.75
    # ... while staff have it stored.
    assert all(RATIONALE in e.rationale and e.raw_response for e in evaluations)
