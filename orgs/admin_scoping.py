"""Django admin that shows an org admin only the orgs they administer; platform staff see everything.

Every ModelAdmin of an org-owned model inherits `OrgScopedAdmin`: its list, filters, foreign-key
dropdowns and autocomplete all go through `orgs.scoping`, so nothing of another org shows.
"""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from orgs.models import Organization, Role
from orgs.scoping import for_orgs, org_lookup
from orgs.selectors import is_platform_admin, membership_get, orgs_administered_by


def administered_orgs(request: HttpRequest) -> models.QuerySet:
    return orgs_administered_by(user=request.user)


def actor_role(request: HttpRequest, org: Organization | int | None) -> str | None:
    """The role the admin user acts with in `org`: None for platform admins (no org limit), their
    membership's role otherwise (viewer, the lowest, when they have none)."""
    if is_platform_admin(request.user):
        return None
    membership = membership_get(user=request.user, org=org)
    return membership.role if membership is not None else Role.VIEWER


class OrgScopedAdmin(admin.ModelAdmin):
    # Every hook below answers through orgs.selectors, which says no to anonymous and inactive users.
    def _is_platform(self, request: HttpRequest) -> bool:
        return is_platform_admin(request.user)

    def _administers_any(self, request: HttpRequest) -> bool:
        return administered_orgs(request).exists()

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        qs = super().get_queryset(request)
        if self._is_platform(request):
            return qs
        return for_orgs(qs, administered_orgs(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and not self._is_platform(request):
            field.queryset = _scope_choices(field.queryset, request)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and not self._is_platform(request):
            field.queryset = _scope_choices(field.queryset, request)
        return field

    def get_list_filter(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        # A plain related-field filter lists every row of the related model; scope those choices.
        filters = super().get_list_filter(request)
        if self._is_platform(request):
            return filters
        return [(f, ScopedRelatedFilter) if isinstance(f, str) and _is_relation(self.model, f) else f for f in filters]

    # Org admins hold no Django model permissions; their role in an org is the permission.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._is_platform(request) or self._administers_any(request)

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._is_platform(request) or self._administers_any(request)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self.has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self.has_view_permission(request, obj)


def _is_relation(model: type[models.Model], field_name: str) -> bool:
    try:
        return model._meta.get_field(field_name).is_relation
    except Exception:
        return False


def _scope_choices(queryset: models.QuerySet, request: HttpRequest) -> models.QuerySet:
    from orgs.models import Organization, User

    if queryset.model is Organization:
        return queryset.filter(pk__in=administered_orgs(request).values("pk"))
    if queryset.model is User:
        return queryset.filter(memberships__org__in=administered_orgs(request)).distinct()
    if getattr(queryset.model, "ORG_LOOKUP", None):
        return for_orgs(queryset, administered_orgs(request))
    return queryset


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    def field_choices(self, field, request, model_admin):  # type: ignore[no-untyped-def]
        ordering = self.field_admin_ordering(field, request, model_admin)
        qs = _scope_choices(field.related_model._default_manager.all(), request)
        if ordering:
            qs = qs.order_by(*ordering)
        return [(obj.pk, str(obj)) for obj in qs]


__all__ = ["OrgScopedAdmin", "administered_orgs", "org_lookup"]
