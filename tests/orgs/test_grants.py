"""Access that outlives or outranks its grant.

Before: an API key kept working (with its full role) after its creator was removed from the org or
deactivated; an admin could demote an owner, raise their own membership to owner, or mint an owner
key in Django admin; the last owner could be removed; POST members/ pulled any existing person into
the org without their consent, set their platform `is_staff` flag and could switch their current
org; the org a person chose was forgotten at logout.
"""

from __future__ import annotations

import pytest

from orgs.models import ApiKey, Membership, Organization, Role, User
from orgs.services import api_key_create, member_add
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def _key_of(org_world, email: str, role: str) -> str:  # type: ignore[no-untyped-def]
    user = User.objects.get(email=email)
    _, raw = api_key_create(org=org_world.a.org, name=f"{email} key", role=role, created_by=user)
    return raw


def _logged_in(client, email: str, password: str):  # type: ignore[no-untyped-def]
    assert client.login(email=email, password=password)
    return client


# --- keys live only as long as their creator's membership --------------------------------------

def test_key_dies_when_its_creator_is_removed_from_the_org(api_client, client, org_world):
    raw = _key_of(org_world, "admin@org-a.test", Role.ADMIN)
    assert bearer(api_client, raw).get("/api/v1/me/").status_code == 200
    membership = Membership.objects.get(org=org_world.a.org, user__email="admin@org-a.test")
    owner = _logged_in(client, "owner@org-a.test", "pw-owner")
    assert owner.post(f"/admin/orgs/membership/{membership.pk}/delete/", {"post": "yes"}).status_code == 302
    response = bearer(api_client, raw).get("/api/v1/me/")
    assert response.status_code == 401
    assert ApiKey.objects.get(prefix="_".join(raw.split("_", 2)[:2])).revoked_at is not None


def test_key_removed_through_the_api_dies_too(api_client, org_world):
    raw = _key_of(org_world, "member@org-a.test", Role.MEMBER)
    membership = Membership.objects.get(org=org_world.a.org, user__email="member@org-a.test")
    response = bearer(api_client, org_world.a.keys["admin"]).delete(f"/api/v1/members/{membership.pk}/")
    assert response.status_code == 204
    api_client.credentials()
    assert bearer(api_client, raw).get("/api/v1/me/").status_code == 401


def test_key_dies_when_its_creator_is_deactivated(api_client, org_world):
    raw = _key_of(org_world, "admin@org-a.test", Role.ADMIN)
    User.objects.filter(email="admin@org-a.test").update(is_active=False)
    assert bearer(api_client, raw).get("/api/v1/me/").status_code == 401


def test_deactivating_a_person_in_admin_revokes_their_keys(api_client, client, org_world):
    raw = _key_of(org_world, "admin@org-a.test", Role.ADMIN)
    person = User.objects.get(email="admin@org-a.test")
    User.objects.create_superuser(email="root@platform.test", password="pw-root-12345")
    root = _logged_in(client, "root@platform.test", "pw-root-12345")
    response = root.post(f"/admin/orgs/user/{person.pk}/change/", {
        "email": person.email, "first_name": "", "last_name": "", "is_staff": "", "is_superuser": "",
        # is_active left out: the box unticked.
        "date_joined_0": person.date_joined.strftime("%Y-%m-%d"), "date_joined_1": "00:00:00",
        "last_login_0": "", "last_login_1": "",
    })
    assert response.status_code == 302, response.content
    assert not User.objects.get(pk=person.pk).is_active
    key = ApiKey.objects.get(prefix="_".join(raw.split("_", 2)[:2]))
    assert key.revoked_at is not None
    assert bearer(api_client, raw).get("/api/v1/me/").status_code == 401


def test_key_role_is_capped_at_its_creators_current_role(api_client, client, org_world):
    raw = _key_of(org_world, "admin@org-a.test", Role.ADMIN)
    membership = Membership.objects.get(org=org_world.a.org, user__email="admin@org-a.test")
    owner = _logged_in(client, "owner@org-a.test", "pw-owner")
    response = owner.post(f"/admin/orgs/membership/{membership.pk}/change/", {"role": Role.MEMBER})
    assert response.status_code == 302
    me = bearer(api_client, raw).get("/api/v1/me/")
    assert me.status_code == 200 and me.json()["role"] == "member"
    assert bearer(api_client, raw).get("/api/v1/api-keys/").status_code == 403


# --- nobody grants or changes a role above their own; the last owner stays ----------------------

def test_admin_cannot_demote_an_owner(api_client, client, org_world):
    owner_membership = Membership.objects.get(org=org_world.a.org, user__email="owner@org-a.test")
    admin = _logged_in(client, "admin@org-a.test", "pw-admin")
    response = admin.post(f"/admin/orgs/membership/{owner_membership.pk}/change/", {"role": Role.MEMBER})
    assert response.status_code == 200 and b"above your own" in response.content
    api = bearer(api_client, org_world.a.keys["admin"])
    assert api.patch(f"/api/v1/members/{owner_membership.pk}/", {"role": "member"}, format="json").status_code == 403
    assert api.delete(f"/api/v1/members/{owner_membership.pk}/").status_code == 403
    assert Membership.objects.get(pk=owner_membership.pk).role == Role.OWNER


def test_admin_cannot_raise_their_own_membership_to_owner(client, org_world):
    mine = Membership.objects.get(org=org_world.a.org, user__email="admin@org-a.test")
    admin = _logged_in(client, "admin@org-a.test", "pw-admin")
    response = admin.post(f"/admin/orgs/membership/{mine.pk}/change/", {"role": Role.OWNER})
    assert response.status_code == 200 and b"above your own" in response.content
    assert Membership.objects.get(pk=mine.pk).role == Role.ADMIN


def test_admin_cannot_mint_an_owner_key_in_admin(client, org_world):
    admin = _logged_in(client, "admin@org-a.test", "pw-admin")
    response = admin.post("/admin/orgs/apikey/add/", {"org": org_world.a.org.pk, "name": "mine", "role": Role.OWNER})
    assert response.status_code == 200 and b"above your own" in response.content
    assert not ApiKey.objects.filter(name="mine").exists()


def test_the_last_owner_cannot_be_removed_or_demoted(api_client, client, org_world):
    owner_membership = Membership.objects.get(org=org_world.a.org, user__email="owner@org-a.test")
    api = bearer(api_client, org_world.a.keys["owner"])
    demote = api.patch(f"/api/v1/members/{owner_membership.pk}/", {"role": "admin"}, format="json")
    assert demote.status_code == 403 and "last owner" in demote.json()["error"]["message"]
    assert api.delete(f"/api/v1/members/{owner_membership.pk}/").status_code == 403
    owner = _logged_in(client, "owner@org-a.test", "pw-owner")
    page = owner.get(f"/admin/orgs/membership/{owner_membership.pk}/delete/")
    assert page.status_code == 403
    assert Membership.objects.get(pk=owner_membership.pk).role == Role.OWNER
    # With a second owner, either may step down.
    second = Membership.objects.get(org=org_world.a.org, user__email="admin@org-a.test")
    assert api.patch(f"/api/v1/members/{second.pk}/", {"role": "owner"}, format="json").status_code == 200
    assert api.patch(f"/api/v1/members/{owner_membership.pk}/", {"role": "admin"}, format="json").status_code == 200


# --- existing people are invited, never pulled in ----------------------------------------------

def test_adding_an_existing_person_is_an_invitation_they_accept(api_client, client, org_world):
    from orgs.models import Invitation

    outsider = User.objects.get(email="member@org-b.test")
    response = bearer(api_client, org_world.a.keys["admin"]).post(
        "/api/v1/members/", {"email": "member@org-b.test", "role": "admin"}, format="json"
    )
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    assert not Membership.objects.filter(org=org_world.a.org, user=outsider).exists()
    assert not User.objects.get(pk=outsider.pk).is_staff

    person = _logged_in(client, "member@org-b.test", "pw-member")
    assert person.get("/").context["org_context"].org == org_world.b.org
    invitations = person.get("/api/v1/invitations/").json()["results"]
    assert [(i["org"], i["role"]) for i in invitations] == [("org-a", "admin")]
    accepted = person.post(f"/api/v1/invitations/{invitations[0]['id']}/accept/")
    assert accepted.status_code == 200
    assert Membership.objects.get(org=org_world.a.org, user=outsider).role == Role.ADMIN
    assert not User.objects.get(pk=outsider.pk).is_staff  # org roles never touch platform flags
    assert person.get("/").context["org_context"].org == org_world.b.org  # no silent switch
    assert Invitation.objects.get(pk=invitations[0]["id"]).accepted_at is not None


def test_declined_invitation_adds_nobody(api_client, client, org_world):
    from orgs.models import Invitation

    bearer(api_client, org_world.a.keys["admin"]).post(
        "/api/v1/members/", {"email": "viewer@org-b.test", "role": "member"}, format="json"
    )
    person = _logged_in(client, "viewer@org-b.test", "pw-viewer")
    invitation = Invitation.objects.get(user__email="viewer@org-b.test")
    response = person.post(f"/invitations/{invitation.pk}/", {"answer": "decline"})
    assert response.status_code == 302
    assert not Membership.objects.filter(org=org_world.a.org, user__email="viewer@org-b.test").exists()


def test_another_persons_invitation_cannot_be_accepted(api_client, client, org_world):
    from orgs.models import Invitation

    bearer(api_client, org_world.a.keys["admin"]).post(
        "/api/v1/members/", {"email": "viewer@org-b.test", "role": "member"}, format="json"
    )
    invitation = Invitation.objects.get(user__email="viewer@org-b.test")
    other = _logged_in(client, "member@org-b.test", "pw-member")
    assert other.post(f"/api/v1/invitations/{invitation.pk}/accept/").status_code == 404
    assert not Membership.objects.filter(org=org_world.a.org, user__email__endswith="@org-b.test").exists()


def test_org_roles_never_set_platform_flags(org_world):
    for fixture in (org_world.a, org_world.b):
        for user in fixture.users.values():
            user.refresh_from_db()
            assert not user.is_staff and not user.is_superuser


# --- the org a person chose is remembered ------------------------------------------------------

def test_chosen_org_is_remembered_across_logins(client, org_world):
    member_add(org=org_world.b.org, email="member@org-a.test", role="viewer")
    person = _logged_in(client, "member@org-a.test", "pw-member")
    assert person.get("/").context["org_context"].org == org_world.a.org
    person.post("/org/switch/", {"org": "org-b"})
    assert person.get("/").context["org_context"].org == org_world.b.org
    person.post("/logout/")
    person = _logged_in(client, "member@org-a.test", "pw-member")
    assert person.get("/").context["org_context"].org == org_world.b.org


def test_joining_an_org_never_switches_the_current_one(client, org_world):
    """An org whose slug sorts first (once enough to become 'the first org') changes nothing."""
    first_by_slug = Organization.objects.create(slug="aaa", name="AAA")
    person = _logged_in(client, "member@org-b.test", "pw-member")
    assert person.get("/").context["org_context"].org == org_world.b.org
    member_add(org=first_by_slug, email="member@org-b.test", role="member")
    assert person.get("/").context["org_context"].org == org_world.b.org
