"""Home KPI cards and first steps, the dataset cases page, the leaderboard page's charts and units."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from experiments.models import Attempt
from tests.dashboard.conftest import login
from tests.experiments.factories import jsonl, make_dataset

pytestmark = pytest.mark.django_db(transaction=True)


def test_home_shows_kpis_and_recent_runs(org_world, ended_run, client: Client):
    from django.core.cache import cache

    cache.clear()
    login(client, org_world.a)
    html = client.get("/").content.decode()
    attempts = Attempt.objects.filter(run=ended_run)
    ended = attempts.filter(status__in=["succeeded", "failed"])
    passed = ended.filter(passed=True).count() / ended.exclude(passed=None).count()
    cards = dict((label, value) for value, label in re.findall(
        r'<div class="value">([^<]*)</div><div class="label">([^<]*)</div>', html))
    assert cards["runs"] == "1" and cards["attempts answered or failed"] == str(ended.count())
    assert cards["pass rate"] == f"{passed * 100:.1f}%"
    assert cards["p95 latency"].endswith(" ms") and cards["spent"].startswith("$")
    assert f'href="/runs/{ended_run.pk}/"' in html
    # Another org sees none of it, and an empty org gets its first steps.
    other = login(Client(), org_world.b)
    other_html = other.get("/").content.decode()
    assert 'id="first-steps"' in other_html and f'href="/runs/{ended_run.pk}/"' not in other_html


def test_dataset_page_lists_searches_and_pages_cases_with_versions(org_world, client: Client):
    org = org_world.a.org
    from experiments.services import dataset_create

    rows = [{"id": f"q-{i}", "input": f"Capital number {i}?", "reference": "x", "tags": ["geo"]} for i in range(30)]
    v1, _ = dataset_create(org=org, name="caps", kind="qa", content=jsonl(rows), filename="c.jsonl")
    v2, _ = dataset_create(org=org, name="caps", kind="qa", content=jsonl(rows[:5]), filename="c.jsonl")
    login(client, org_world.a)
    html = client.get(f"/datasets/{v1.pk}/").content.decode()
    assert re.findall(r'data-case="([^"]+)"', html) == [f"q-{i}" for i in range(25)]
    assert f'href="/datasets/{v2.pk}/">v2</a>' in html
    assert re.findall(r'data-case="([^"]+)"', client.get(f"/datasets/{v1.pk}/?page=2").content.decode()) == [
        f"q-{i}" for i in range(25, 30)]
    found = client.get(f"/datasets/{v1.pk}/?q=number 17").content.decode()
    assert re.findall(r'data-case="([^"]+)"', found) == ["q-17"]
    assert "No case matches" in client.get(f"/datasets/{v1.pk}/?q=nothing-like-this").content.decode()
    # Another org's dataset is the 404 page.
    theirs = make_dataset(org_world.b.org, 2, name="theirs")
    response = client.get(f"/datasets/{theirs.pk}/")
    assert response.status_code == 404 and b'id="error-404"' in response.content


def test_leaderboard_page_draws_every_chart_with_units(org_world, ended_run, client: Client):
    login(client, org_world.a)
    html = client.get(f"/runs/{ended_run.pk}/leaderboard/").content.decode()
    charts = re.findall(r'<script id="chart-([a-z]+)-data" type="application/json">(.*?)</script>', html, re.S)
    names = [name for name, _ in charts]
    assert names == ["quality", "speed", "cost", "pairwise", "ratings", "frontier", "latency"]
    figures = {name: json.loads(body) for name, body in charts}
    assert figures["pairwise"]["data"][0]["type"] == "heatmap"
    assert {trace["name"] for trace in figures["frontier"]["data"]} == {"arms", "Pareto frontier"}
    assert {trace["name"] for trace in figures["latency"]["data"]} == {"mock:good", "mock:flaky"}
    assert 'id="ratings"' in html and f"/runs/{ended_run.pk}/compare/?a=" in html
    text = re.sub(r"<[^>]+>", " ", html)
    assert re.search(r"\d+\.\d%", text)  # pass rates in percent
    assert re.search(r"\$0\.0000\d+", text)  # tiny per-attempt costs keep their significant digits
    assert re.search(r"\d+ ms", text)


@pytest.mark.parametrize(("value", "shown"), [
    (None, "–"), (0, "$0"), (0.000002345678, "$0.000002346"), (0.0000021, "$0.000002100"),
    (0.1234, "$0.1234"), (1.5, "$1.50"), (1234.567, "$1,234.57"), ("0.00001234", "$0.00001234"),
])
def test_usd_keeps_significant_digits(value, shown):
    from experiments.templatetags.dashboard_format import usd

    assert usd(value) == shown


def test_two_costs_that_differ_never_print_alike():
    from experiments.templatetags.dashboard_format import usd

    assert usd(0.0000021) != usd(0.0000022) and usd(0.000123) != usd(0.000124)
