"""`run_experiment`, `ingest_pr_dataset`, `build_cleaning_dataset` and the demo's run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from experiments.models import Dataset, Run
from tests.experiments.factories import allow, jsonl, make_dataset, qa_rows

pytestmark = pytest.mark.django_db(transaction=True)


def last_json(out: io.StringIO) -> dict:
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_run_experiment_from_yaml_with_a_dataset_file(tmp_path: Path, org_world, settings):
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "thread"
    allow(org_world.a.org, "mock")
    (tmp_path / "qa.jsonl").write_bytes(jsonl(qa_rows(5)))
    (tmp_path / "exp.yaml").write_text(
        "name: from-yaml\n"
        "dataset_file: qa.jsonl\n"
        "dataset_kind: qa\n"
        "arms:\n"
        "  - {provider: mock, model: a, config: {mock_response: '3'}}\n"
        "  - {provider: mock, model: b}\n"
        "scorers: [{type: numeric}]\n"
        "samples_per_case: 2\n"
        "concurrency: 4\n"
    )
    out = io.StringIO()
    call_command("run_experiment", str(tmp_path / "exp.yaml"), "--org", org_world.a.org.slug, "--wait", stdout=out)
    result = last_json(out)
    assert result["status"] == "completed"
    assert result["progress"] == {"total": 20, "done": 20, "failed": 0, "running": 0}
    assert result["html_url"] == f"/runs/{result['id']}/"
    assert Dataset.objects.get(org=org_world.a.org).name == "qa"


def test_run_experiment_from_json_with_a_dataset_id(tmp_path: Path, org_world, settings):
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "sync"
    allow(org_world.a.org, "mock")
    dataset = make_dataset(org_world.a.org, 3)
    spec = {"name": "j", "dataset": dataset.pk, "arms": [{"provider": "mock", "model": "a"}], "budget_usd": 1}
    (tmp_path / "exp.json").write_text(json.dumps(spec))
    out = io.StringIO()
    call_command("run_experiment", str(tmp_path / "exp.json"), "--org", org_world.a.org.slug, stdout=out)
    assert last_json(out)["status"] == "completed"
    assert Run.objects.get(pk=last_json(out)["id"]).experiment.budget_usd == 1


def test_run_experiment_reports_bad_input(tmp_path: Path, org_world):
    (tmp_path / "exp.json").write_text(json.dumps({"name": "x", "arms": []}))
    with pytest.raises(CommandError, match="dataset"):
        call_command("run_experiment", str(tmp_path / "exp.json"), "--org", org_world.a.org.slug)
    with pytest.raises(CommandError, match="no org"):
        call_command("run_experiment", str(tmp_path / "exp.json"), "--org", "nope")
    dataset = make_dataset(org_world.a.org, 1)
    (tmp_path / "denied.json").write_text(json.dumps({"dataset": dataset.pk, "arms": [{"provider": "openai", "model": "x"}]}))
    with pytest.raises(CommandError, match="policy_denied"):
        call_command("run_experiment", str(tmp_path / "denied.json"), "--org", org_world.a.org.slug)


def test_build_cleaning_dataset_command(tmp_path: Path, org_world):
    (tmp_path / "clean.csv").write_text("a,b\n" + "\n".join(f"{i},{i * 2}" for i in range(30)) + "\n")
    out = io.StringIO()
    call_command("build_cleaning_dataset", "--org", org_world.a.org.slug, "--clean", str(tmp_path / "clean.csv"),
                 "--name", "nums", "--seed", "5", "--rows-per-case", "10", stdout=out)
    assert last_json(out)["rows"] == 3


def test_demo_seeds_a_finished_run_and_prints_its_url(settings):
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "thread"
    out = io.StringIO()
    call_command("demo", "--no-serve", "--local-model", "off", stdout=out)
    result = last_json(out)
    run = Run.objects.get(org__slug=result["org"])
    assert result["run_url"] == f"http://127.0.0.1:8000/runs/{run.pk}/"
    assert run.status == "completed" and run.done == run.total == 24 * 3 * 2
    assert "Demo run:" in out.getvalue()
    # Again: the same dataset version (same checksum), a new run.
    call_command("demo", "--no-serve", "--local-model", "off", stdout=io.StringIO())
    assert Dataset.objects.filter(org__slug="demo").count() == 1
    assert Run.objects.filter(org__slug="demo").count() == 2


@pytest.mark.local_llm
def test_demo_adds_the_real_local_model_as_a_fourth_arm(settings):
    from experiments.models import Attempt
    from tests.providers.llama_server import require_local_llm

    require_local_llm()
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "thread"
    out = io.StringIO()
    call_command("demo", "--no-serve", "--local-model", "on", stdout=out)
    result = last_json(out)
    assert result["arms"] == ["mock:echo", "mock:paris", "mock:words", "local:gemma"]
    run = Run.objects.get(org__slug=result["org"])
    assert run.status == "completed" and run.done == run.total == 24 * 4 * 2
    local = Attempt.objects.filter(run=run, arm__provider="local")
    # Every call reached the model and came back with its own words and token counts.
    assert local.count() == 48 and all(a.status == "succeeded" and a.output_tokens > 0 for a in local)
    assert len({a.output for a in local}) > 1
