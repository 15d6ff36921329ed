"""Django admin shows an org admin only their own orgs' objects; platform staff see all."""

from __future__ import annotations

import re

import pytest

from orgs.models import ApiKey, Membership, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_a(client, org_world):  # type: ignore[no-untyped-def]
    assert client.login(email="admin@org-a.test", password="pw-admin")
    return client


def test_org_admin_lists_only_own_org(admin_a, org_world):
    for url in ("/admin/orgs/apikey/", "/admin/orgs/membership/", "/admin/orgs/organization/"):
        html = admin_a.get(url).content.decode()
        assert "org-b" not in html and "ORG-B" not in html, url
    keys_html = admin_a.get("/admin/orgs/apikey/").content.decode()
    for key in ApiKey.objects.filter(org=org_world.a.org):
        assert key.prefix in keys_html
    for key in ApiKey.objects.filter(org=org_world.b.org):
        assert key.prefix not in keys_html


def test_org_admin_dropdowns_and_filters_are_scoped(admin_a, org_world):
    # Org admins add no memberships in admin (existing people are invited and accept themselves);
    # the key form's org dropdown is the scoped one they see.
    add_form = admin_a.get("/admin/orgs/apikey/add/").content.decode()
    org_select = re.search(r'<select name="org".*?</select>', add_form, re.S).group(0)
    assert f'value="{org_world.a.org.pk}"' in org_select
    assert f'value="{org_world.b.org.pk}"' not in org_select
    for user in User.objects.filter(memberships__org=org_world.b.org):
        assert user.email not in add_form
    filtered = admin_a.get("/admin/orgs/membership/").content.decode()
    assert f"org__id__exact={org_world.b.org.pk}" not in filtered


def test_org_admin_cannot_open_other_orgs_object(admin_a, org_world):
    other = Membership.objects.filter(org=org_world.b.org).first()
    response = admin_a.get(f"/admin/orgs/membership/{other.pk}/change/")
    assert response.status_code in (302, 404)
    if response.status_code == 302:
        assert response["Location"].startswith("/admin/")
        assert "change" not in response["Location"]


def test_org_admin_cannot_see_people_admin(admin_a):
    assert admin_a.get("/admin/orgs/user/").status_code == 403


def test_member_cannot_enter_admin(client, org_world):
    assert client.login(email="member@org-a.test", password="pw-member")
    assert client.get("/admin/orgs/apikey/").status_code == 302  # to the admin login page


def test_platform_staff_see_everything(client, org_world):
    User.objects.create_superuser(email="root@platform.test", password="pw")
    assert client.login(email="root@platform.test", password="pw")
    html = client.get("/admin/orgs/apikey/").content.decode()
    for key in ApiKey.objects.all():
        assert key.prefix in html


def test_admin_creates_key_and_sees_it_once(admin_a, org_world):
    response = admin_a.post(
        "/admin/orgs/apikey/add/", {"org": org_world.a.org.pk, "name": "from-admin", "role": "member"}, follow=True
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="from-admin")
    assert key.org == org_world.a.org
    messages = [str(m) for m in response.context["messages"]]
    assert any(key.prefix in m for m in messages)
    assert key.prefix in admin_a.get("/admin/orgs/apikey/").content.decode()
