"""JWTs have their own key and audience and die with a password change or a removal from an org;
create_org checks passwords like every other place.

Before: tokens were signed and checked with SECRET_KEY (whose development default is public: a
token forged with it was accepted), carried no audience, and lived their full hour after a password
change or a removal; `create_org --admin-password 123` was accepted.
"""

from __future__ import annotations

import io
import time

import jwt
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from orgs.models import Membership, User
from orgs.services import member_add
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def _token(api_client, email: str, password: str, org: str) -> str:  # type: ignore[no-untyped-def]
    response = api_client.post("/api/v1/auth/token/", {"email": email, "password": password, "org": org}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["access"]


def _me_status(api_client, token: str) -> int:  # type: ignore[no-untyped-def]
    return bearer(api_client, token).get("/api/v1/me/").status_code


def test_token_forged_with_secret_key_is_refused(api_client, org_world):
    user = org_world.a.users["owner"]
    now = int(time.time())
    claims = {"sub": str(user.pk), "org": org_world.a.org.pk, "iat": now, "exp": now + 600}
    forged = jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256")
    assert _me_status(api_client, forged) == 401
    # Even with every claim a real token carries: SECRET_KEY is not the JWT key.
    forged = jwt.encode({**claims, "aud": "benchhub-api", "ver": user.token_version}, settings.SECRET_KEY)
    assert _me_status(api_client, forged) == 401


def test_token_carries_and_needs_our_audience(api_client, org_world):
    token = _token(api_client, "member@org-a.test", "pw-member", "org-a")
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "benchhub-api"
    assert _me_status(api_client, token) == 200
    claims = jwt.decode(token, options={"verify_signature": False})
    for wrong in ({k: v for k, v in claims.items() if k != "aud"}, {**claims, "aud": "another-service"}):
        assert _me_status(api_client, jwt.encode(wrong, settings.BENCHHUB_JWT_SIGNING_KEY)) == 401


def test_password_change_revokes_tokens(api_client, org_world):
    token = _token(api_client, "member@org-a.test", "pw-member", "org-a")
    assert _me_status(api_client, token) == 200
    user = User.objects.get(email="member@org-a.test")
    user.set_password("a-new-password-77")
    user.save(update_fields=["password"])
    assert _me_status(api_client, token) == 401
    assert _me_status(api_client, _token(api_client, "member@org-a.test", "a-new-password-77", "org-a")) == 200


def test_removal_from_an_org_revokes_tokens(api_client, client, org_world):
    """A person in two orgs is removed from B (in admin, by B's owner): their token for A dies too,
    so no token issued while they belonged to B outlives it."""
    member_add(org=org_world.b.org, email="member@org-a.test", role="member")
    token = _token(api_client, "member@org-a.test", "pw-member", "org-a")
    assert _me_status(api_client, token) == 200
    membership = Membership.objects.get(org=org_world.b.org, user__email="member@org-a.test")
    assert client.login(email="owner@org-b.test", password="pw-owner")
    response = client.post(f"/admin/orgs/membership/{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert _me_status(api_client, token) == 401


@pytest.mark.parametrize("password", ["123", "password", "acme"])
def test_create_org_runs_the_password_validators(password):
    with pytest.raises(CommandError, match="admin-password"):
        call_command(
            "create_org", "acme", "--admin-email", "boss@acme.test", "--admin-password", password,
            stdout=io.StringIO(), stderr=io.StringIO(),
        )
    assert not User.objects.filter(email="boss@acme.test").exists()
