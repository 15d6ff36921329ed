"""Writes for the provider gateway: credentials, the allowlist policy and price overrides."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from django.db import transaction

from orgs.models import Organization
from providers import crypto
from providers.context import context_invalidate
from providers.egress import EndpointRefused, url_check
from providers.interface import ProviderKind
from providers.models import PriceOverride, ProviderCredential, ProviderPolicy, secret_last4
from providers.policy import validate_rules

# Providers that are not reachable without an endpoint of the org's own.
BASE_URL_REQUIRED = frozenset({ProviderKind.LOCAL, ProviderKind.AZURE_OPENAI})
# Providers that need no secret at all.
KEYLESS = frozenset({ProviderKind.MOCK, ProviderKind.LOCAL})


# Headers that steer the connection itself (hop-by-hop, RFC 9110 7.6.1) or its routing (Host): a
# credential may add request headers, never re-aim or re-frame the request.
FORBIDDEN_HEADERS = frozenset({
    "host", "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade", "content-length", "expect",
})
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP field name
HEADERS_MAX = 20


class CredentialInvalid(ValueError):
    pass


def headers_validate(headers: Any) -> dict[str, str]:
    """Extra request headers: names are HTTP tokens, never hop-by-hop or Host; values one-line text."""
    if headers in (None, ""):
        return {}
    if not isinstance(headers, dict) or len(headers) > HEADERS_MAX:
        raise CredentialInvalid(f"config.headers must be an object of at most {HEADERS_MAX} headers")
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise CredentialInvalid(f"config.headers: {name!r} is not a header name")
        if name.lower() in FORBIDDEN_HEADERS:
            raise CredentialInvalid(f"config.headers: {name} may not be set (hop-by-hop or Host header)")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0") or len(value) > 4096:
            raise CredentialInvalid(f"config.headers: {name} must be one line of text")
    return dict(headers)


def credential_validate(
    *, provider: str, base_url: str | None, api_version: str | None, config: dict[str, Any] | None,
    has_key: bool | None = None,
) -> ProviderKind:
    """Raise `CredentialInvalid` naming the problem; `has_key=None` skips the key check."""
    try:
        kind = ProviderKind(provider)
    except ValueError as exc:
        raise CredentialInvalid(f"unknown provider {provider!r}") from exc
    if has_key is False and kind not in KEYLESS:
        raise CredentialInvalid(f"{kind} needs an api_key")
    if kind in BASE_URL_REQUIRED and not base_url:
        raise CredentialInvalid(f"{kind} needs a base_url")
    if kind == ProviderKind.AZURE_OPENAI and not api_version:
        raise CredentialInvalid("azure_openai needs an api_version")
    if not isinstance(config or {}, dict):
        raise CredentialInvalid("config must be an object")
    headers_validate((config or {}).get("headers"))
    if base_url:
        try:
            url_check(base_url)
        except EndpointRefused as exc:
            raise CredentialInvalid(f"base_url refused: {exc}") from exc
    for limit in ("max_concurrency", "rpm", "tpm"):
        value = (config or {}).get(limit)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise CredentialInvalid(f"config.{limit} must be a positive integer")
    return kind


def credential_set(
    *,
    org: Organization,
    provider: str,
    api_key: str | None,
    base_url: str | None = None,
    api_version: str | None = None,
    name: str = "",
    config: dict[str, Any] | None = None,
    keep_headers: bool = False,
) -> ProviderCredential:
    """Create or replace the org's credential for `provider`; the key and `config.headers` are
    stored encrypted only.

    `api_key=None` keeps the stored key (admin forms leave the secret blank on edit);
    `keep_headers=True` keeps the stored headers unless `config` names new ones.
    """
    kind = credential_validate(provider=provider, base_url=base_url, api_version=api_version, config=config)
    config = dict(config or {})
    headers = headers_validate(config.pop("headers", None)) if "headers" in config or not keep_headers else None
    with transaction.atomic():
        # Locked so two admins saving at once cannot interleave key and settings of two versions.
        credential, _ = ProviderCredential.objects.select_for_update().get_or_create(org=org, provider=kind.value)
        if api_key is not None:
            credential.encrypted_api_key = crypto.encrypt(api_key) if api_key else ""
            credential.api_key_last4 = secret_last4(api_key)
        if headers is not None:
            credential.encrypted_headers = crypto.encrypt(json.dumps(headers)) if headers else ""
        if not credential.encrypted_api_key and kind not in KEYLESS:
            raise CredentialInvalid(f"{kind} needs an api_key")
        credential.name = name or ""
        credential.base_url = base_url or ""
        credential.api_version = api_version or ""
        credential.config = config
        credential.full_clean(exclude=["org", "encrypted_api_key"])
        credential.save()
    context_invalidate(org_id=org.pk)
    return credential


def credential_delete(*, credential: ProviderCredential) -> None:
    org_id = credential.org_id
    credential.delete()
    context_invalidate(org_id=org_id)


def credential_rotate_all() -> int:
    """Re-encrypt every stored secret (keys and headers) under the newest key; returns how many
    credentials were rewritten."""
    count = 0
    stored = ProviderCredential.objects.exclude(encrypted_api_key="", encrypted_headers="")
    for credential in stored.iterator():
        for field in ("encrypted_api_key", "encrypted_headers"):
            if getattr(credential, field):
                setattr(credential, field, crypto.rotate(getattr(credential, field)))
        credential.save(update_fields=["encrypted_api_key", "encrypted_headers", "updated_at"])
        count += 1
    return count


def policy_set(*, org: Organization, rules: list[dict[str, Any]]) -> ProviderPolicy:
    """Replace the org's allowlist. This is the documented way to allow, e.g., `mock` for a demo org:
    `policy_set(org=org, rules=[{"provider": "mock", "models": ["*"]}])`."""
    clean = validate_rules(rules)
    policy, _ = ProviderPolicy.objects.update_or_create(org=org, defaults={"rules": clean})
    context_invalidate(org_id=org.pk)
    return policy


def price_override_set(
    *,
    org: Organization,
    provider: str,
    model: str,
    input_per_mtok: Decimal,
    output_per_mtok: Decimal,
    cached_input_per_mtok: Decimal | None = None,
) -> PriceOverride:
    override, _ = PriceOverride.objects.update_or_create(
        org=org,
        provider=ProviderKind(provider).value,
        model=model,
        defaults={
            "input_per_mtok": Decimal(input_per_mtok),
            "output_per_mtok": Decimal(output_per_mtok),
            "cached_input_per_mtok": None if cached_input_per_mtok is None else Decimal(cached_input_per_mtok),
        },
    )
    context_invalidate(org_id=org.pk)
    return override
