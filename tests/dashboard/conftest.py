"""Fixtures of the dashboard tests: a person logged in through the session, and a run that ended."""

from __future__ import annotations

import pytest
from django.test import Client

from experiments.models import Run
from experiments.runs import run_start
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


@pytest.fixture
def live(transactional_db):  # type: ignore[no-untyped-def]
    """A live server on 127.0.0.1 (the harness treats any other host as off-host)."""
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer("127.0.0.1:0")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chromium():  # type: ignore[no-untyped-def]
    """One headless Chromium per browser test module (Debian's binary; Playwright downloads nothing).

    Playwright's sync API keeps an asyncio loop marked as running in this thread, so Django would
    refuse every ORM call of the test (SynchronousOnlyOperation) although nothing runs concurrently:
    the check is lifted for these modules only, while their browser is open.
    """
    from playwright.sync_api import sync_playwright

    from tests.dashboard.browser import CHROMIUM_ARGS, chromium_or_skip

    executable = chromium_or_skip()
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium, live, request):  # type: ignore[no-untyped-def]
    """A fresh browser context on the live server whose pages fail the test on console errors,
    page errors, 5xx answers and requests leaving 127.0.0.1; a screenshot of the last page is
    kept under var/screenshots/ whatever the outcome."""
    from tests.dashboard.browser import PageWatch, screenshot, watch

    record = PageWatch()
    context = chromium.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    watch(context, record)
    page = context.new_page()
    page.watch = record
    yield page
    print("the browser's last requests:\n" + "\n".join(record.traffic[-40:]))  # shown when the test fails
    try:
        screenshot(page, f"{request.node.name}-last", full_page=True)
    finally:
        context.close()
    problems = record.problems()
    assert not problems, "the browser saw:\n" + "\n".join(problems)
