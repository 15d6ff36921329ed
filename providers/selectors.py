"""Reads for the provider gateway, already scoped to one org."""

from __future__ import annotations

import json

from django.db import models

from orgs.models import Organization
from orgs.scoping import for_org, get_for_org
from providers import crypto
from providers.models import PriceOverride, ProviderCredential, ProviderPolicy, secret_mask


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
