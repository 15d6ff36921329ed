"""Cost of one call in USD: org overrides first, then the `genai-prices` library; unknown is None.

`mock` has a fixed, documented price so demo boards show cost: $0.10 per million input tokens and
$0.20 per million output tokens (`extra={"mock_unpriced": True}` makes it unknown instead).
`local` models have no list price: their cost is unknown (None) unless the org sets an override.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from fnmatch import fnmatchcase

from providers.context import PriceRule
from providers.interface import ProviderKind, Usage

logger = logging.getLogger("benchhub.providers")

MTOK = Decimal(1_000_000)
# Costs are kept to 1e-10 USD, here and in every column that stores one (a cheap model's one-token
# call costs ~1e-8): what is computed is what is stored, and sums of many tiny calls do not drift.
USD_DECIMAL_PLACES = 10
USD_MAX_DIGITS = 16
_USD_QUANTUM = Decimal(1).scaleb(-USD_DECIMAL_PLACES)
MOCK_INPUT_PER_MTOK = Decimal("0.10")
MOCK_OUTPUT_PER_MTOK = Decimal("0.20")

# genai-prices names some providers differently from us.
_LIBRARY_PROVIDER = {
    ProviderKind.OPENAI: "openai",
    ProviderKind.AZURE_OPENAI: "azure",
    ProviderKind.ANTHROPIC: "anthropic",
    ProviderKind.OPENROUTER: "openrouter",
    ProviderKind.GOOGLE: "google",
    ProviderKind.TOGETHER: "together",
}


def _from_rate(usage: Usage, input_rate: Decimal, output_rate: Decimal, cached_rate: Decimal | None) -> Decimal:
    cached = min(usage.cached_tokens, usage.input_tokens) if cached_rate is not None else 0
    fresh = usage.input_tokens - cached
    total = fresh * input_rate + cached * (cached_rate or Decimal(0)) + usage.output_tokens * output_rate
    return (total / MTOK).quantize(_USD_QUANTUM)


def call_cost(
    *, provider: str, model: str, usage: Usage, overrides: tuple[PriceRule, ...] = (), unpriced: bool = False
) -> Decimal | None:
    kind = ProviderKind(provider)
    for rule in overrides:
        if fnmatchcase(model, rule.model_glob):
            return _from_rate(usage, rule.input_per_mtok, rule.output_per_mtok, rule.cached_input_per_mtok)
    if kind == ProviderKind.MOCK:
        return None if unpriced else _from_rate(usage, MOCK_INPUT_PER_MTOK, MOCK_OUTPUT_PER_MTOK, None)
    library_provider = _LIBRARY_PROVIDER.get(kind)
    if library_provider is None:
        return None
    return _library_price(library_provider, model, usage)


def _library_price(provider_id: str, model: str, usage: Usage) -> Decimal | None:
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    try:
        price = calc_price(
            PriceUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                       cache_read_tokens=usage.cached_tokens or None),
            model_ref=model,
            provider_id=provider_id,
        )
    except LookupError:
        return None
    return Decimal(price.total_price).quantize(_USD_QUANTUM)
