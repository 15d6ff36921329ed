"""Django admin through its real login form (CSRF enforced, no force_login), and anonymous visitors.

Before: `/admin/login/` answered 500 to every anonymous visitor (OrganizationAdmin's
has_module_permission called `orgs_administered_by(user=AnonymousUser)` -> TypeError), so org admins
could not log in there; org admins needed the platform `is_staff` flag that `member_add` set.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.test import Client

from orgs.models import User

pytestmark = pytest.mark.django_db


def _admin_login(email: str, password: str) -> tuple[Client, object]:
    client = Client(enforce_csrf_checks=True)
    page = client.get("/admin/login/?next=/admin/")
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": email, "password": password, "csrfmiddlewaretoken": token, "next": "/admin/"},
    )
    return client, response


def test_admin_login_page_answers_anonymous_visitors():
    response = Client(enforce_csrf_checks=True).get("/admin/login/")
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_org_admin_logs_in_through_the_admin_form(org_world):
    admin_user = org_world.a.users["admin"]
    User.objects.filter(pk=admin_user.pk).update(is_staff=False)  # their role is what lets them in
    client, response = _admin_login("admin@org-a.test", "pw-admin")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"/admin/orgs/apikey/" in index.content
    assert not User.objects.get(pk=admin_user.pk).is_staff


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_members_without_admin_role_are_refused_with_a_message(org_world, who):
    client, response = _admin_login(f"{who}@org-a.test", f"pw-{who}")
    assert response.status_code == 200
    assert b"may not use the admin" in response.content
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_inactive_org_admin_is_refused_with_a_message(org_world):
    User.objects.filter(pk=org_world.a.users["owner"].pk).update(is_active=False)
    client, response = _admin_login("owner@org-a.test", "pw-owner")
    assert response.status_code == 200
    assert b'class="errornote"' in response.content
    assert "_auth_user_id" not in client.session


def _every_admin_url() -> list[str]:
    urls = ["/admin/", "/admin/password_change/"]
    for model in admin.site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        urls += [base, f"{base}add/", f"{base}1/change/", f"{base}1/history/", f"{base}1/delete/"]
    urls += [
        "/admin/autocomplete/?app_label=orgs&model_name=membership&field_name=org&term=org",
        "/admin/autocomplete/?app_label=experiments&model_name=experiment&field_name=dataset&term=a",
    ]
    return urls


def test_every_admin_url_asked_anonymously_redirects_to_login(org_world):
    client = Client(enforce_csrf_checks=True)
    urls = _every_admin_url()
    assert len(urls) > 40
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, (url, response.status_code)
        assert response["Location"].startswith("/admin/login/"), url


def test_inactive_staff_session_is_sent_to_login(client, org_world):
    """A session that outlived its account: Django logs it out; no hook may fail on it."""
    assert client.login(email="admin@org-a.test", password="pw-admin")
    User.objects.filter(email="admin@org-a.test").update(is_active=False)
    for url in ("/admin/", "/admin/orgs/apikey/", "/admin/orgs/organization/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
