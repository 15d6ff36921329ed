"""Runs and their results are history: the admin neither fabricates nor erases them.

Before: POST /admin/experiments/dataset/add/ and /run/add/ answered 500 (every field read-only, add
allowed); deleting an experiment cascaded to its runs, attempts and boards with no trace; an
experiment's dataset, scorers and org stayed editable after it had runs.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from experiments.models import Attempt, AttemptStatus, Experiment, Run
from tests.experiments.factories import make_dataset, make_unstarted_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_a(client, org_world):  # type: ignore[no-untyped-def]
    assert client.login(email="admin@org-a.test", password="pw-admin")
    return client


def _with_results(run: Run) -> Run:
    attempt = run.attempts.first()
    Attempt.objects.filter(pk=attempt.pk).update(status=AttemptStatus.SUCCEEDED, output="2")
    return run


@pytest.mark.parametrize("model", ["dataset", "run"])
def test_no_add_in_admin_for_datasets_and_runs(admin_a, org_world, model):
    assert admin_a.get(f"/admin/experiments/{model}/add/").status_code == 403
    response = admin_a.post(f"/admin/experiments/{model}/add/", {"org": org_world.a.org.pk})
    assert response.status_code == 403
    assert f"/admin/experiments/{model}/add/" not in admin_a.get(f"/admin/experiments/{model}/").content.decode()


def test_experiment_with_results_cannot_be_deleted(admin_a, org_world):
    run = _with_results(make_unstarted_run(org_world.a.org))
    experiment = run.experiment
    url = f"/admin/experiments/experiment/{experiment.pk}/delete/"
    assert admin_a.get(url).status_code == 403
    assert admin_a.post(url, {"post": "yes"}).status_code == 403
    admin_a.post("/admin/experiments/experiment/", {
        "action": "delete_selected", ACTION_CHECKBOX_NAME: [experiment.pk], "post": "yes",
    })
    assert Experiment.objects.filter(pk=experiment.pk).exists()
    assert Attempt.objects.filter(run=run).count() == run.total


def test_run_with_results_cannot_be_deleted(admin_a, org_world):
    run = _with_results(make_unstarted_run(org_world.a.org))
    url = f"/admin/experiments/run/{run.pk}/delete/"
    assert admin_a.get(url).status_code == 403
    assert admin_a.post(url, {"post": "yes"}).status_code == 403
    admin_a.post("/admin/experiments/run/", {"action": "delete_selected", ACTION_CHECKBOX_NAME: [run.pk], "post": "yes"})
    assert Run.objects.filter(pk=run.pk).exists()


def test_run_without_results_can_still_be_deleted(admin_a, org_world):
    run = make_unstarted_run(org_world.a.org)
    response = admin_a.post(f"/admin/experiments/run/{run.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Run.objects.filter(pk=run.pk).exists()


def test_experiment_dataset_scorers_and_org_are_read_only_once_it_has_a_run(admin_a, org_world):
    run = make_unstarted_run(org_world.a.org)
    experiment = run.experiment
    other_dataset = make_dataset(org_world.a.org, 3, name="other")
    url = f"/admin/experiments/experiment/{experiment.pk}/change/"
    page = admin_a.get(url).content.decode()
    for field in ("dataset", "scorers", "org"):
        assert f'name="{field}"' not in page, field
    admin_a.post(url, {
        "org": org_world.a.org.pk, "name": "renamed", "dataset": other_dataset.pk, "scorers": '[{"type": "exact"}]',
        "samples_per_case": 1, "seed": 0, "concurrency": 4,
        "arms-TOTAL_FORMS": 0, "arms-INITIAL_FORMS": 0, "arms-MIN_NUM_FORMS": 0, "arms-MAX_NUM_FORMS": 1000,
    })
    experiment.refresh_from_db()
    assert experiment.dataset_id == run.experiment.dataset_id
    assert experiment.scorers == [{"type": "numeric"}]
