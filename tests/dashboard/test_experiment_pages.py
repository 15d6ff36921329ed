"""The experiment pages: the arm picker offers exactly what the allowlist × credentials permit,
the form's errors come back inline (never a 500), a valid form creates the experiment through the
service and Start run leads to the run page."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from experiments.models import Experiment, Run
from providers.services import credential_set, policy_set
from tests.dashboard.conftest import login
from tests.experiments.factories import make_dataset

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def org_a(org_world):  # type: ignore[no-untyped-def]
    """Org A may call: mock `a` and `b` by name; local models matching `qwen*` (credential set);
    openai `gpt-4o*` is on the allowlist but has no credential, so it is not offered."""
    org = org_world.a.org
    policy_set(org=org, rules=[
        {"provider": "mock", "models": ["a", "b"]},
        {"provider": "local", "models": ["qwen*"]},
        {"provider": "openai", "models": ["gpt-4o*"]},
    ])
    credential_set(org=org, provider="local", api_key=None, base_url="http://127.0.0.1:9/v1", name="local")
    return org


def _form(dataset_id: int, **changes) -> dict:  # type: ignore[no-untyped-def]
    data = {"name": "picker", "dataset": str(dataset_id), "arms": ["mock:a", "mock:b"], "scorers": ["contains"],
            "samples_per_case": "2", "seed": "7", "budget_usd": "", "concurrency": "4"}
    data.update(changes)
    return data


def test_the_picker_offers_exactly_what_allowlist_and_credentials_permit(org_world, org_a, client: Client):
    make_dataset(org_a, 3)
    make_dataset(org_world.b.org, 3, name="b-only")
    login(client, org_world.a)
    html = client.get("/experiments/new/").content.decode()
    assert re.findall(r'name="arms" value="([^"]+)"', html) == ["mock:a", "mock:b"]
    assert 'name="model-local"' in html and "qwen*" in html  # a pattern: a free-text model field
    assert "openai" not in html  # on the allowlist, but no credential
    assert "b-only" not in html  # another org's dataset is not offered
    for scorer in ("contains", "exact", "regex", "numeric", "json_schema"):
        assert f'name="scorers" value="{scorer}"' in html
    assert 'name="scorer-regex-pattern"' in html and 'name="scorer-numeric-tolerance"' in html


def test_a_valid_form_creates_the_experiment_with_per_arm_config(org_world, org_a, client: Client):
    dataset = make_dataset(org_a, 3)
    login(client, org_world.a)
    response = client.post("/experiments/new/", _form(
        dataset.pk, **{
            "config-mock:a-temperature": "0.2", "config-mock:a-max_tokens": "64", "config-mock:a-system": "Be brief.",
            "config-mock:b-more": '{"mock_response": "4", "stop": ["\\n"]}',
            "model-local": "qwen2.5-0.5b", "config-custom:local-timeout": "30",
            "scorers": ["contains", "numeric"], "scorer-numeric-tolerance": "0.5", "scorer-contains-case_sensitive": "on",
        }))
    experiment = Experiment.objects.get(org=org_a, name="picker")
    assert response.status_code == 302 and response["Location"] == f"/experiments/{experiment.pk}/"
    arms = {a.label: a.config for a in experiment.arms.all()}
    assert arms == {
        "mock:a": {"temperature": 0.2, "max_tokens": 64, "system": "Be brief."},
        "mock:b": {"mock_response": "4", "stop": ["\n"]},
        "local:qwen2.5-0.5b": {"timeout": 30.0},
    }
    assert experiment.scorers == [{"type": "contains", "case_sensitive": True},
                                  {"type": "numeric", "tolerance": 0.5, "relative": False}]
    assert (experiment.samples_per_case, experiment.seed, experiment.concurrency) == (2, 7, 4)

    # The experiment page starts a run and leads to it.
    page = client.get(f"/experiments/{experiment.pk}/")
    assert b'action="/experiments/%d/runs/"' % experiment.pk in page.content
    started = client.post(f"/experiments/{experiment.pk}/runs/")
    run = Run.objects.get(experiment=experiment)
    assert started.status_code == 302 and started["Location"] == f"/runs/{run.pk}/"


@pytest.mark.parametrize(("changes", "inline_error"), [
    ({"arms": []}, "Pick at least one arm."),
    ({"arms": ["openai:gpt-4o"]}, "Select a valid choice"),  # allowlisted, but no credential
    ({"arms": ["mock:c"]}, "Select a valid choice"),  # not on the allowlist
    ({"arms": [], "model-local": "llama3"}, "does not match the allowlist (qwen*)"),
    ({"config-mock:a-temperature": "hot"}, "temperature must be a number"),
    ({"config-mock:a-temperature": "7"}, "temperature must be between 0 and 2"),
    ({"config-mock:b-more": "{not json"}, "more settings are not valid JSON"),
    ({"config-mock:b-more": "[1, 2]"}, "more settings must be a JSON object"),
    ({"scorers": []}, "Pick at least one scorer"),
    ({"scorers": ["regex"]}, "regex: pattern is required"),
    ({"scorers": ["json_schema"], "scorer-json_schema-schema": "{"}, "json_schema: schema is not valid JSON"),
    ({"samples_per_case": "0"}, "greater than or equal to 1"),
    ({"budget_usd": "-1"}, "greater than or equal to 0"),
    ({"name": ""}, "This field is required."),
])
def test_bad_input_comes_back_inline_and_stores_nothing(org_world, org_a, client: Client, changes, inline_error):
    dataset = make_dataset(org_a, 3)
    login(client, org_world.a)
    response = client.post("/experiments/new/", _form(dataset.pk, **changes))
    assert response.status_code == 400
    assert inline_error in response.content.decode()
    assert not Experiment.objects.filter(org=org_a).exists()


def test_a_scorer_the_service_rejects_comes_back_inline(org_world, org_a, client: Client):
    """An invalid regex passes the form (it is text) and is refused by the service's scorer check."""
    dataset = make_dataset(org_a, 3)
    login(client, org_world.a)
    response = client.post("/experiments/new/", _form(dataset.pk, scorers=["regex"], **{"scorer-regex-pattern": "(["}))
    assert response.status_code == 400
    assert "invalid pattern" in response.content.decode()
    assert not Experiment.objects.filter(org=org_a).exists()


def test_another_orgs_dataset_cannot_be_posted(org_world, org_a, client: Client):
    theirs = make_dataset(org_world.b.org, 3, name="theirs")
    login(client, org_world.a)
    response = client.post("/experiments/new/", _form(theirs.pk))
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()


def test_empty_states_say_what_to_do(org_world, client: Client):
    login(client, org_world.a)
    assert "Create the first one" in client.get("/experiments/").content.decode()
    new = client.get("/experiments/new/").content.decode()
    assert "upload one" in new and 'id="no-arms"' in new  # no dataset, no allowlist yet
    assert "Start run" in client.get("/runs/").content.decode()
