"""The run page and its fragments, the attempt page and the compare page, through the Django client."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from experiments.models import Attempt, AttemptStatus, Run
from experiments.runs import run_start
from tests.dashboard.conftest import login
from tests.experiments.factories import make_experiment, mock_arm, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
HX = {"HX-Request": "true"}


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_an_ended_run_stops_polling_and_offers_retry_of_its_failures(org_world, ended_run, client: Client):
    login(client, org_world.a)
    counts = {s: Attempt.objects.filter(run=ended_run, status=s).count() for s in AttemptStatus.values}
    progress = client.get(f"/runs/{ended_run.pk}/", headers=HX)
    html = progress.content.decode()
    assert 'data-run-status="completed_with_errors"' in html
    assert "hx-trigger" not in html  # ended: the fragment no longer polls
    assert 'id="retry-failed"' in html and 'id="cancel-run"' not in html
    assert f"{counts['succeeded']} succeeded · {counts['failed']} failed" in _text(progress)

    arms = client.get(f"/runs/{ended_run.pk}/arms/", headers=HX).content.decode()
    assert "hx-trigger" not in arms
    # Errors grouped by type and arm, linking to exactly those attempts.
    link = f"/runs/{ended_run.pk}/?arm=mock%3Aflaky&status=failed&error=rate_limited#attempts"
    assert link in arms
    table = client.get(f"/runs/{ended_run.pk}/attempts/?arm=mock:flaky&status=failed&error=rate_limited", headers=HX)
    ids = {int(i) for i in re.findall(r'href="/attempts/(\d+)/"', table.content.decode())}
    assert ids == set(Attempt.objects.filter(run=ended_run, status="failed").values_list("pk", flat=True))

    # Retry failed queues them again (the mock fails the same inputs again: deterministic per input).
    response = client.post(f"/runs/{ended_run.pk}/retry-failed/")
    assert response.status_code == 302
    run = wait_for(Run.objects.get(pk=ended_run.pk))
    assert run.status == "completed_with_errors" and run.failed == counts["failed"]


def test_a_live_run_polls_and_offers_cancel_only(org_world, client: Client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "thread"
    experiment = make_experiment(org_world.a.org, cases=20, concurrency=1,
                                 arms=[mock_arm("slow", mock_latency_ms=100)])
    run = run_start(experiment=experiment)
    login(client, org_world.a)
    html = client.get(f"/runs/{run.pk}/").content.decode()
    assert f'hx-get="/runs/{run.pk}/" hx-trigger="every 2s"' in html
    assert f'hx-get="/runs/{run.pk}/arms/" hx-trigger="every 5s"' in html
    assert 'id="cancel-run"' in html and 'id="retry-failed"' not in html

    # Cancelled mid-way: the page says how many were cancelled, not "20 of 20 ended".
    wait_for(run, until=lambda r: r.done >= 2)
    assert client.post(f"/runs/{run.pk}/cancel/").status_code == 302
    run = wait_for(run)
    assert run.status == "cancelled"
    counts = {s: Attempt.objects.filter(run=run, status=s).count() for s in AttemptStatus.values}
    assert counts["cancelled"] > 0
    text = _text(client.get(f"/runs/{run.pk}/", headers=HX))
    assert f"{counts['succeeded']} succeeded · {counts['failed']} failed · {counts['cancelled']} cancelled" in text
    assert "attempts ended ·" not in text  # the live wording, which would hide the cancelled ones
    html = client.get(f"/runs/{run.pk}/", headers=HX).content.decode()
    assert 'id="cancel-run"' not in html and 'id="retry-failed"' not in html


def test_attempts_table_filters_by_arm_status_and_case_and_pages(org_world, client: Client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "sync"
    settings.BENCHHUB_RUN_CHUNK_SIZE = 500
    experiment = make_experiment(org_world.a.org, cases=30, arms=[mock_arm("a"), mock_arm("b")])
    run = wait_for(run_start(experiment=experiment))
    login(client, org_world.a)

    def ids(query: str) -> list[int]:
        html = client.get(f"/runs/{run.pk}/attempts/?{query}", headers=HX).content.decode()
        return [int(i) for i in re.findall(r'href="/attempts/(\d+)/"', html)]

    first, second = ids(""), ids("page=2")
    assert len(first) == 50 and len(second) == 10 and not set(first) & set(second)
    assert set(ids("arm=mock:a")) == set(Attempt.objects.filter(run=run, arm__label="mock:a").values_list("pk", flat=True))
    assert set(ids("case=case-3")) == set(
        Attempt.objects.filter(run=run, task_instance__case__case_id="case-3").values_list("pk", flat=True))
    assert ids("status=failed") == []
    assert "No attempts match these filters" in client.get(
        f"/runs/{run.pk}/attempts/?status=failed", headers=HX).content.decode()
    # Without JavaScript the filter form leads to the run page with the same filters.
    plain = client.get(f"/runs/{run.pk}/attempts/?arm=mock:a&page=2")
    assert plain.status_code == 302 and plain["Location"] == f"/runs/{run.pk}/?arm=mock%3Aa&page=2#attempts"


def test_the_attempt_page_shows_case_output_patch_validation_scores_and_timeline(org_world, ended_run, client: Client):
    attempt = Attempt.objects.filter(run=ended_run, arm__label="mock:good").order_by("pk").first()
    Attempt.objects.filter(pk=attempt.pk).update(
        patch="--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-old = 1\n+new = 2\n",
        validation={"passed": False, "steps": [
            {"name": "apply", "status": "passed", "exit_code": 0, "duration_ms": 12, "log": "applied"},
            {"name": "test", "status": "error", "exit_code": None, "duration_ms": 5000, "log": "killed",
             "reason": "timeout"}]},
    )
    login(client, org_world.a)
    html = client.get(f"/attempts/{attempt.pk}/").content.decode()
    case = attempt.task_instance.case
    assert case.payload["input"] in html and str(case.payload["reference"]) in html
    assert '<span class="diff-add">+new = 2</span>' in html and '<span class="diff-del">-old = 1</span>' in html
    assert "killed" in html and "timeout" in html  # each validation step with its log and why it stopped
    assert "numeric" in html  # its scorer, with details
    assert html.count('class="reached"') == 4  # queued, started, responded, scored (no validation stamp)
    failed = Attempt.objects.filter(run=ended_run, status="failed").first()
    text = _text(client.get(f"/attempts/{failed.pk}/"))
    assert "rate_limited" in text and "counts as 0 on the boards" in text


def test_compare_page_summary_and_case_filters(org_world, ended_run, client: Client):
    from leaderboards.selectors import run_compare_get

    login(client, org_world.a)
    expected = run_compare_get(org=org_world.a.org, run_id=ended_run.pk, a="mock:good", b="mock:flaky")
    response = client.get(f"/runs/{ended_run.pk}/compare/?a=mock:good&b=mock:flaky")
    text = _text(response)
    assert response.status_code == 200
    assert f"{expected['wins']} A better (wins)" in text and f"{expected['losses']} B better (losses)" in text
    all_rows = re.findall(r'data-case="([^"]+)"', response.content.decode())
    assert sorted(all_rows) == sorted(row["case"] for row in expected["cases"])
    for show, outcome in (("a_better", "win"), ("b_better", "loss")):
        html = client.get(f"/runs/{ended_run.pk}/compare/?a=mock:good&b=mock:flaky&show={show}").content.decode()
        assert sorted(re.findall(r'data-case="([^"]+)"', html)) == sorted(
            row["case"] for row in expected["cases"] if row["outcome"] == outcome)
    both = client.get(f"/runs/{ended_run.pk}/compare/?a=mock:good&b=mock:flaky&show=both_failed").content.decode()
    assert sorted(re.findall(r'data-case="([^"]+)"', both)) == sorted(
        row["case"] for row in expected["cases"] if row["a"] == 0 and row["b"] == 0)
    # Bad choices are a clear answer, never a 500.
    assert client.get(f"/runs/{ended_run.pk}/compare/?a=mock:good&b=mock:good").status_code == 400
    bad = client.get(f"/runs/{ended_run.pk}/compare/?a=mock:good&b=mock:nope")
    assert bad.status_code == 400 and "mock:nope" in bad.content.decode()
