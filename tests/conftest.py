"""Thin fixtures shared by every test module. Factories live beside the tests of their app."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.orgs.factories import OrgWorld, make_org_world


@pytest.fixture
def org_world(db) -> OrgWorld:  # type: ignore[no-untyped-def]
    """Two orgs, each with an owner, admin, member and viewer, and an API key per role."""
    return make_org_world()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def bearer(client: APIClient, key: str) -> APIClient:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client
