"""A `pr` dataset and an experiment scored by `pr_tests`, run end to end on a real Celery worker
(Postgres + Redis) against a fake OpenAI-compatible provider whose models answer with patches."""

from __future__ import annotations

import re
from typing import Any

import pytest

from evaluation.patches import extract_patch
from experiments.models import Attempt, RunStatus
from experiments.runs import run_start
from experiments.services import dataset_create, experiment_create
from tests.conftest import bearer
from tests.experiments.conftest import point_local_at, start_worker, wait_idle
from tests.experiments.factories import allow, wait_for
from tests.fakes.base import Reply
from tests.fakes.openai_server import FakeOpenAI
from tests.fixtures.pr_repo.dataset import FUNCTIONS, pr_jsonl, right_patch, wrong_patch
from tests.support.services import require_postgres, require_redis, require_sandbox

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]


class PatchingModels(FakeOpenAI):
    """Model `fixer` answers the right patch for the function the prompt names, `breaker` a wrong
    one, `talker` prose without a patch. The reply is picked from the request body, which `record`
    keeps for `next_reply` (both run in one event-loop step, with no await between them)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._body: dict[str, Any] = {}

    async def record(self, request):  # type: ignore[no-untyped-def]
        self._body = await super().record(request)
        return self._body

    def next_reply(self) -> Reply:
        prompt = " ".join(str(m.get("content", "")) for m in self._body.get("messages", []))
        name = re.search(r"Fix the bug in `(\w+)`", prompt).group(1)
        model = self._body.get("model")
        if model == "fixer":
            return Reply.ok(f"The bug is in `{name}`.\n\n```diff\n{right_patch(name)}```\n\nThis fixes it.")
        if model == "breaker":
            return Reply.ok(wrong_patch(name))
        return Reply.ok("I looked at it and the code seems fine to me.")


@pytest.fixture(scope="module")
def pr_worker(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    require_redis()
    require_postgres()
    require_sandbox()
    with django_db_blocker.unblock():
        worker = start_worker(BENCHHUB_SANDBOX_CONCURRENCY="2")
    yield worker
    worker.stop()


@pytest.fixture
def models():  # type: ignore[no-untyped-def]
    server = PatchingModels().start()
    yield server
    server.stop()


def test_pr_run_validates_every_patch_on_a_worker_and_the_board_waits_for_it(
    pr_worker, models, org_world, settings, api_client
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.BENCHHUB_QUEUE_OVERRIDE = pr_worker.queue
    org = org_world.a.org
    allow(org, "local")
    point_local_at(org, models)
    dataset, _ = dataset_create(org=org, name="mathkit", kind="pr", content=pr_jsonl(), filename="pr.jsonl")
    experiment = experiment_create(
        org=org, name="fix mathkit", dataset=dataset, scorers=[{"type": "pr_tests", "timeout_seconds": 60}],
        arms=[{"provider": "local", "model": m, "config": {"max_retries": 0}} for m in ("fixer", "breaker", "talker")],
    )
    run = wait_for(run_start(experiment=experiment, started_by=org_world.a.users["owner"]), timeout=300)
    wait_idle(pr_worker)
    assert run.status == RunStatus.COMPLETED, run.message
    attempts = list(Attempt.objects.filter(run=run).select_related("arm", "task_instance__case"))
    assert len(attempts) == 3 * len(FUNCTIONS)
    for attempt in attempts:
        validation = attempt.validation
        # Every attempt, with or without a patch, was validated before the run ended.
        assert attempt.validated_at is not None and attempt.scored_at is not None
        assert [s["name"] for s in validation["steps"]] == ["apply", "lint", "build", "test"]
        score = attempt.scores["pr_tests"]
        if attempt.arm.model == "fixer":
            assert attempt.patch == extract_patch(right_patch(_case_name(attempt)))
            assert validation["passed"] and score["value"] == 1.0 and score["passed"]
        elif attempt.arm.model == "breaker":
            assert attempt.patch and validation["steps"][0]["status"] == "passed"
            assert validation["steps"][3]["status"] == "failed" and 0 <= score["value"] < 1 and not score["passed"]
        else:
            assert attempt.patch == "" and validation["steps"][0]["log"] == "no patch found in the answer"
            assert score["value"] == 0.0 and not validation["passed"]
    board = bearer(api_client, org_world.a.keys["member"]).get(f"/api/v1/runs/{run.pk}/leaderboard/").json()
    quality = {row["arm"]: row for row in board["quality"]}
    assert quality["local:fixer"]["value"] == 1.0 and quality["local:fixer"]["n"] == len(FUNCTIONS)
    assert quality["local:talker"]["value"] == 0.0
    assert 0 < quality["local:breaker"]["value"] < 1


def _case_name(attempt: Attempt) -> str:
    return re.search(r"`(\w+)`", attempt.task_instance.case.payload["instruction"]).group(1)
