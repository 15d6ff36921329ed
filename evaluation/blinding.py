"""Blinding: the judge never learns which provider, model or arm produced what it judges.

Every text the judge sees (task, reference, context, answer, patch, validation log) goes through a
`Redactor` first. It removes the identities of the arms in play (provider brand names, model ids
and their short forms, arm labels) and any well-known model family or vendor name, so an output
that names itself ("As Claude, ...", "I'm GPT-4o, made by OpenAI") reads "As the assistant, ...".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

ASSISTANT = "the assistant"
VENDOR = "the vendor"

# Vendor and brand names per provider kind. Kinds whose name is an ordinary word ("local",
# "together", "mock") contribute their brands only, so that a task about local variables keeps them.
PROVIDER_BRANDS: dict[str, tuple[str, ...]] = {
    "openai": ("OpenAI",),
    "anthropic": ("Anthropic",),
    "azure_openai": ("Azure OpenAI", "azure_openai", "Azure", "OpenAI", "Microsoft"),
    "openrouter": ("OpenRouter",),
    "google": ("Google DeepMind", "Google", "DeepMind"),
    "together": ("Together AI", "together.ai", "TogetherAI"),
    "local": (),
    "mock": ("mock provider",),
}
VENDORS = ("OpenAI", "Anthropic", "Google DeepMind", "DeepMind", "Google", "Meta AI", "Mistral AI", "Alibaba Cloud",
           "Alibaba", "Microsoft", "OpenRouter", "Together AI", "Cohere", "xAI")
# Model families: the name plus any version or size suffix ("Claude 3.5 Sonnet", "gpt-4o-mini",
# "Llama-3.1-8B-Instruct").
FAMILIES = ("ChatGPT", "GPT", "Claude", "Gemini", "Gemma", "Llama", "Mistral", "Mixtral", "Qwen", "DeepSeek",
            "Phi", "Grok", "Command R", "o1", "o3", "o4")
_SUFFIX = (r"(?:[\s\-_.:/]*(?:v?\d[\w.]*|opus|sonnet|haiku|turbo|mini|nano|pro|flash|lite|instruct|chat|latest"
           r"|preview|plus|max|small|medium|large|coder|r1|v\d))*")


def _word(term: str) -> str:
    # Word boundaries that also hold for terms starting or ending in a digit or punctuation.
    return r"(?<![\w])" + term + r"(?![\w])"


def _term_variants(term: str) -> set[str]:
    """A model id as people write it: "claude-3-5-haiku" also as "claude 3.5 haiku", the last path part."""
    variants = {term}
    if "/" in term:
        variants.add(term.rsplit("/", 1)[-1])
    for base in list(variants):
        variants.add(base.replace("-", " "))
        variants.add(re.sub(r"(\d)-(\d)", r"\1.\2", base))
        variants.add(re.sub(r"(\d)-(\d)", r"\1.\2", base).replace("-", " "))
    # Too short to be told apart from ordinary text ("a", "b7"): arms named so stay unredacted.
    return {v for v in variants if len(v) >= 3}


@dataclass(frozen=True)
class Redactor:
    pattern: re.Pattern[str]
    vendor_pattern: re.Pattern[str]

    def __call__(self, text: str) -> str:
        if not text:
            return text
        text = self.pattern.sub(ASSISTANT, text)
        text = self.vendor_pattern.sub(VENDOR, text)
        # "a the assistant" / "an the vendor" / "the the assistant" read as "the assistant".
        return re.sub(r"\b(?:an?|the)\s+(?=the (?:assistant|vendor)\b)", "", text, flags=re.IGNORECASE)


def redactor_for(*, arms: Iterable[dict[str, str]] = ()) -> Redactor:
    """A redactor for the identities of `arms` (`{"provider", "model", "label"}`) and every known family."""
    model_terms: set[str] = set()
    vendor_terms: set[str] = {v for v in VENDORS}
    for arm in arms:
        for key in ("label", "model"):
            if arm.get(key):
                model_terms |= _term_variants(str(arm[key]))
        vendor_terms |= set(PROVIDER_BRANDS.get(str(arm.get("provider", "")), ()))
        if arm.get("provider") and len(str(arm["provider"])) >= 3 and arm["provider"] not in ("local", "together"):
            vendor_terms.add(str(arm["provider"]))
    # Longest first: a model id is removed whole before its family name could split it.
    escaped = sorted((re.escape(t) for t in model_terms), key=len, reverse=True)
    families = [re.escape(f) + _SUFFIX for f in FAMILIES]
    pattern = re.compile("|".join(_word(t) for t in [*escaped, *families]), re.IGNORECASE)
    vendors = sorted((re.escape(v) for v in vendor_terms), key=len, reverse=True)
    vendor_pattern = re.compile("|".join(_word(v) for v in vendors), re.IGNORECASE)
    return Redactor(pattern=pattern, vendor_pattern=vendor_pattern)
