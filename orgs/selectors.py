"""Reads for orgs and access.

`is_active_person` is the one gate every permission hook and every selector that takes a user goes
through: anonymous visitors, inactive accounts and API-key stand-ins (no row) get nothing.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from orgs.models import Invitation, Membership, Organization, Role

ADMIN_ROLES = (Role.OWNER, Role.ADMIN)


def is_active_person(user: Any) -> bool:
    """A logged-in, active person with a row of their own; False for anything else."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
        and getattr(user, "pk", None) is not None
    )


def is_platform_admin(user: Any) -> bool:
    """Platform staff with every right (Django superusers), only while active."""
    return is_active_person(user) and bool(user.is_superuser)


def membership_get(*, user: Any, org: Organization | int | None) -> Membership | None:
    if not is_active_person(user) or org is None:
        return None
    return Membership.objects.select_related("org").filter(user=user, org=org).first()


def memberships_for_user(*, user: Any) -> QuerySet[Membership]:
    """The person's memberships, oldest first: joining an org never changes which one comes first."""
    if not is_active_person(user):
        return Membership.objects.none()
    return Membership.objects.select_related("org").filter(user=user).order_by("created_at", "pk")


def orgs_administered_by(*, user: Any) -> QuerySet[Organization]:
    """The orgs whose objects `user` may see in Django admin (platform admins: all of them)."""
    if not is_active_person(user):
        return Organization.objects.none()
    if user.is_superuser:
        return Organization.objects.all()
    return Organization.objects.filter(memberships__user=user, memberships__role__in=ADMIN_ROLES).distinct()


def user_may_use_admin(user: Any) -> bool:
    """Django admin is for platform staff and for owners/admins of at least one org."""
    if not is_active_person(user):
        return False
    return bool(user.is_staff or user.is_superuser) or orgs_administered_by(user=user).exists()


def invitations_pending_for(*, user: Any) -> QuerySet[Invitation]:
    if not is_active_person(user):
        return Invitation.objects.none()
    return Invitation.objects.select_related("org", "invited_by").filter(
        user=user, accepted_at__isnull=True, declined_at__isnull=True
    )
