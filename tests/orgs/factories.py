from __future__ import annotations

from dataclasses import dataclass, field

from orgs.models import Organization, Role, User
from orgs.services import api_key_create, member_add, org_get_or_create


@dataclass
class OrgFixture:
    org: Organization
    users: dict[str, User] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)


@dataclass
class OrgWorld:
    a: OrgFixture
    b: OrgFixture


def make_org(slug: str) -> OrgFixture:
    org, _ = org_get_or_create(slug=slug, name=slug.upper())
    fixture = OrgFixture(org=org)
    for role in Role.values:
        membership = member_add(org=org, email=f"{role}@{slug}.test", role=role, password="pw-" + role)
        fixture.users[role] = membership.user
        _, fixture.keys[role] = api_key_create(org=org, name=f"{role} key", role=role)
    return fixture


def make_org_world() -> OrgWorld:
    return OrgWorld(a=make_org("org-a"), b=make_org("org-b"))
