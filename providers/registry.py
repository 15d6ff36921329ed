"""Provider kind -> its adapter. Adding a provider is one line here and one module in adapters/."""

from __future__ import annotations

from functools import cache

from providers.interface import ProviderAdapter, ProviderKind

_OPENAI_COMPATIBLE = (
    ProviderKind.OPENAI, ProviderKind.AZURE_OPENAI, ProviderKind.OPENROUTER,
    ProviderKind.GOOGLE, ProviderKind.TOGETHER, ProviderKind.LOCAL,
)


@cache
def adapter_for(provider: str) -> ProviderAdapter:
    kind = ProviderKind(provider)
    # Imported lazily so that a process that only uses `mock` never loads the vendor SDKs.
    if kind == ProviderKind.MOCK:
        from providers.adapters.mock import MockAdapter

        return MockAdapter()
    if kind == ProviderKind.ANTHROPIC:
        from providers.adapters.anthropic import AnthropicAdapter

        return AnthropicAdapter()
    if kind in _OPENAI_COMPATIBLE:
        from providers.adapters.openai_compat import OpenAICompatibleAdapter

        return OpenAICompatibleAdapter(kind)
    raise ValueError(f"no adapter for provider {provider!r}")
