"""Everything the gateway needs from the database for one (org, provider), loaded in one go.

Loaded synchronously (the ORM) and kept in-process for a couple of seconds so that 10,000 calls of
one run do not make 20,000 queries. Services invalidate it on every write in this process; other
processes see a change after at most `BENCHHUB_PROVIDER_CONTEXT_TTL` seconds (policy removal stops
further calls of that arm, within that bound).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings

from providers.interface import Endpoint, ProviderKind


@dataclass(frozen=True)
class PriceRule:
    model_glob: str
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None


@dataclass(frozen=True)
class CallContext:
    org_id: int
    provider: ProviderKind
    rules: tuple[dict[str, Any], ...]
    endpoint: Endpoint | None  # None: the org has no credential (and the provider needs one)
    price_rules: tuple[PriceRule, ...] = ()
    retry: dict[str, Any] = field(default_factory=dict)  # org settings "provider_retry"


_lock = threading.Lock()
_cache: dict[tuple[int, str], tuple[float, CallContext]] = {}


def context_invalidate(*, org_id: int | None = None) -> None:
    with _lock:
        if org_id is None:
            _cache.clear()
            return
        for key in [k for k in _cache if k[0] == org_id]:
            del _cache[key]


def context_cached(*, org_id: int, provider: str) -> CallContext | None:
    """The fresh in-process copy, if any: async callers skip the thread hop of a DB load with it."""
    with _lock:
        hit = _cache.get((org_id, provider))
    return hit[1] if hit and hit[0] > time.monotonic() else None


def context_load(*, org_id: int, provider: str) -> CallContext:
    """Sync: call through `sync_to_async` from async code."""
    kind = ProviderKind(provider)
    ttl = float(getattr(settings, "BENCHHUB_PROVIDER_CONTEXT_TTL", 2.0))
    cached = context_cached(org_id=org_id, provider=kind.value)
    if cached is not None:
        return cached
    now = time.monotonic()
    key = (org_id, kind.value)
    context = _build(org_id=org_id, kind=kind)
    with _lock:
        _cache[key] = (now + ttl, context)
    return context


def _build(*, org_id: int, kind: ProviderKind) -> CallContext:
    from orgs.models import Organization
    from providers import crypto
    from providers.selectors import credential_for_provider, credential_headers, policy_rules, price_overrides

    org_settings = Organization.objects.filter(pk=org_id).values_list("settings", flat=True).first() or {}
    credential = credential_for_provider(org_id=org_id, provider=kind.value)
    endpoint: Endpoint | None
    if credential is not None:
        config = dict(credential.config or {})
        endpoint = Endpoint(
            provider=kind,
            api_key=crypto.decrypt(credential.encrypted_api_key) if credential.encrypted_api_key else None,
            base_url=credential.base_url or None,
            api_version=credential.api_version or None,
            deployments=dict(config.pop("deployments", {}) or {}),
            headers=credential_headers(credential=credential),
            config=config,
        )
    elif kind == ProviderKind.MOCK:
        endpoint = Endpoint(provider=kind)
    else:
        endpoint = None
    prices = tuple(
        PriceRule(o.model, o.input_per_mtok, o.output_per_mtok, o.cached_input_per_mtok)
        for o in price_overrides(org_id=org_id, provider=kind.value)
    )
    return CallContext(
        org_id=org_id,
        provider=kind,
        rules=tuple(policy_rules(org_id=org_id)),
        endpoint=endpoint,
        price_rules=prices,
        retry=dict(org_settings.get("provider_retry") or {}),
    )
