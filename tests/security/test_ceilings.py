"""Platform maxima: arms per experiment and attempts per run refused with a clear message; call
timeouts and retry settings clamped whatever an org, an arm or a chat call asks for."""

from __future__ import annotations

import math

import pytest

from providers.interface import CompletionRequest
from providers.retry import retry_policy
from tests.conftest import bearer
from tests.experiments.factories import allow, make_dataset, make_experiment, mock_arm

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(api_client, org_world):  # type: ignore[no-untyped-def]
    allow(org_world.a.org, "mock")
    return bearer(api_client, org_world.a.keys["member"])


def test_more_arms_than_the_maximum_are_refused(member, org_world, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BENCHHUB_MAX_ARMS_PER_EXPERIMENT = 3
    dataset = make_dataset(org_world.a.org, 2)
    body = {"name": "e", "dataset": dataset.pk, "arms": [mock_arm(f"m{i}") for i in range(4)]}
    response = member.post("/api/v1/experiments/", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["type"] == "validation_error"
    assert "at most 3" in response.json()["error"]["message"]
    body["arms"] = body["arms"][:3]
    assert member.post("/api/v1/experiments/", body, format="json").status_code == 201


def test_an_experiment_whose_runs_would_exceed_the_attempt_maximum_is_refused(member, org_world, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BENCHHUB_MAX_ATTEMPTS_PER_RUN = 20
    dataset = make_dataset(org_world.a.org, 5)
    body = {"name": "e", "dataset": dataset.pk, "arms": [mock_arm("a"), mock_arm("b")], "samples_per_case": 3}
    response = member.post("/api/v1/experiments/", body, format="json")
    assert response.status_code == 400
    assert "30 attempts" in response.json()["error"]["message"] and "maximum is 20" in response.json()["error"]["message"]


def test_a_run_over_the_maximum_is_refused_before_anything_is_stored(member, org_world, settings) -> None:  # type: ignore[no-untyped-def]
    experiment = make_experiment(org_world.a.org, cases=5)  # 10 attempts
    settings.BENCHHUB_MAX_ATTEMPTS_PER_RUN = 9  # lowered by the operator since
    response = member.post(f"/api/v1/experiments/{experiment.pk}/runs/", format="json")
    assert response.status_code == 400
    assert "10 attempts" in response.json()["error"]["message"]
    assert not experiment.runs.exists()


def test_retry_settings_are_clamped_to_the_platform_maxima(settings) -> None:  # type: ignore[no-untyped-def]
    hostile = {"max_retries": 10**9, "base_delay_s": math.inf, "max_delay_s": 1e12, "deadline_s": 1e15}
    policy = retry_policy(org_retry=hostile, request=CompletionRequest(model="m", messages=()))
    assert policy.max_retries == settings.BENCHHUB_MAX_RETRIES
    assert policy.base_delay_s <= settings.BENCHHUB_MAX_RETRY_DELAY_S
    assert policy.max_delay_s == settings.BENCHHUB_MAX_RETRY_DELAY_S
    assert policy.deadline_s == settings.BENCHHUB_MAX_RETRY_DEADLINE_S
    arm = CompletionRequest(model="m", messages=(), max_retries=10**6,
                            extra={"retry_deadline_s": 1e9, "retry_max_delay_s": -5})
    policy = retry_policy(org_retry={}, request=arm)
    assert policy.max_retries == settings.BENCHHUB_MAX_RETRIES and policy.max_delay_s == 0.0
    assert policy.deadline_s == settings.BENCHHUB_MAX_RETRY_DEADLINE_S


def test_call_timeouts_are_clamped(settings) -> None:  # type: ignore[no-untyped-def]
    from providers.retry import call_timeout

    assert call_timeout(1e12, 60.0) == settings.BENCHHUB_MAX_CALL_TIMEOUT_S
    assert call_timeout(math.inf, 60.0) == settings.BENCHHUB_MAX_CALL_TIMEOUT_S
    assert call_timeout(None, 60.0) == 60.0 and call_timeout(5, 60.0) == 5.0


def test_a_chat_call_asking_for_a_year_long_timeout_is_clamped(member, settings) -> None:  # type: ignore[no-untyped-def]
    settings.BENCHHUB_MAX_CALL_TIMEOUT_S = 0.2
    response = member.post("/api/v1/chat/", {
        "provider": "mock", "model": "m", "messages": [{"role": "user", "content": "x"}],
        "config": {"timeout": 31_536_000, "mock_latency_ms": 2_000, "max_retries": 0, "cache": False},
    }, format="json")
    assert response.status_code == 502 and response.json()["error"]["details"]["type"] == "timeout"


def test_negative_or_non_numeric_knobs_are_refused(member) -> None:  # type: ignore[no-untyped-def]
    for config in ({"timeout": -1}, {"max_retries": "many"}, {"retry_deadline_s": "x"}):
        response = member.post("/api/v1/chat/", {"provider": "mock", "model": "m",
                                                 "messages": [{"role": "user", "content": "x"}], "config": config},
                               format="json")
        assert response.status_code == 400, config
