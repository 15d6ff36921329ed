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
from experiments.runs import run_start
from experiments.services import dataset_create, experiment_create
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
    # Beside the evaluator board: how far to trust the judge (no PR tests here, so no calibration items).
    trust = boards["evaluator_trust"]
    assert trust["position_bias"]["pairs"] == 3 and trust["calibration"]["n"] == 0

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


def single_case_run(org, profile, *, cases: int = 1, arms=None, **fields):  # type: ignore[no-untyped-def]
    """A small run with mock arms (no wire server: the judge server sees judge requests only)."""
    experiment = make_experiment(org, cases=cases, arms=arms or [mock_arm("solo", mock_response="2")],
                                 evaluator_profile=profile.pk, **fields)
    return wait_for(run_start(experiment=experiment))


@pytest.fixture
def inline(settings):  # type: ignore[no-untyped-def]
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "sync"


def first_message_count(server) -> list[int]:  # type: ignore[no-untyped-def]
    return [len(seen.body["messages"]) for seen in server.seen]


def test_malformed_json_is_repaired_once(inline, org_world, judge_server):
    profile = judge_profile(judge_server)
    judge_server.script(Reply.ok('{"rationale": "cut off", "correctness": 4'))  # then the judge answers well
    run = single_case_run(org_world.a.org, profile)
    evaluation = AttemptEvaluation.objects.get(run=run)
    assert evaluation.status == "scored" and evaluation.overall == 0.75 and evaluation.passed is True
    # The repair turn carries the bad answer and says what was wrong with it.
    assert first_message_count(judge_server) == [2, 4]
    repair = judge_server.seen[1].body["messages"][-1]["content"]
    assert "not JSON" in repair
    assert len(evaluation.raw_response) == 2


def test_malformed_json_twice_is_invalid_never_a_pass_nor_the_lowest_score(inline, org_world, judge_server):
    profile = judge_profile(judge_server)
    judge_server.script(Reply.ok("I think it is fine."), Reply.ok("Score: 4/5"))
    run = single_case_run(org_world.a.org, profile)
    assert run.status == RunStatus.COMPLETED  # an invalid verdict never holds the run open
    evaluation = AttemptEvaluation.objects.get(run=run)
    assert evaluation.status == "invalid" and "no valid answer after one repair" in evaluation.reason
    assert evaluation.overall is None and evaluation.passed is None and evaluation.criteria == {}
    assert len(judge_server.seen) == 2  # one repair, no more
    attempt = Attempt.objects.get(run=run)
    assert attempt.evaluator_score is None
    assert run_leaderboard_compute(run_id=run.pk).boards["evaluator"] == []  # not counted as 0


def test_a_score_outside_the_scale_is_rejected(inline, org_world, judge_server):
    profile = judge_profile(judge_server)
    # Two cases: one judged in scale, one judged 9 of 5 in both turns.
    judge_server.responder = judge(score=lambda prompt: 9 if "What is 0 + 1" in prompt else 5)
    run = single_case_run(org_world.a.org, profile, cases=2)
    by_case = {e.attempt.task_instance.case.case_id: e for e in AttemptEvaluation.objects.filter(run=run)
               .select_related("attempt__task_instance__case")}
    bad, good = by_case["case-0"], by_case["case-1"]
    assert bad.status == "invalid" and "9 is not one of [1, 2, 3, 4, 5]" in bad.reason
    assert bad.overall is None and bad.passed is None
    assert good.status == "scored" and good.overall == 1.0
    assert len(judge_server.seen) == 3  # the good one once, the bad one and its repair
    # The evaluator board counts the scored attempt only: the invalid one is neither 0 nor a pass.
    row = run_leaderboard_compute(run_id=run.pk).boards["evaluator"][0]
    assert row["n"] == 1 and row["value"] == 1.0


def test_replay_with_a_new_profile_calls_only_the_evaluator_and_keeps_the_old_scores(
    inline, org_world, judge_server, arm_servers,
):
    org = org_world.a.org
    old = judge_profile(judge_server, name="judge-a")
    run = wait_for(run_start(experiment=vendor_experiment(org, arm_servers, old)))
    openai, anthropic = arm_servers
    arm_calls = len(openai.seen) + len(anthropic.seen)
    assert arm_calls == 6
    before = {e.attempt_id: (e.overall, e.criteria) for e in AttemptEvaluation.objects.filter(run=run, profile=old)}
    scores_before = dict(Attempt.objects.filter(run=run).values_list("pk", "evaluator_score"))

    other = FakeOpenAI(api_key=JUDGE_KEY).start()
    try:
        other.responder = judge(score=2, winner="B")
        new = judge_profile(other, name="judge-b", model="gpt-4.1")
        out = io.StringIO()
        call_command("evaluator_replay", "--run", str(run.pk), "--profile", str(new.pk), stdout=out)
        assert json.loads(out.getvalue().strip().splitlines()[-1]) == {
            "run": run.pk, "profile": new.pk, "scored": 6, "invalid": 0}
        assert len(openai.seen) + len(anthropic.seen) == arm_calls  # no arm was called again
        assert len(other.seen) == 6 + 2 * 3  # only the new evaluator: 6 grades, 3 pairs in both orders
        assert {s.body["model"] for s in other.seen} == {"gpt-4.1"}

        # A second replay pays nothing: every verdict is stored.
        assert evaluator_replay(run=run, profile=new).calls == 0
        assert len(other.seen) == 12
    finally:
        other.stop()

    # Old scores intact, new ones beside them, each queryable by profile.
    after = {e.attempt_id: (e.overall, e.criteria) for e in AttemptEvaluation.objects.filter(run=run, profile=old)}
    assert after == before
    assert set(AttemptEvaluation.objects.filter(run=run, profile=new).values_list("overall", flat=True)) == {0.25}
    assert dict(Attempt.objects.filter(run=run).values_list("pk", "evaluator_score")) == scores_before
    assert PairwiseEvaluation.objects.filter(run=run, profile=new).count() == 3
    out = io.StringIO()
    call_command("evaluator_shadow", "--run", str(run.pk), "--a", str(old.pk), "--b", str(new.pk), stdout=out)
    shadow = json.loads(out.getvalue().strip().splitlines()[-1])
    assert shadow == evaluator_shadow(run_id=run.pk, profile_a=old.pk, profile_b=new.pk)
    # All pass against all fail: no agreement, κ 0, and no rank correlation for constant scores.
    assert shadow["n"] == 6 and shadow["agreement"] == 0.0 and shadow["kappa"] == 0.0 and shadow["spearman"] is None


def test_a_judge_that_always_prefers_the_first_answer_yields_ties(inline, org_world, judge_server):
    profile = judge_profile(judge_server)
    judge_server.responder = judge(winner="A")
    arms = [mock_arm("good", mock_response="2"), mock_arm("bad", mock_response="I do not know")]
    run = single_case_run(org_world.a.org, profile, cases=4, arms=arms)
    pairs = PairwiseEvaluation.objects.filter(run=run)
    assert pairs.count() == 4
    assert {(p.winner_ab, p.winner_ba, p.outcome) for p in pairs} == {("A", "A", 0.5)}  # ties, not wins
    bias = evaluator_position_bias(profile_id=profile.pk)
    assert bias == {"profile": profile.pk, "pairs": 4, "first_position_rate": 1.0, "order_disagreement_rate": 1.0}


def test_a_consistent_judge_gives_wins_in_both_orders(inline, org_world, judge_server):
    profile = judge_profile(judge_server)
    judge_server.responder = judge(winner=lambda a, b: "A" if a.strip() == "2" else "B")
    arms = [mock_arm("bad", mock_response="I do not know"), mock_arm("good", mock_response="2")]
    run = single_case_run(org_world.a.org, profile, cases=4, arms=arms)
    assert set(PairwiseEvaluation.objects.filter(run=run).values_list("outcome", flat=True)) == {0.0}  # a lost
    assert evaluator_position_bias(profile_id=profile.pk)["first_position_rate"] == 0.5
    ratings = run_leaderboard_compute(run_id=run.pk).pairwise
    assert ratings["judgements"] == 4
    assert ratings["ratings"][0]["arm"] == "mock:good"


def test_evaluator_budget_caps_evaluator_spend_apart_from_arm_spend(inline, api_client, org_world, judge_server):
    profile = judge_profile(judge_server)
    run = single_case_run(org_world.a.org, profile, cases=8, evaluator_budget_usd="0.0002")
    evaluations = AttemptEvaluation.objects.filter(run=run)
    refused = evaluations.filter(reason=BUDGET_REASON)
    assert evaluations.count() == 8 and 0 < refused.count() < 8
    assert all(e.status == "invalid" and e.retryable and e.overall is None for e in refused)
    body = bearer(api_client, org_world.a.keys["viewer"]).get(f"/api/v1/runs/{run.pk}/").json()
    assert 0 < body["evaluator_spent_usd"] <= 0.0002
    assert body["evaluator_budget_usd"] == 0.0002
    assert body["spent_usd"] != body["evaluator_spent_usd"]  # arm spend is reported on its own
    assert len(judge_server.seen) == 8 - refused.count()
    assert EvaluatorVerdict.objects.filter(profile=profile).count() == 8 - refused.count()


def test_calibration_against_the_pr_tests_is_shown_beside_the_evaluator_board(
    inline, api_client, org_world, judge_server,
):
    profile = judge_profile(judge_server)
    judge_server.responder = judge(score=lambda prompt: 5 if "FIXED" in prompt else 1)
    arms = [mock_arm("fixer", mock_response="FIXED"), mock_arm("breaker", mock_response="BROKEN")]
    run = single_case_run(org_world.a.org, profile, cases=4, arms=arms)
    # Ground truth as the PR test scorer writes it: every fixer patch passes, one breaker patch too.
    for attempt in Attempt.objects.filter(run=run).select_related("arm", "task_instance__case"):
        passed = attempt.arm.model == "fixer" or attempt.task_instance.case.case_id == "case-0"
        attempt.scores = {**attempt.scores, "pr_tests": {"value": float(passed), "passed": passed, "details": {}}}
        attempt.save(update_fields=["scores"])
    run_leaderboard_compute(run_id=run.pk)
    body = bearer(api_client, org_world.a.keys["viewer"]).get(f"/api/v1/runs/{run.pk}/leaderboard/").json()
    calibration = body["evaluator_trust"]["calibration"]
    assert calibration["confusion"] == {"tp": 4, "fp": 0, "fn": 1, "tn": 3}
    assert calibration["n"] == 8 and calibration["agreement"] == 0.875 and calibration["kappa"] == 0.75
    # The same run as the profile's fixed calibration set: recorded once, then a drop is a drift.
    out = io.StringIO()
    call_command("evaluator_calibrate", "--run", str(run.pk), "--profile", str(profile.pk), stdout=out)
    first = json.loads(out.getvalue().strip().splitlines()[-1])
    assert first["kappa"] == 0.75 and first["recorded"]["kappa"] == 0.75 and first["drift"] is False
    for attempt in Attempt.objects.filter(run=run, arm__model="breaker"):  # the tests now pass the breaker
        attempt.scores = {**attempt.scores, "pr_tests": {"value": 1.0, "passed": True, "details": {}}}
        attempt.save(update_fields=["scores"])
    with pytest.raises(SystemExit) as drifted:
        call_command("evaluator_calibrate", "--run", str(run.pk), "--profile", str(profile.pk), stdout=io.StringIO())
    assert drifted.value.code == 3
