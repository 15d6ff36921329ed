"""Who sees what: every dashboard page and HTMX fragment is org-scoped (another org's object is the
404 page), a logged-out person is sent to the login form, a role below the page's gets the 403
page, and an unexpected error renders the 500 page, never a traceback."""

from __future__ import annotations

import pytest
from django.test import Client

from experiments.models import Attempt, Run
from tests.dashboard.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def _pages(run: Run) -> list[tuple[str, str]]:
    attempt = Attempt.objects.filter(run=run).order_by("pk").first()
    e, r = run.experiment_id, run.pk
    return [
        ("get", f"/experiments/{e}/"),
        ("post", f"/experiments/{e}/runs/"),
        ("get", f"/runs/{r}/"),
        ("get", f"/runs/{r}/"),
        ("get", f"/runs/{r}/arms/"),
        ("get", f"/runs/{r}/attempts/"),
        ("post", f"/runs/{r}/cancel/"),
        ("post", f"/runs/{r}/retry-failed/"),
        ("get", f"/runs/{r}/leaderboard/"),
        ("get", f"/runs/{r}/compare/?a=mock:good&b=mock:flaky"),
        ("get", f"/runs/{r}/compare/"),
        ("get", f"/attempts/{attempt.pk}/"),
        ("get", f"/datasets/{run.experiment.dataset_id}/"),
    ]


def test_every_page_and_fragment_of_another_org_is_the_404_page(org_world, ended_run, client: Client):
    own = login(Client(), org_world.a)
    other = login(client, org_world.b, role="owner")
    for method, url in _pages(ended_run):
        for htmx in (False, True):
            headers = {"HX-Request": "true"} if htmx else {}
            response = getattr(other, method)(url, headers=headers)
            assert response.status_code == 404, (method, url, htmx, response.status_code)
            if not url.endswith("/leaderboard/"):  # the leaderboard page renders its own not-found state
                assert b'id="error-404"' in response.content, (method, url)
            assert b"two arms" not in response.content and b"mock:flaky" not in response.content, url
        if method == "get":  # the same URL serves its own org
            assert own.get(url, headers={"HX-Request": "true"}).status_code in (200, 302), url
    # Nothing of org B's doing reached org A's run.
    ended_run.refresh_from_db()
    assert ended_run.cancel_requested_at is None and ended_run.status == "completed_with_errors"
    assert Run.objects.filter(experiment_id=ended_run.experiment_id).count() == 1


def test_a_logged_out_person_is_sent_to_login(ended_run, client: Client):
    for method, url in [*_pages(ended_run), ("get", "/experiments/"), ("get", "/experiments/new/"), ("get", "/runs/")]:
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), (url, response)
    # A poll whose session ended sends the whole page to the login form, not the form into the fragment.
    response = client.get(f"/runs/{ended_run.pk}/", headers={
        "HX-Request": "true", "HX-Current-URL": f"http://testserver/runs/{ended_run.pk}/"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/login/?next=/runs/{ended_run.pk}/"


def test_a_viewer_reads_but_cannot_create_start_cancel_or_retry(org_world, ended_run, client: Client):
    viewer = login(client, org_world.a, role="viewer")
    assert viewer.get(f"/runs/{ended_run.pk}/").status_code == 200
    page = viewer.get(f"/experiments/{ended_run.experiment_id}/")
    assert page.status_code == 200 and b'id="start-run"' not in page.content
    for method, url in [("get", "/experiments/new/"), ("post", "/experiments/new/"),
                        ("post", f"/experiments/{ended_run.experiment_id}/runs/"),
                        ("post", f"/runs/{ended_run.pk}/cancel/"), ("post", f"/runs/{ended_run.pk}/retry-failed/")]:
        response = getattr(viewer, method)(url)
        assert response.status_code == 403, (url, response.status_code)
        assert b'id="error-403"' in response.content
    assert Run.objects.filter(experiment_id=ended_run.experiment_id).count() == 1


def test_a_person_without_an_org_gets_the_403_page(db, client: Client):
    from orgs.models import User

    client.force_login(User.objects.create_user("loner@nowhere.test", "pw"))
    response = client.get("/experiments/")
    assert response.status_code == 403 and b'id="error-403"' in response.content


def test_an_unknown_page_is_the_404_page(org_world, client: Client):
    login(client, org_world.a)
    for url in ("/no-such-page/", "/runs/999999/", "/attempts/999999/", "/experiments/999999/"):
        response = client.get(url)
        assert response.status_code == 404 and b'id="error-404"' in response.content, url
        assert b"Traceback" not in response.content


def test_an_unexpected_error_renders_the_500_page(org_world, client: Client, monkeypatch):
    from experiments import selectors

    def broken(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the database went away")

    monkeypatch.setattr(selectors, "experiment_list", broken)
    login(client, org_world.a)
    client.raise_request_exception = False
    response = client.get("/experiments/")
    assert response.status_code == 500
    assert b'id="error-500"' in response.content
    assert b"the database went away" not in response.content and b"Traceback" not in response.content


def test_the_favicon_is_served(client: Client):
    assert client.get("/favicon.ico")["Location"].endswith("/favicon.svg")
