"""Allowlist matching: does an org's rule list allow this provider and model?"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any


def rules_allow(rules: list[dict[str, Any]], *, provider: str, model: str) -> bool:
    """True when some rule names `provider` and one of its globs matches `model`. No rules: nothing."""
    for rule in rules or []:
        if rule.get("provider") != provider:
            continue
        if any(fnmatchcase(model, str(pattern)) for pattern in rule.get("models") or []):
            return True
    return False


def validate_rules(rules: Any) -> list[dict[str, Any]]:
    """Normalised rules or ValueError naming what is wrong (used by the service and the API)."""
    from providers.interface import ProviderKind

    if not isinstance(rules, list):
        raise ValueError("rules must be a list")
    clean: list[dict[str, Any]] = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise ValueError(f"rules[{index}] must be an object")
        provider = rule.get("provider")
        if provider not in {k.value for k in ProviderKind}:
            raise ValueError(f"rules[{index}].provider: unknown provider {provider!r}")
        models = rule.get("models")
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise ValueError(f"rules[{index}].models must be a list of non-empty glob strings")
        clean.append({"provider": provider, "models": list(models)})
    return clean
