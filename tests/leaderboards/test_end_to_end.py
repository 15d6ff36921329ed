"""A real run through the experiments pipeline ends with its leaderboard computed and in the run payload."""

from __future__ import annotations

import time

import pytest

from experiments.models import RunStatus
from experiments.runs import run_start
from leaderboards.models import ArmAggregate, RunLeaderboard
from tests.conftest import bearer
from tests.experiments.conftest import celery_worker, execution  # noqa: F401 (fixtures: in-process and a real worker)
from tests.experiments.factories import make_experiment, mock_arm, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _final_board(run, timeout: float = 60) -> RunLeaderboard:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        board = RunLeaderboard.objects.filter(run=run, state="final").first()
        if board is not None:
            return board
        assert time.monotonic() < deadline, "the run-end aggregation did not happen"
        time.sleep(0.1)


def test_run_end_computes_the_final_boards(execution, api_client, org_world):  # noqa: F811
    experiment = make_experiment(
        org_world.a.org, cases=12, samples_per_case=2,
        arms=[mock_arm("right", mock_mode="echo"), mock_arm("wrong", mock_response="nope")],
        scorers=[{"type": "contains"}],
    )
    run = wait_for(run_start(experiment=experiment))
    assert run.status == RunStatus.COMPLETED
    board = _final_board(run)  # written by the run-end hook (a task on the worker), not by a read
    assert board.attempts_ended == 48
    assert ArmAggregate.objects.filter(run=run).count() == 2

    client = bearer(api_client, org_world.a.keys["viewer"])
    payload = client.get(f"/api/v1/runs/{run.pk}/").json()["leaderboard"]
    assert payload["state"] == "final"
    assert {row["arm"] for row in payload["quality"]} == {"mock:right", "mock:wrong"}
    assert all(row["n"] == 24 and row["cases"] == 12 for row in payload["quality"])
    assert all(row["status"] == "priced" for row in payload["cost"])  # mock calls carry a price
    boards = client.get(f"/api/v1/runs/{run.pk}/leaderboard/").json()
    assert boards["version"] == board.version  # the read served the persisted board as it was
