"""Role-based permissions. Viewers read; members create experiments and runs; admins manage the org."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from orgs.access import OrgContext
from orgs.models import Role


def org_context(request: Request) -> OrgContext | None:
    context = getattr(request, "auth", None)
    return context if isinstance(context, OrgContext) else None


class IsOrgMember(BasePermission):
    """Any role may read; writing needs `member`. The default for every API view."""

    message = "Your role does not allow this."
    write_role: str = Role.MEMBER
    read_role: str = Role.VIEWER

    def has_permission(self, request: Request, view) -> bool:  # type: ignore[no-untyped-def]
        context = org_context(request)
        if context is None:
            return False
        needed = self.read_role if request.method in SAFE_METHODS else self.write_role
        return context.can(needed)


class IsOrgAdmin(IsOrgMember):
    """Reading and writing both need `admin` (credentials, policy, members, keys)."""

    write_role = Role.ADMIN
    read_role = Role.ADMIN


class IsOrgAdminForWrites(IsOrgMember):
    """Anyone in the org reads; only admins write."""

    write_role = Role.ADMIN
