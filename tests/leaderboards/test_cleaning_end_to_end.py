"""A data-cleaning run end to end: real arms' answers from an OpenAI-compatible fake, slow
`data_cleaning` scores on the scoring queue (a real Celery worker on Postgres, and in-process),
the run's board with the cleaning section, and the metrics routes over it."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from experiments.models import Attempt, AttemptStatus, RunStatus
from experiments.runs import run_start
from leaderboards.models import CleaningAggregate
from tests.conftest import bearer
from tests.experiments.conftest import celery_worker, execution, point_local_at  # noqa: F401 (fixtures)
from tests.experiments.factories import make_experiment, wait_for
from tests.fakes.cleaning_server import CleaningFake
from tests.leaderboards.cleaning_world import cleaning_dataset
from tests.leaderboards.test_end_to_end import _final_board

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_cleaning_run_scores_each_answer_and_its_board_shows_the_metrics(execution, api_client, org_world):  # noqa: F811
    org = org_world.a.org
    dataset = cleaning_dataset(org)
    cases = list(dataset.cases.order_by("position"))
    tables = {c.payload["dirty"]: c.payload["clean"] for c in cases}
    duplicates = {c.payload["dirty"]: [e["row"] for e in c.payload["errors"] if e["column"] == "*"] for c in cases}
    server = CleaningFake(tables=tables, duplicates=duplicates).start()
    try:
        point_local_at(org, server)
        experiment = make_experiment(
            org, dataset=dataset, samples_per_case=2, scorers=[{"type": "data_cleaning"}],
            arms=[{"provider": "local", "model": "cleaner", "config": {"max_retries": 0}},
                  {"provider": "local", "model": "lazy", "config": {"max_retries": 0}}],
        )
        run = wait_for(run_start(experiment=experiment))
        assert run.status == RunStatus.COMPLETED, run.message
        board = _final_board(run)
    finally:
        server.stop()

    attempts = list(Attempt.objects.filter(run=run))
    assert len(attempts) == 32 and all(a.status == AttemptStatus.SUCCEEDED for a in attempts)
    for attempt in attempts:  # every attempt scored by the slow scorer, with its details
        details = attempt.scores["data_cleaning"]["details"]
        assert attempt.scored_at is not None and "parse_error" not in details
        if attempt.arm.model == "cleaner":
            assert (details["f1"], details["corruption_rate"], attempt.passed) == (1.0, 0.0, True)
        else:
            assert details["repaired"] == 0
    assert CleaningAggregate.objects.filter(aggregate__run=run).count() == 2
    assert board.boards["cleaning"]["f1"][0]["arm"] == "local:cleaner"

    client = bearer(api_client, org_world.a.keys["viewer"])
    section = client.get(f"/api/v1/runs/{run.pk}/leaderboard/").json()["cleaning"]
    cleaner = next(r for r in section["f1"] if r["arm"] == "local:cleaner")
    lazy = next(r for r in section["f1"] if r["arm"] == "local:lazy")
    assert (cleaner["value"], cleaner["rank"], cleaner["n"], cleaner["cases"]) == (1.0, 1, 16, 8)
    assert lazy["value"] < 1.0 and lazy["ci_high"] < cleaner["ci_low"]
    assert next(r for r in section["reliability"] if r["arm"] == "local:cleaner")["value"] == 1.0
    assert next(r for r in section["robustness"] if r["arm"] == "local:cleaner")["value"] == 1.0
    auditability = next(r for r in section["auditability"] if r["arm"] == "local:cleaner")["value"]
    assert 0 < auditability < 1  # the justification names the removed duplicates, not the cell repairs
    overview = client.get("/api/v1/metrics/overview/").json()
    assert [r["arm"] for r in overview["results"]] == ["local:cleaner", "local:lazy"]
    drift = client.get(f"/api/v1/metrics/drift/{quote('local:lazy', safe='')}/").json()
    assert drift["overall"]["value"] > 0 and drift["results"][0]["run"] == run.pk
