"""Prompt templates: fill a case's fields into chat messages.

A template is `{"system": "...", "user": "..."}` with `{field}` placeholders naming case fields
(`{input}`, `{context}`, `{instruction}`, `{repo_files}`, `{dirty}`...). Unknown placeholders stay
as written rather than failing a whole run on one case. An experiment may override the kind's
default; the template used is frozen into the run snapshot with a hash, so a run is reproducible.
"""

from __future__ import annotations

import hashlib
import json
import string
from typing import Any

DEFAULT_TEMPLATES: dict[str, dict[str, str]] = {
    "qa": {
        "system": "",
        "user": "{context_block}{input}",
    },
    "rag": {
        "system": "Answer from the retrieved context. Say so when the context does not contain the answer.",
        "user": "{question}",
    },
    "pr": {
        "system": "You are a careful software engineer. Answer with a unified diff only.",
        "user": "{instruction}\n\nRepository files:\n{repo_files}",
    },
    "data_cleaning": {
        # Seed 002 asks for the cleaned table and a justification; the data_cleaning scorer reads
        # both (the justification makes `auditability`).
        "system": (
            "You clean tabular data. Answer with the cleaned table as CSV in a ```csv block (same header, "
            "same row order, duplicate rows removed), then a short justification naming each change by "
            "row number and column."
        ),
        "user": "{instruction}\n\n{dirty}",
    },
}
DEFAULT_INSTRUCTIONS = {
    "data_cleaning": "Fix the accuracy, completeness, consistency and uniqueness errors in this table.",
}


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def template_for(kind: str, override: dict[str, str] | None) -> dict[str, str]:
    base = dict(DEFAULT_TEMPLATES[kind])
    if override:
        base.update({k: v for k, v in override.items() if k in ("system", "user") and isinstance(v, str)})
    return base


def template_hash(template: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16]


def _fields(kind: str, payload: dict[str, Any]) -> _Fields:
    fields = _Fields({k: v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()})
    context = payload.get("context")
    fields["context_block"] = f"Context:\n{context}\n\n" if context else ""
    if kind == "pr":
        files = (payload.get("repo") or {}).get("files") or {}
        fields["repo_files"] = "\n".join(f"--- {path}\n{content}" for path, content in sorted(files.items()))
    fields.setdefault("instruction", DEFAULT_INSTRUCTIONS.get(kind, ""))
    return fields


def render_messages(kind: str, payload: dict[str, Any], template: dict[str, str]) -> list[dict[str, str]]:
    """The chat messages for one case. A QA `input` given as a message list is used as it is."""
    formatter = string.Formatter()
    fields = _fields(kind, payload)

    def fill(text: str) -> str:
        return formatter.vformat(text, (), fields) if text else ""

    messages: list[dict[str, str]] = []
    system = fill(template.get("system", ""))
    if system:
        messages.append({"role": "system", "content": system})
    if kind == "qa" and isinstance(payload.get("input"), list):
        messages.extend({"role": m["role"], "content": m["content"]} for m in payload["input"])
    else:
        messages.append({"role": "user", "content": fill(template.get("user", ""))})
    return messages
