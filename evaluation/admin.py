"""Evaluator profiles and rubrics in Django admin: platform staff (superusers) only.

Org admins never see these: the evaluator is platform-owned. A profile that any verdict used is
frozen: saving a change to it creates the next version (the service decides, not the form), and
the stored verdicts keep meaning what they meant.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest

from evaluation.evaluator import (
    VERDICT_FIELDS,
    ProfileInvalid,
    evaluator_profile_create,
    evaluator_profile_revise,
    evaluator_profile_validate,
)
from evaluation.judge import RubricSpec
from evaluation.models import EvaluatorProfile, Rubric


class PlatformStaffOnly(admin.ModelAdmin):
    def _platform(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._platform(request)

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._platform(request)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._platform(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._platform(request)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False  # verdicts and runs point at profiles and rubrics: they are never deleted


class EvaluatorProfileForm(forms.ModelForm):
    # Write-only, like org credentials: the widget never renders the stored secret.
    api_key = forms.CharField(required=False, strip=True, widget=forms.PasswordInput(render_value=False),
                              help_text="The platform's key for this endpoint. Leave blank to keep the stored one.")
    base_url = forms.URLField(required=False, assume_scheme="https", max_length=500)

    class Meta:
        model = EvaluatorProfile
        fields = ["name", "provider", "model", "base_url", "api_version", "api_key", "rubric_version",
                  "prompt_version", "sampling", "config"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        has_key = bool(data.get("api_key")) or bool(self.instance.pk and self.instance.encrypted_api_key)
        try:
            evaluator_profile_validate(
                provider=data["provider"], model=data.get("model") or "", base_url=data.get("base_url") or None,
                api_version=data.get("api_version") or None, has_key=has_key,
                rubric_version=data.get("rubric_version") or "", prompt_version=data.get("prompt_version") or "",
                sampling=data.get("sampling") or {}, config=data.get("config") or {},
            )
        except ProfileInvalid as exc:
            raise ValidationError(str(exc)) from exc
        return data


@admin.register(EvaluatorProfile)
class EvaluatorProfileAdmin(PlatformStaffOnly):
    form = EvaluatorProfileForm
    list_display = ["name", "version", "provider", "model", "rubric_version", "prompt_version", "masked_key",
                    "frozen_at", "created_at"]
    list_filter = ["provider", "name"]
    search_fields = ["name", "model"]

    def get_readonly_fields(self, request: HttpRequest, obj: EvaluatorProfile | None = None) -> list[str]:
        # The name and version identify a profile: a new version keeps the name.
        return ["version", "frozen_at", "calibration"] + (["name"] if obj is not None else [])

    @admin.display(description="API key")
    def masked_key(self, obj: EvaluatorProfile) -> str:
        return f"•••• {obj.api_key_last4}" if obj.api_key_last4 else "—"

    def save_model(self, request: HttpRequest, obj: EvaluatorProfile, form: Any, change: bool) -> None:
        data = form.cleaned_data
        fields = {name: data.get(name) for name in VERDICT_FIELDS}
        fields["base_url"], fields["api_version"] = fields["base_url"] or None, fields["api_version"] or None
        if not change:
            saved = evaluator_profile_create(name=data["name"], api_key=data.get("api_key") or None,
                                             created_by=request.user, **fields)
        else:
            original = EvaluatorProfile.objects.get(pk=obj.pk)
            saved = evaluator_profile_revise(profile=original, api_key=data.get("api_key") or None, **fields)
            if saved.pk != original.pk:
                self.message_user(request, f"{original} has been used, so the change is a new version: v{saved.version}.",
                                  messages.WARNING)
        obj.pk, obj.version = saved.pk, saved.version


class RubricForm(forms.ModelForm):
    class Meta:
        model = Rubric
        fields = ["version", "kind", "criteria", "pass_threshold"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        try:
            spec = RubricSpec.from_data(version=data["version"], kind=data["kind"], criteria=data["criteria"],
                                        pass_threshold=data["pass_threshold"])
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValidationError(f'criteria: a list of {{"key", "description", "min", "max", "weight"}}: {exc}') from exc
        if not spec.criteria or any(c.max <= c.min for c in spec.criteria) or not 0 <= spec.pass_threshold <= 1:
            raise ValidationError("at least one criterion, each with max > min, and a pass threshold in 0..1")
        return data


@admin.register(Rubric)
class RubricAdmin(PlatformStaffOnly):
    form = RubricForm
    list_display = ["version", "kind", "pass_threshold", "created_at"]
    list_filter = ["version", "kind"]

    def get_readonly_fields(self, request: HttpRequest, obj: Rubric | None = None) -> list[str]:
        # Rubrics are versioned data: a stored one is never edited; a change is a row of a new version.
        return ["version", "kind", "criteria", "pass_threshold"] if obj is not None else []
