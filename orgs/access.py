"""Who is calling, for which org, with which role: attached to each API request as `request.auth`."""

from __future__ import annotations

from dataclasses import dataclass

from orgs.models import ApiKey, Organization, User, role_at_least


@dataclass(frozen=True)
class OrgContext:
    org: Organization
    role: str
    user: User | None = None
    api_key: ApiKey | None = None

    def can(self, minimum_role: str) -> bool:
        return role_at_least(self.role, minimum_role)

    @property
    def actor(self) -> str:
        if self.user is not None:
            return self.user.email
        return f"api-key:{self.api_key.prefix}" if self.api_key else "anonymous"


class ApiKeyUser:
    """The `request.user` of a call made with an API key that no person created (e.g. create_org --api-key)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None
    email = None

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"
