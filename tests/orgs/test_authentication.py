from __future__ import annotations

import pytest
from django.utils import timezone

from orgs.models import ApiKey
from orgs.services import api_key_create, api_key_revoke
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def _prefix(raw_key: str) -> str:
    head, public_id, _secret = raw_key.split("_", 2)
    return f"{head}_{public_id}"


def test_me_with_api_key(api_client, org_world):
    response = bearer(api_client, org_world.a.keys["viewer"]).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json() == {
        "user": None,
        "org": "org-a",
        "role": "viewer",
        "api_key": response.json()["api_key"],
    }
    assert response.json()["api_key"].startswith("bh_")


def test_key_is_stored_hashed_and_shown_once(org_world):
    key, plaintext = api_key_create(org=org_world.a.org, name="x")
    stored = ApiKey.objects.get(pk=key.pk)
    assert plaintext.split("_", 2)[2] not in stored.hashed_secret
    assert plaintext.startswith(stored.prefix + "_")
    assert len(stored.hashed_secret) == 64


def test_no_credentials_is_401_envelope(api_client, db):
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    body = response.json()
    assert body["error"]["type"] == "unauthenticated"
    assert body["error"]["request_id"] == response["X-Request-ID"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_wrong_key_is_401(api_client, org_world):
    key = org_world.a.keys["admin"]
    response = bearer(api_client, key[:-3] + "xyz").get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthenticated"


def test_revoked_key_is_401(api_client, org_world):
    key = ApiKey.objects.get(prefix=_prefix(org_world.a.keys["member"]))
    assert bearer(api_client, org_world.a.keys["member"]).get("/api/v1/me/").status_code == 200
    api_key_revoke(key=key)
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthenticated"


def test_last_used_is_recorded(api_client, org_world):
    raw = org_world.a.keys["member"]
    bearer(api_client, raw).get("/api/v1/me/")
    key = ApiKey.objects.get(prefix=_prefix(raw))
    assert key.last_used_at is not None and key.last_used_at <= timezone.now()


def test_jwt_login_and_use(api_client, org_world):
    response = api_client.post(
        "/api/v1/auth/token/", {"email": "member@org-a.test", "password": "pw-member", "org": "org-a"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["access"]
    me = bearer(api_client, token).get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["user"] == "member@org-a.test"
    assert me.json()["role"] == "member"


def test_jwt_for_an_org_you_are_not_in_is_refused(api_client, org_world):
    response = api_client.post(
        "/api/v1/auth/token/", {"email": "member@org-a.test", "password": "pw-member", "org": "org-b"}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthenticated"


def test_session_login_reaches_api(client, org_world):
    assert client.login(email="admin@org-b.test", password="pw-admin")
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["org"] == "org-b"
    assert response.json()["role"] == "admin"
