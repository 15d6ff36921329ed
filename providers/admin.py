"""Org admins manage credentials (secret write-only, masked to the last 4), allowlists and prices."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from orgs.admin_scoping import OrgScopedAdmin
from providers.context import context_invalidate
from providers.models import PriceOverride, ProviderCredential, ProviderPolicy
from providers.policy import validate_rules
from providers.selectors import credential_headers_masked
from providers.services import (
    CredentialInvalid,
    credential_delete,
    credential_set,
    credential_validate,
    policy_set,
)


class CredentialForm(forms.ModelForm):
    # Write-only: the widget never renders a value, so the secret never reaches the page HTML.
    api_key = forms.CharField(
        required=False, strip=True, widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank to keep the stored key.",
    )
    base_url = forms.URLField(required=False, assume_scheme="https", max_length=500)

    class Meta:
        model = ProviderCredential
        fields = ["org", "provider", "name", "api_key", "base_url", "api_version", "config"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("org") or not data.get("provider"):
            return data
        has_key = bool(data.get("api_key")) or bool(self.instance.pk and self.instance.encrypted_api_key)
        try:
            credential_validate(
                provider=data["provider"], base_url=data.get("base_url"), api_version=data.get("api_version"),
                config=data.get("config"), has_key=has_key,
            )
        except CredentialInvalid as exc:
            raise ValidationError(str(exc)) from exc
        self.service_kwargs = {
            "org": data["org"], "provider": data["provider"], "api_key": data.get("api_key") or None,
            "base_url": data.get("base_url") or None, "api_version": data.get("api_version") or None,
            "name": data.get("name") or "", "config": data.get("config") or {},
            # Stored headers are not shown (encrypted, masked): a config naming "headers" replaces them.
            "keep_headers": True,
        }
        return data


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(OrgScopedAdmin):
    form = CredentialForm
    list_display = ["provider", "org", "name", "masked_key", "base_url", "updated_at"]
    list_filter = ["provider", "org"]
    search_fields = ["name", "provider"]
    readonly_fields = ["masked_key", "masked_headers"]

    @admin.display(description="API key")
    def masked_key(self, obj: ProviderCredential) -> str:
        return f"••••{obj.api_key_last4}" if obj.encrypted_api_key else "—"

    @admin.display(description="Headers")
    def masked_headers(self, obj: ProviderCredential) -> str:
        masked = credential_headers_masked(credential=obj)
        return ", ".join(f"{name}: {value}" for name, value in masked.items()) or "—"

    def get_fields(self, request: HttpRequest, obj: ProviderCredential | None = None) -> list[str]:
        fields = ["org", "provider", "name", "api_key", "base_url", "api_version", "config"]
        return [*fields[:3], "masked_key", *fields[3:], "masked_headers"] if obj else fields

    def save_model(self, request: HttpRequest, obj: ProviderCredential, form: CredentialForm, change: bool) -> None:
        saved = credential_set(**form.service_kwargs)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: ProviderCredential) -> None:
        credential_delete(credential=obj)


class PolicyForm(forms.ModelForm):
    class Meta:
        model = ProviderPolicy
        fields = ["org", "rules"]

    def clean_rules(self) -> list[dict[str, Any]]:
        try:
            return validate_rules(self.cleaned_data.get("rules") or [])
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


@admin.register(ProviderPolicy)
class ProviderPolicyAdmin(OrgScopedAdmin):
    form = PolicyForm
    list_display = ["org", "rules", "updated_at"]
    list_filter = ["org"]

    def save_model(self, request: HttpRequest, obj: ProviderPolicy, form: PolicyForm, change: bool) -> None:
        saved = policy_set(org=form.cleaned_data["org"], rules=form.cleaned_data["rules"])
        obj.pk = saved.pk
        obj.refresh_from_db()


@admin.register(PriceOverride)
class PriceOverrideAdmin(OrgScopedAdmin):
    list_display = ["org", "provider", "model", "input_per_mtok", "output_per_mtok", "cached_input_per_mtok"]
    list_filter = ["provider", "org"]
    search_fields = ["model"]

    def save_model(self, request: HttpRequest, obj: PriceOverride, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        context_invalidate(org_id=obj.org_id)  # this process prices the next call with it
