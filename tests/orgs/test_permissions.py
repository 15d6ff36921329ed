"""Roles and org isolation through the API."""

from __future__ import annotations

import pytest
from django.urls import get_resolver

from orgs.models import ApiKey, Membership
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def test_viewer_cannot_create(api_client, org_world):
    response = bearer(api_client, org_world.a.keys["viewer"]).post("/api/v1/api-keys/", {"name": "k"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_denied"


def test_member_cannot_manage_keys(api_client, org_world):
    response = bearer(api_client, org_world.a.keys["member"]).get("/api/v1/api-keys/")
    assert response.status_code == 403


def test_admin_creates_key_shown_once(api_client, org_world):
    client = bearer(api_client, org_world.a.keys["admin"])
    response = client.post("/api/v1/api-keys/", {"name": "ci", "role": "member"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["key"].startswith(body["prefix"] + "_")
    listed = client.get("/api/v1/api-keys/").json()["results"]
    assert all("key" not in row for row in listed)
    assert body["prefix"] in {row["prefix"] for row in listed}


def test_admin_cannot_mint_owner_key(api_client, org_world):
    response = bearer(api_client, org_world.a.keys["admin"]).post(
        "/api/v1/api-keys/", {"name": "x", "role": "owner"}, format="json"
    )
    assert response.status_code == 403


def test_lists_never_show_another_orgs_rows(api_client, org_world):
    client = bearer(api_client, org_world.a.keys["owner"])
    keys = client.get("/api/v1/api-keys/?page_size=500").json()
    members = client.get("/api/v1/members/?page_size=500").json()
    assert keys["count"] == ApiKey.objects.filter(org=org_world.a.org).count()
    assert {row["prefix"] for row in keys["results"]} == set(
        ApiKey.objects.filter(org=org_world.a.org).values_list("prefix", flat=True)
    )
    assert {row["email"] for row in members["results"]} == {f"{r}@org-a.test" for r in org_world.a.users}
    assert members["count"] == Membership.objects.filter(org=org_world.a.org).count()


def _api_v1_routes() -> list[str]:
    """Every route under /api/v1/, with the includes flattened."""

    def walk(patterns, prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
        routes: list[str] = []
        for entry in patterns:
            if hasattr(entry, "url_patterns"):
                routes += walk(entry.url_patterns, prefix + str(entry.pattern))
            else:
                routes.append(prefix + str(entry.pattern))
        return routes

    api = next(p for p in get_resolver().url_patterns if str(p.pattern) == "api/v1/")
    return walk(api.url_patterns, "")


def _detail_routes_with_int_id() -> list[str]:
    """Every /api/v1/ route that takes an object id: each must hide other orgs' objects."""
    return [route for route in _api_v1_routes() if "<int:" in route or "<uuid:" in route]


def test_other_orgs_objects_are_404_on_every_detail_route(api_client, org_world):
    from tests.orgs.isolation import other_org_object_urls

    urls = other_org_object_urls(org_world)
    covered = {route for route, _, _ in urls}
    detail_routes = set(_detail_routes_with_int_id())
    assert len(detail_routes) >= 15
    assert detail_routes <= covered, f"no isolation case for {detail_routes - covered}"
    client = bearer(api_client, org_world.a.keys["owner"])
    for route, method, url in urls:
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code == 404, (route, url, response.status_code)
        assert response.json()["error"]["type"] == "not_found"


def _list_routes() -> list[str]:
    """Every /api/v1/ route without parameters: each list among them must hide other orgs' rows."""
    return [route for route in _api_v1_routes() if "<" not in route]


def test_no_list_shows_another_orgs_rows(api_client, org_world):
    """Org B gets objects of every kind (the detail-route fixtures); org A has none but its own
    keys and members (checked above), so every other list org A reads must be empty."""
    from tests.orgs.isolation import other_org_object_urls

    other_org_object_urls(org_world)
    client = bearer(api_client, org_world.a.keys["owner"])
    lists_checked = 0
    for route in _list_routes():
        response = client.get(f"/api/v1/{route}")
        if response.status_code == 405 or "results" not in response.json():
            continue  # not a list (POST-only actions, me/, policy/)
        assert response.status_code == 200, route
        lists_checked += 1
        if route in {"api-keys/", "members/"}:
            continue
        assert response.json()["count"] == 0, (route, response.json())
    assert lists_checked >= 5
