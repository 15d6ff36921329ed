"""Reads for the provider gateway, already scoped to one org."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import models

from orgs.models import Organization
from orgs.scoping import for_org, get_for_org
from providers import crypto
from providers.models import PriceOverride, ProviderCredential, ProviderPolicy, secret_mask
from providers.policy import rules_allow


def credential_list(*, org: Organization) -> models.QuerySet[ProviderCredential]:
    return for_org(ProviderCredential, org).order_by("provider")


def credential_get(*, org: Organization, credential_id: int) -> ProviderCredential:
    return get_for_org(ProviderCredential, org, pk=credential_id)


def credential_for_provider(*, org_id: int, provider: str) -> ProviderCredential | None:
    return for_org(ProviderCredential, org_id).filter(provider=provider).first()


def policy_rules(*, org_id: int) -> list[dict]:
    policy = for_org(ProviderPolicy, org_id).first()
    return list(policy.rules) if policy else []


def price_overrides(*, org_id: int, provider: str) -> list[PriceOverride]:
    return list(for_org(PriceOverride, org_id).filter(provider=provider))


def credential_headers(*, credential: ProviderCredential) -> dict[str, str]:
    """The decrypted extra headers (for the gateway only; people see `credential_headers_masked`)."""
    return json.loads(crypto.decrypt(credential.encrypted_headers)) if credential.encrypted_headers else {}


def credential_headers_masked(*, credential: ProviderCredential) -> dict[str, str]:
    return {name: secret_mask(value) for name, value in credential_headers(credential=credential).items()}


# --- what an org may pick as an arm (the dashboard's arm picker) --------------------------------

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class ArmChoices:
    """One provider an org can call now: its allowlist names, split into explicit models and globs."""

    provider: str
    models: tuple[str, ...]  # explicit names: offered as they are
    patterns: tuple[str, ...]  # globs: a model typed by a person must match one of them

    def allows(self, model: str) -> bool:
        return model in self.models or rules_allow([{"provider": self.provider, "models": list(self.patterns)}],
                                                    provider=self.provider, model=model)


def arm_choices(*, org: Organization) -> list[ArmChoices]:
    """The allowlist × credentials: providers with a rule and a credential (`mock` needs none)."""
    from providers.interface import ProviderKind

    credentialed = set(credential_list(org=org).values_list("provider", flat=True)) | {ProviderKind.MOCK.value}
    merged: dict[str, tuple[list[str], list[str]]] = {}
    for rule in policy_rules(org_id=org.pk):
        provider = rule.get("provider")
        if provider not in credentialed:
            continue
        models, patterns = merged.setdefault(provider, ([], []))
        for name in rule.get("models") or []:
            target = patterns if _GLOB_CHARS & set(name) else models
            if name not in target:
                target.append(name)
    return [ArmChoices(provider=p, models=tuple(m), patterns=tuple(g)) for p, (m, g) in merged.items()]
