"""Evaluator profiles (versions, freezing, platform credential), the command, admin, blinding, agreement."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from evaluation.agreement import calibration_report, cohen_kappa, drift_alarm, shadow_report
from evaluation.blinding import redactor_for
from evaluation.evaluator import ProfileInvalid, evaluator_profile_revise
from evaluation.judge import pairwise_outcome, parse_answer
from evaluation.models import EvaluatorProfile
from evaluation.rubrics import BUILTIN
from orgs.models import User
from providers import crypto
from providers.models import ProviderCredential
from tests.evaluation.judges import JUDGE_KEY, judge_profile

pytestmark = pytest.mark.django_db


def last_json(out: io.StringIO) -> dict:
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_create_evaluator_profile_command_makes_new_versions_with_a_platform_credential(org_world):
    out = io.StringIO()
    args = ["--name", "senior", "--provider", "openai", "--model", "gpt-4.1-mini", "--api-key", "sk-platform-abcd9876",
            "--rubric-version", "1", "--prompt-version", "1"]
    call_command("create_evaluator_profile", *args, stdout=out)
    first = last_json(out)
    call_command("create_evaluator_profile", *args, "--base-url", "https://judge.example/v1", stdout=out)
    second = last_json(out)
    assert (first["name"], first["version"], second["version"]) == ("senior", 1, 2)
    profile = EvaluatorProfile.objects.get(pk=second["id"])
    assert profile.sampling == {"temperature": 0.0, "seed": 0, "max_tokens": 400}
    # Encrypted like an org credential, and no org credential was created or used.
    assert profile.encrypted_api_key != "sk-platform-abcd9876"
    assert crypto.decrypt(profile.encrypted_api_key) == "sk-platform-abcd9876" and profile.api_key_last4 == "9876"
    assert not ProviderCredential.objects.exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--provider", "nope", "--model", "m"], "unknown provider"),
    (["--provider", "openai", "--model", "m"], "needs an api_key"),
    (["--provider", "local", "--model", "m"], "needs a base_url"),
    (["--provider", "mock", "--model", "m", "--rubric-version", "9"], "unknown rubric version '9'"),
    (["--provider", "mock", "--model", "m", "--prompt-version", "9"], "unknown prompt version '9'"),
])
def test_create_evaluator_profile_command_rejects_bad_flags(extra, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_evaluator_profile", "--name", "x", *extra, stdout=io.StringIO())


def test_a_used_profile_is_frozen_and_a_change_is_a_new_version(judge_server):
    profile = judge_profile(judge_server)
    changed = evaluator_profile_revise(profile=profile, model="gpt-4.1")  # unused: changed in place
    assert (changed.pk, changed.version, changed.model) == (profile.pk, 1, "gpt-4.1")
    from evaluation.sample import sample_evaluate

    sample_evaluate(input="q", output="a", profile=changed)
    changed.refresh_from_db()
    assert changed.is_frozen
    revised = evaluator_profile_revise(profile=changed, prompt_version="1", model="gpt-4.1-nano")
    assert revised.pk != changed.pk and revised.version == 2 and revised.model == "gpt-4.1-nano"
    assert crypto.decrypt(revised.encrypted_api_key) == JUDGE_KEY  # the platform key carried over
    changed.refresh_from_db()
    assert changed.model == "gpt-4.1"  # the used version never changes
    with pytest.raises(ProfileInvalid, match="unknown fields"):
        evaluator_profile_revise(profile=changed, name="other")


def test_evaluator_admin_is_platform_staff_only_and_saving_a_frozen_profile_makes_a_version(
    client, org_world, judge_server,
):
    profile = judge_profile(judge_server)
    EvaluatorProfile.objects.filter(pk=profile.pk).update(frozen_at="2026-01-01T00:00:00Z")
    assert client.login(email="admin@org-a.test", password="pw-admin")  # an org admin
    assert client.get("/admin/evaluation/evaluatorprofile/").status_code == 403
    assert client.get("/admin/experiments/attemptevaluation/").status_code == 403
    client.logout()
    User.objects.create_superuser(email="root@platform.test", password="pw")
    assert client.login(email="root@platform.test", password="pw")
    page = client.get(f"/admin/evaluation/evaluatorprofile/{profile.pk}/change/").content.decode()
    assert JUDGE_KEY not in page and "•••• " in client.get("/admin/evaluation/evaluatorprofile/").content.decode()
    response = client.post(f"/admin/evaluation/evaluatorprofile/{profile.pk}/change/", {
        "provider": "openai", "model": "gpt-4.1", "base_url": profile.base_url, "api_version": "", "api_key": "",
        "rubric_version": "1", "prompt_version": "1", "sampling": json.dumps(profile.sampling),
        "config": json.dumps(profile.config),
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    versions = list(EvaluatorProfile.objects.filter(name="judge").order_by("version").values_list("version", "model"))
    assert versions == [(1, "gpt-4.1-mini"), (2, "gpt-4.1")]
    bad = client.post("/admin/evaluation/evaluatorprofile/add/", {
        "name": "n", "provider": "openai", "model": "m", "base_url": "", "api_version": "", "api_key": "",
        "rubric_version": "1", "prompt_version": "1", "sampling": "{}", "config": "{}",
    })
    assert bad.status_code == 200 and "needs an api_key" in bad.content.decode()


def test_blinding_removes_arm_identities_and_self_naming():
    redact = redactor_for(arms=[
        {"provider": "anthropic", "model": "claude-3-5-haiku-latest", "label": "anthropic:claude-3-5-haiku-latest"},
        {"provider": "openrouter", "model": "meta-llama/llama-3.1-8b-instruct", "label": "openrouter:meta-llama/llama-3.1-8b-instruct#2"},
        {"provider": "local", "model": "my-finetune-v7", "label": "local:my-finetune-v7"},
    ])
    assert redact("As Claude, I think 42.") == "As the assistant, I think 42."
    assert redact("I'm Claude 3.5 Haiku, an AI assistant made by Anthropic.") == \
        "I'm the assistant, an AI assistant made by the vendor."
    assert redact("Served by llama-3.1-8b-instruct via OpenRouter") == "Served by the assistant via the vendor"
    assert redact("Output of my-finetune-v7 (local:my-finetune-v7)") == "Output of the assistant (the assistant)"
    assert redact("As an OpenAI model, GPT-4o says") == "As the vendor model, the assistant says"
    # Ordinary words that happen to be provider kinds stay.
    assert redact("Use a local variable; together they work.") == "Use a local variable; together they work."


def test_structured_answers_are_validated_and_pairs_need_both_orders():
    schema = {"type": "object", "properties": {"rationale": {"type": "string"}, "x": {"type": "integer", "enum": [1, 2]}},
              "required": ["rationale", "x"], "additionalProperties": False}
    assert parse_answer('```json\n{"rationale": "ok", "x": 2}\n```', schema) == ({"rationale": "ok", "x": 2}, "")
    assert parse_answer("no json here", schema) == (None, "the reply is not JSON")
    assert "3 is not one of [1, 2]" in parse_answer('{"rationale": "", "x": 3}', schema)[1]
    assert "'x' is a required property" in parse_answer('{"rationale": ""}', schema)[1]
    assert [pairwise_outcome(*p) for p in [("A", "B"), ("B", "A"), ("A", "A"), ("B", "B"), ("tie", "A"), ("", "A")]] \
        == [1.0, 0.0, 0.5, 0.5, 0.5, None]


def test_rubric_scores_derive_pass_from_the_overall_score():
    from evaluation.judge import RubricSpec

    criteria, threshold = BUILTIN["1"]["pr"]
    rubric = RubricSpec.from_data(version="1", kind="pr", criteria=criteria, pass_threshold=threshold)
    keys = [c.key for c in rubric.criteria]
    assert keys == ["technical_quality", "correctness_confidence", "change_risk"]
    assert rubric.score(dict.fromkeys(keys, 4)) == (dict.fromkeys(keys, 4), 0.75, True)
    assert rubric.score(dict.fromkeys(keys, 3))[1:] == (0.5, False)
    assert rubric.score(dict.fromkeys(keys, 1))[1:] == (0.0, False)


def test_agreement_statistics():
    assert cohen_kappa([True, True, False, False], [True, True, False, False]) == 1.0
    assert cohen_kappa([True, False, True, False], [False, True, False, True]) == -1.0
    assert cohen_kappa([True, True], [True, True]) is None  # undefined, not a made-up 1
    # sklearn.metrics.cohen_kappa_score([1,1,0,1,0,0,1,0], [1,0,0,1,0,1,1,0]) = 0.5
    assert cohen_kappa([True, True, False, True, False, False, True, False],
                       [True, False, False, True, False, True, True, False]) == pytest.approx(0.5)
    report = shadow_report([0.1, 0.5, 0.9, 0.7], [0.2, 0.4, 1.0, 0.6], [False, False, True, True],
                           [False, False, True, True])
    assert report == {"n": 4, "agreement": 1.0, "spearman": 1.0, "kendall": 1.0, "kappa": 1.0}
    calibration = calibration_report([True, True, False, False], [True, False, False, True])
    assert calibration["confusion"] == {"tp": 1, "fp": 1, "fn": 1, "tn": 1} and calibration["kappa"] == 0.0
    assert drift_alarm(recorded={"kappa": 0.6}, current={"kappa": 0.5}) is True
    assert drift_alarm(recorded={"kappa": 0.6}, current={"kappa": 0.58}) is False
