"""Fixtures of the dashboard tests: a person logged in through the session, and a run that ended."""

from __future__ import annotations

import pytest
from django.test import Client

from experiments.models import Run
from experiments.services import run_start
from tests.experiments.factories import make_experiment, mock_arm, wait_for
from tests.orgs.factories import OrgWorld


def login(client: Client, world_org, role: str = "member") -> Client:  # type: ignore[no-untyped-def]
    client.force_login(world_org.users[role])
    return client


@pytest.fixture
def member_client(org_world: OrgWorld, client: Client) -> Client:
    return login(client, org_world.a)


@pytest.fixture
def ended_run(org_world: OrgWorld, settings) -> Run:  # type: ignore[no-untyped-def]
    """Org A's run of two mock arms on 6 cases, ended: `mock:good` answers right, `mock:flaky`
    fails on a share of the cases (error type `rate_limited`)."""
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "sync"
    experiment = make_experiment(
        org_world.a.org, cases=6, name="two arms",
        arms=[mock_arm("good", mock_mode="echo"),
              mock_arm("flaky", mock_failure_rate=0.5, mock_error_type="rate_limited", max_retries=0)],
    )
    return wait_for(run_start(experiment=experiment))
