from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from orgs.models import ApiKey, Membership, Organization
from orgs.services import api_key_authenticate

pytestmark = pytest.mark.django_db


def _run(*args: str) -> dict:
    out = io.StringIO()
    call_command("create_org", *args, stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_creates_org_admin_and_key():
    result = _run(
        "acme", "--name", "Acme", "--admin-email", "Boss@Acme.test", "--admin-password", "correct-horse-7", "--api-key"
    )
    assert result["org"] == "acme"
    assert result["admin"] == "boss@acme.test"
    key, role = api_key_authenticate(raw_key=result["api_key"])
    assert role == "admin" and key.role == "admin" and key.org.slug == "acme"
    membership = Membership.objects.get(org__slug="acme", user__email="boss@acme.test")
    assert membership.role == "admin"
    assert membership.user.check_password("correct-horse-7")
    # Org admins reach Django admin by their role; the platform flag stays off.
    assert not membership.user.is_staff


def test_reuses_existing_org_and_prints_nulls():
    _run("acme", "--admin-email", "boss@acme.test", "--admin-password", "correct-horse-7")
    result = _run("acme")
    assert result == {"org": "acme", "admin": None, "api_key": None}
    assert Organization.objects.filter(slug="acme").count() == 1
    assert ApiKey.objects.count() == 0


def test_admin_can_log_in_to_dashboard_and_admin(client):
    _run("acme", "--admin-email", "boss@acme.test", "--admin-password", "pw-boss-1234")
    response = client.post("/login/", {"username": "boss@acme.test", "password": "pw-boss-1234"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_rejects_bad_slug():
    with pytest.raises(CommandError):
        _run("Not A Slug")
