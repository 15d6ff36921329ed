"""Org-scoped provider credentials, allowlist policies and negotiated price overrides."""

from __future__ import annotations

from django.db import models

from benchhub.models import TimestampedModel
from providers.interface import ProviderKind


class Provider(models.TextChoices):
    OPENAI = ProviderKind.OPENAI.value, "OpenAI"
    ANTHROPIC = ProviderKind.ANTHROPIC.value, "Anthropic"
    AZURE_OPENAI = ProviderKind.AZURE_OPENAI.value, "Azure OpenAI"
    OPENROUTER = ProviderKind.OPENROUTER.value, "OpenRouter"
    GOOGLE = ProviderKind.GOOGLE.value, "Google (Gemini)"
    TOGETHER = ProviderKind.TOGETHER.value, "Together"
    LOCAL = ProviderKind.LOCAL.value, "Local (OpenAI-compatible)"
    MOCK = ProviderKind.MOCK.value, "Mock"


class ProviderCredential(TimestampedModel):
    """An org's secret and endpoint settings for one provider. The secret is only ever ciphertext here.

    `config` holds endpoint settings and limits: `deployments` (Azure model -> deployment),
    `max_concurrency`, `rpm`, `tpm`, `breaker_threshold`, `breaker_cooldown_s`. Extra request
    headers often carry secrets too (a gateway token), so they live encrypted beside the key, as
    one Fernet token of their JSON, and show masked like it.
    """

    org = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="provider_credentials")
    provider = models.CharField(max_length=32, choices=Provider.choices)
    name = models.CharField(max_length=100, blank=True)
    encrypted_api_key = models.TextField(blank=True, help_text="Fernet token; never the plaintext.")
    api_key_last4 = models.CharField(max_length=4, blank=True)
    encrypted_headers = models.TextField(blank=True, help_text="Fernet token of the headers' JSON; never plaintext.")
    base_url = models.URLField(max_length=500, blank=True)
    api_version = models.CharField(max_length=64, blank=True)
    config = models.JSONField(default=dict, blank=True)

    ORG_LOOKUP = "org"

    class Meta:
        # One credential per provider per org: resolution at call time must be unambiguous.
        constraints = [
            models.UniqueConstraint(fields=["org", "provider"], name="provider_credential_unique_org_provider")
        ]
        ordering = ["org", "provider"]

    def __str__(self) -> str:
        label = self.name or self.provider
        return f"{label} (…{self.api_key_last4})" if self.api_key_last4 else label


class ProviderPolicy(TimestampedModel):
    """The org allowlist: `rules = [{"provider": "openai", "models": ["gpt-4o*"]}]`. No rules, no calls."""

    org = models.OneToOneField("orgs.Organization", on_delete=models.CASCADE, related_name="provider_policy")
    rules = models.JSONField(default=list, blank=True)

    ORG_LOOKUP = "org"

    class Meta:
        verbose_name_plural = "provider policies"

    def __str__(self) -> str:
        return f"policy of {self.org}"


class PriceOverride(TimestampedModel):
    """A negotiated (or Azure) price for one org, provider and model glob, in USD per million tokens."""

    org = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="price_overrides")
    provider = models.CharField(max_length=32, choices=Provider.choices)
    model = models.CharField(max_length=200, help_text="Model name or glob, e.g. gpt-4o*")
    input_per_mtok = models.DecimalField(max_digits=12, decimal_places=6)
    output_per_mtok = models.DecimalField(max_digits=12, decimal_places=6)
    cached_input_per_mtok = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)

    ORG_LOOKUP = "org"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "provider", "model"], name="price_override_unique_org_provider_model")
        ]
        ordering = ["org", "provider", "model"]

    def __str__(self) -> str:
        return f"{self.provider}:{self.model} ${self.input_per_mtok}/${self.output_per_mtok} per MTok"


# Showing the last 4 characters of a short secret gives too much of it away.
LAST4_MIN_LENGTH = 12


def secret_last4(secret: str) -> str:
    return secret[-4:] if len(secret) >= LAST4_MIN_LENGTH else ""


def secret_mask(secret: str) -> str:
    return "••••" + secret_last4(secret)
