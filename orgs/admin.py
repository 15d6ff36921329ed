from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from orgs.admin_scoping import OrgScopedAdmin, actor_role, administered_orgs
from orgs.models import ApiKey, Invitation, Membership, Organization, User
from orgs.selectors import is_platform_admin
from orgs.services import (
    AccessDenied,
    api_key_create,
    api_key_revoke,
    member_change_check,
    member_remove,
    member_set_role,
    role_grant_check,
    user_deactivated,
)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "is_staff", "is_superuser", "is_active", "last_login"]
    search_fields = ["email"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Name", {"fields": ("first_name", "last_name")}),
        ("Platform", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    # People are platform-level; org admins manage them through Memberships.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_platform_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return is_platform_admin(request.user)

    has_change_permission = has_add_permission = has_delete_permission = has_view_permission  # type: ignore[assignment]

    def save_model(self, request: HttpRequest, obj: User, form, change: bool) -> None:  # type: ignore[no-untyped-def]
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            user_deactivated(user=obj)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        qs = super().get_queryset(request)
        return qs.filter(pk__in=administered_orgs(request).values("pk"))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return administered_orgs(request).exists()

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_platform_admin(request.user)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return is_platform_admin(request.user)


class _RoleCheckedForm(forms.ModelForm):
    """Shows why a role cannot be granted or changed (the service checks again when saving)."""

    request: HttpRequest  # set by the admin's get_form

    def _check(self) -> None:
        raise NotImplementedError

    def clean(self):  # type: ignore[no-untyped-def]
        cleaned = super().clean()
        if not self.errors:
            try:
                self._check()
            except AccessDenied as exc:
                raise ValidationError(str(exc)) from exc
        return cleaned


class MembershipForm(_RoleCheckedForm):
    class Meta:
        model = Membership
        fields = ["org", "user", "role"]

    def _check(self) -> None:
        org = self.cleaned_data.get("org") or self.instance.org
        role = self.cleaned_data["role"]
        if self.instance.pk:
            member_change_check(membership=self.instance, role=role, actor_role=actor_role(self.request, org))
        else:
            role_grant_check(actor_role=actor_role(self.request, org), role=role)


class _RequestFormMixin:
    def get_form(self, request, obj=None, change=False, **kwargs):  # type: ignore[no-untyped-def]
        form = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        return type(form.__name__, (form,), {"request": request})


@admin.register(Membership)
class MembershipAdmin(_RequestFormMixin, OrgScopedAdmin):
    form = MembershipForm
    list_display = ["user", "org", "role", "created_at"]
    list_filter = ["role", "org"]
    search_fields = ["user__email"]
    actions = ["remove_members"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):  # type: ignore[no-untyped-def]
        # A membership changes role only; moving it to another org or person is a new membership.
        return ["org", "user"] if obj is not None else []

    def get_actions(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # removal goes through member_remove (keys, tokens)
        return actions

    # Org admins bring existing people in by invitation (POST api/v1/members/), never by a silent add.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_platform_admin(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        if obj is None:
            return True
        try:
            member_change_check(membership=obj, role=None, actor_role=actor_role(request, obj.org_id))
        except AccessDenied:
            return False
        return True

    def save_model(self, request: HttpRequest, obj: Membership, form, change: bool) -> None:  # type: ignore[no-untyped-def]
        if change:
            member_set_role(membership=obj, role=obj.role, actor_role=actor_role(request, obj.org_id))
        else:
            super().save_model(request, obj, form, change)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        member_remove(membership=obj, actor_role=actor_role(request, obj.org_id))

    @admin.action(description="Remove selected members (revokes their keys and tokens)")
    def remove_members(self, request: HttpRequest, queryset) -> None:  # type: ignore[no-untyped-def]
        for membership in queryset:
            try:
                member_remove(membership=membership, actor_role=actor_role(request, membership.org_id))
            except AccessDenied as exc:
                messages.error(request, f"{membership}: {exc}")


class ApiKeyForm(_RoleCheckedForm):
    class Meta:
        model = ApiKey
        fields = ["org", "name", "role"]

    def _check(self) -> None:
        if "role" in self.cleaned_data:
            role_grant_check(actor_role=actor_role(self.request, self.cleaned_data["org"]), role=self.cleaned_data["role"])


@admin.register(ApiKey)
class ApiKeyAdmin(_RequestFormMixin, OrgScopedAdmin):
    form = ApiKeyForm
    list_display = ["name", "org", "role", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["role", "org"]
    search_fields = ["name", "prefix"]
    fields = ["org", "name", "role", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):  # type: ignore[no-untyped-def]
        # A key's org and role are fixed when it is made: a different grant is a new key.
        fixed = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
        return [*fixed, "org", "role"] if obj is not None else fixed

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:  # type: ignore[no-untyped-def]
        if change:
            super().save_model(request, obj, form, change)
            return
        key, plaintext = api_key_create(
            org=obj.org, name=obj.name, role=obj.role, created_by=request.user, actor_role=actor_role(request, obj.org)
        )
        obj.pk, obj.prefix = key.pk, key.prefix
        messages.warning(request, f"New API key (shown once, store it now): {plaintext}")

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset) -> None:  # type: ignore[no-untyped-def]
        for key in queryset:
            api_key_revoke(key=key)


@admin.register(Invitation)
class InvitationAdmin(OrgScopedAdmin):
    """Org admins see and withdraw (delete) their invitations; they are made through the API."""

    list_display = ["user", "org", "role", "invited_by", "created_at", "accepted_at", "declined_at"]
    list_filter = ["org"]
    readonly_fields = ["org", "user", "role", "invited_by", "accepted_at", "declined_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
