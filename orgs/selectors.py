"""Reads for orgs and access."""

from __future__ import annotations

from django.db.models import QuerySet

from orgs.models import Membership, Organization, Role, User


def membership_get(*, user: User, org: Organization | int) -> Membership | None:
    return Membership.objects.select_related("org").filter(user=user, org=org).first()


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.select_related("org").filter(user=user).order_by("org__slug")


def orgs_administered_by(*, user: User) -> QuerySet[Organization]:
    """The orgs whose objects `user` may see in Django admin (platform staff: all of them)."""
    if user.is_superuser:
        return Organization.objects.all()
    return Organization.objects.filter(
        memberships__user=user, memberships__role__in=[Role.OWNER, Role.ADMIN]
    ).distinct()
