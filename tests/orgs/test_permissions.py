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


def _detail_routes_with_int_id() -> list[str]:
    """Every /api/v1/ route that takes an object id: each must hide other orgs' objects."""
    routes = []
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) != "api/v1/":
            continue
        for sub in pattern.url_patterns:
            route = str(sub.pattern)
            if "<int:" in route or "<uuid:" in route:
                routes.append(route)
    return routes


def test_other_orgs_objects_are_404_on_every_detail_route(api_client, org_world):
    from tests.orgs.isolation import other_org_object_urls

    urls = other_org_object_urls(org_world)
    covered = {route for route, _, _ in urls}
    assert set(_detail_routes_with_int_id()) <= covered, "a detail route has no isolation case"
    client = bearer(api_client, org_world.a.keys["owner"])
    for route, method, url in urls:
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code == 404, (route, url, response.status_code)
        assert response.json()["error"]["type"] == "not_found"
