"""Evaluator profiles and rubrics: create a version, freeze it once used, load what a judge call needs.

Platform staff only (the command line, or Django admin for superusers): the evaluator is
platform-owned and its credential is a platform one, encrypted with the same keys as org
credentials (`providers.crypto`) but never stored with, or taken from, an org's.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from evaluation.judge import PROMPTS, ProfileSpec, RubricSpec
from evaluation.models import EvaluatorProfile, Rubric
from evaluation.rubrics import BUILTIN, rubrics_ensure
from providers import crypto
from providers.interface import Endpoint, ProviderKind
from providers.services import CredentialInvalid, credential_validate

# Sampling every profile starts from: greedy and seeded, so a verdict is as reproducible as the
# provider allows.
DEFAULT_SAMPLING: dict[str, Any] = {"temperature": 0.0, "seed": 0, "max_tokens": 400}
# Fields that decide verdicts: changing any of them on a frozen profile makes a new version.
VERDICT_FIELDS = ("provider", "model", "base_url", "api_version", "rubric_version", "prompt_version", "sampling",
                  "config")


class ProfileInvalid(ValueError):
    """A profile that cannot be created or changed as asked (unknown rubric, frozen...)."""


class ProfileFrozen(ProfileInvalid):
    pass


def rubric_versions() -> list[str]:
    return sorted(set(Rubric.objects.values_list("version", flat=True)) | set(BUILTIN))


def evaluator_profile_validate(*, provider: str, model: str, base_url: str | None, api_version: str | None, has_key: bool,
              rubric_version: str, prompt_version: str, sampling: dict[str, Any], config: dict[str, Any]) -> None:
    if not model:
        raise ProfileInvalid("model is required")
    try:
        credential_validate(provider=provider, base_url=base_url, api_version=api_version, config=config,
                            has_key=has_key)
    except CredentialInvalid as exc:
        raise ProfileInvalid(str(exc)) from exc
    rubrics_ensure(rubric_version)
    if not Rubric.objects.filter(version=rubric_version).exists():
        raise ProfileInvalid(f"unknown rubric version {rubric_version!r}; known: {', '.join(rubric_versions())}")
    if prompt_version not in PROMPTS:
        raise ProfileInvalid(f"unknown prompt version {prompt_version!r}; known: {', '.join(sorted(PROMPTS))}")
    if not isinstance(sampling, dict) or not isinstance(config, dict):
        raise ProfileInvalid("sampling and config must be objects")


def evaluator_profile_create(
    *, name: str, provider: str, model: str, base_url: str | None = None, api_key: str | None = None,
    api_version: str | None = None, rubric_version: str = "1", prompt_version: str = "1",
    sampling: dict[str, Any] | None = None, config: dict[str, Any] | None = None, created_by: Any = None,
) -> EvaluatorProfile:
    """A new version of the named profile (1 for a new name); earlier versions stay as they are."""
    name = (name or "").strip()
    if not name:
        raise ProfileInvalid("name is required")
    sampling = {**DEFAULT_SAMPLING, **(sampling or {})}
    config = dict(config or {})
    evaluator_profile_validate(provider=provider, model=model, base_url=base_url, api_version=api_version, has_key=bool(api_key),
              rubric_version=rubric_version, prompt_version=prompt_version, sampling=sampling, config=config)
    for _ in range(3):  # two creations of one name race for the next version number
        try:
            with transaction.atomic():
                version = (EvaluatorProfile.objects.filter(name=name).aggregate(v=Max("version"))["v"] or 0) + 1
                return EvaluatorProfile.objects.create(
                    name=name, version=version, provider=provider, model=model, base_url=base_url or "",
                    api_version=api_version or "", encrypted_api_key=crypto.encrypt(api_key) if api_key else "",
                    api_key_last4=(api_key or "")[-4:], rubric_version=rubric_version, prompt_version=prompt_version,
                    sampling=sampling, config=config, created_by=created_by,
                )
        except IntegrityError:
            continue
    raise ProfileInvalid("another version of this profile is being created; try again")


def evaluator_profile_revise(*, profile: EvaluatorProfile, api_key: str | None = None, **changes: Any) -> EvaluatorProfile:
    """Change a profile: in place while no verdict used it, else as a new version (the old one stays
    frozen, so every stored score keeps meaning what it meant)."""
    unknown = set(changes) - set(VERDICT_FIELDS)
    if unknown:
        raise ProfileInvalid(f"unknown fields: {', '.join(sorted(unknown))}")
    fields = {f: getattr(profile, f) for f in VERDICT_FIELDS} | changes
    if profile.is_frozen:
        key = api_key or (crypto.decrypt(profile.encrypted_api_key) if profile.encrypted_api_key else None)
        return evaluator_profile_create(name=profile.name, api_key=key, **fields)
    with transaction.atomic():
        locked = EvaluatorProfile.objects.select_for_update().get(pk=profile.pk)
        if locked.is_frozen:  # a verdict landed meanwhile
            raise ProfileFrozen(f"{locked} has been used; change it as a new version")
        has_key = bool(api_key or locked.encrypted_api_key)
        evaluator_profile_validate(has_key=has_key, **{k: fields[k] for k in VERDICT_FIELDS})
        for name, value in fields.items():
            setattr(locked, name, value)
        if api_key:
            locked.encrypted_api_key, locked.api_key_last4 = crypto.encrypt(api_key), api_key[-4:]
        locked.save()
        return locked


def evaluator_profile_freeze(*, profile_id: int) -> None:
    """Called when the first verdict of a profile is stored; from then on it never changes."""
    EvaluatorProfile.objects.filter(pk=profile_id, frozen_at__isnull=True).update(frozen_at=timezone.now())


def evaluator_profile_spec(profile: EvaluatorProfile) -> ProfileSpec:
    """What a judge call needs, the platform secret decrypted (kept out of every repr and log)."""
    config = dict(profile.config or {})
    endpoint = Endpoint(
        provider=ProviderKind(profile.provider),
        api_key=crypto.decrypt(profile.encrypted_api_key) if profile.encrypted_api_key else None,
        base_url=profile.base_url or None, api_version=profile.api_version or None,
        headers=dict(config.pop("headers", {}) or {}), config=config,
    )
    return ProfileSpec(id=profile.pk, name=profile.name, version=profile.version, model=profile.model,
                       endpoint=endpoint, prompt_version=profile.prompt_version,
                       rubric_version=profile.rubric_version, sampling=dict(profile.sampling or {}))


def rubric_for(*, version: str, kind: str) -> RubricSpec:
    """The rubric of `version` for a case kind; kinds without one of their own use the QA rubric."""
    rubrics_ensure(version)
    rows = {r.kind: r for r in Rubric.objects.filter(version=version, kind__in=[kind, "qa"])}
    row = rows.get(kind) or rows.get("qa")
    if row is None:
        raise ProfileInvalid(f"rubric version {version!r} has no rubric for {kind!r}")
    return RubricSpec.from_data(version=row.version, kind=row.kind, criteria=row.criteria,
                                pass_threshold=row.pass_threshold)


def evaluator_profile_summary(profile: EvaluatorProfile) -> dict[str, Any]:
    """How a run's snapshot freezes its profile (no secret, no endpoint)."""
    return {"id": profile.pk, "name": profile.name, "version": profile.version,
            "rubric_version": profile.rubric_version, "prompt_version": profile.prompt_version}
