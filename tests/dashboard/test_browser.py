"""A person does the whole job in a real browser (Debian's Chromium through Playwright): log in,
upload a dataset, create an experiment with two arms from the picker, start the run, watch it end
without reloading, read the leaderboard's charts, compare the two arms, open an attempt. The
harness (tests/dashboard/browser.py) fails the test on any console error, 5xx or off-host request.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.dashboard.browser import screenshot
from tests.orgs.factories import make_org

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

TERMINAL = re.compile(r"^(completed|completed_with_errors|failed|cancelled)$")
CAPITALS = [("France", "Paris"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Japan", "Tokyo"),
            ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Egypt", "Cairo"), ("Chile", "Santiago"),
            ("Norway", "Oslo"), ("Cuba", "Havana"), ("Iran", "Tehran"), ("Mali", "Bamako")]


def _dataset_file() -> bytes:
    # The question carries its answer, so the echoing arm is right and the guessing one is not.
    rows = [{"id": f"cap-{i}", "input": f"What is the capital of {country}? It is {city}.", "reference": city}
            for i, (country, city) in enumerate(CAPITALS)]
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


@pytest.fixture
def person(settings):  # type: ignore[no-untyped-def]
    """An org whose allowlist offers two mock models by name; runs execute in the server process
    in a background thread (the embedded default), so the page sees the run move."""
    from providers.services import policy_set

    settings.CELERY_TASK_ALWAYS_EAGER, settings.BENCHHUB_RUNS_INLINE = True, "thread"
    fixture = make_org("browser-org")
    policy_set(org=fixture.org, rules=[{"provider": "mock", "models": ["oracle", "guesser"]}])
    return fixture


def test_a_person_does_the_whole_job_in_the_browser(browser_page, person):  # type: ignore[no-untyped-def]
    page = browser_page

    # Log in through the form; an unauthorized page first sends the person there.
    page.goto("/experiments/")
    assert "/login/" in page.url
    page.fill("input[name=username]", "member@browser-org.test")
    page.fill("input[name=password]", "pw-member")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/experiments/$"))
    assert page.locator(".empty").first.is_visible()  # no experiments yet: the empty state says what to do

    # Upload a dataset through the upload form.
    page.goto("/datasets/")
    page.fill("input[name=name]", "capitals")
    page.select_option("select[name=kind]", "qa")
    page.set_input_files("input[name=file]", files=[
        {"name": "capitals.jsonl", "mimeType": "application/jsonl", "buffer": _dataset_file()}])
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_selector("text=Stored capitals v1 (12 rows)")

    # Create an experiment with two arms from the picker, each with its own settings.
    page.goto("/experiments/new/")
    assert page.locator("input[name=arms]").evaluate_all("els => els.map(e => e.value)") == [
        "mock:oracle", "mock:guesser"]  # exactly what the allowlist × credentials permit
    page.fill("input[name=name]", "capitals: oracle vs guesser")
    page.select_option("select[name=dataset]", label="capitals v1 · qa · 12 cases")
    for arm, more in (("mock:oracle", {"mock_latency_ms": 350, "mock_mode": "echo"}),
                      ("mock:guesser", {"mock_latency_ms": 250, "mock_failure_rate": 0.25, "max_retries": 0})):
        row = page.locator(f".arm-row[data-arm='{arm}']")
        row.locator("input[name=arms]").check()
        row.locator("summary").click()
        row.locator(f"input[name='config-{arm}-temperature']").fill("0")
        row.locator(f"textarea[name='config-{arm}-more']").fill(json.dumps(more))
    page.check("input[name=scorers][value=contains]")
    page.fill("input[name=concurrency]", "2")
    page.click("#experiment-form button[type=submit]")
    page.wait_for_url(re.compile(r"/experiments/\d+/$"))
    screenshot(page, "experiment-created")
    assert page.locator("text=mock:oracle").first.is_visible()

    # Start the run: the page it leads to updates itself until the run ends, without a reload.
    navigations: list[str] = []
    page.click("#start-run button[type=submit]")
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    run_url = page.url
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    first_status = page.get_attribute("[data-run-status]", "data-run-status")
    assert first_status in {"queued", "running"}, first_status
    page.wait_for_function(
        "() => /^(completed|completed_with_errors|failed|cancelled)$/"
        ".test(document.querySelector('[data-run-status]').dataset.runStatus)",
        timeout=60_000,
    )
    final_status = page.get_attribute("[data-run-status]", "data-run-status")
    assert final_status == "completed_with_errors"  # the guesser fails a quarter of its inputs
    assert navigations == [], navigations  # it changed in place
    page.wait_for_selector("#run-arms:not([hx-get])", timeout=15_000)  # the arm table caught up too
    assert page.locator("#retry-failed").is_visible()  # some failed: retry offered
    assert page.locator("#cancel-run").count() == 0  # ended: no cancel
    assert page.locator("#error-groups").get_by_text("mock:guesser").is_visible()
    screenshot(page, "run-ended")

    # The attempts table filters in place.
    page.select_option("#attempts select[name=status]", "failed")
    page.wait_for_function("() => [...document.querySelectorAll('#attempts tbody tr')].length > 0 && "
                           "[...document.querySelectorAll('#attempts tbody .status')].every(e => e.textContent === 'failed')")

    # The leaderboard draws its plotly charts (bundled plotly.js, no CDN).
    page.goto(run_url + "leaderboard/")
    page.wait_for_selector("#leaderboard .chart .main-svg")
    assert page.locator("#leaderboard .chart .main-svg").count() >= 2
    screenshot(page, "leaderboard")

    # Head to head of the two arms, from the leaderboard's form.
    page.select_option("#compare-arms select[name=a]", "mock:oracle")
    page.select_option("#compare-arms select[name=b]", "mock:guesser")
    page.click("#compare-arms button[type=submit]")
    page.wait_for_selector("#compare-summary")
    assert page.locator(".case-row").count() > 0
    page.click("nav.tabs a[data-filter=a_better]")
    page.wait_for_selector("nav.tabs a.active[data-filter=a_better]")
    assert page.locator(".case-row").count() > 0  # the oracle is right where the guesser is not
    screenshot(page, "compare")

    # One attempt: its case, its output, its timeline.
    page.locator(".case-row .compare-attempt a").first.click()
    page.wait_for_url(re.compile(r"/attempts/\d+/$"))
    assert page.locator("#case").get_by_text("What is the capital of").first.is_visible()
    assert page.locator("#timeline li.reached").count() >= 3
    screenshot(page, "attempt")
