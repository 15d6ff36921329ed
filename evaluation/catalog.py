"""The scorers a person can pick in the dashboard, with their options (read, never written)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# --- the scorers a person can pick, with their options (the dashboard's scorer picker) ----------


@dataclass(frozen=True)
class ScorerOption:
    name: str
    kind: str  # "bool" | "number" | "json" | "text": how a form asks for it
    default: Any
    required: bool


@dataclass(frozen=True)
class ScorerChoice:
    type: str
    slow: bool
    doc: str
    options: tuple[ScorerOption, ...]


def _option_kind(annotation: str) -> str:
    if "bool" in annotation:
        return "bool"
    if "dict" in annotation or "list" in annotation:
        return "json"
    if "float" in annotation or "int" in annotation:
        return "number"
    return "text"


def scorer_choices() -> list[ScorerChoice]:
    """Every registered scorer and its keyword options, read from its constructor's signature, so a
    scorer added to the registry shows up in the picker with its options and no form code."""
    import inspect

    from evaluation.scorers import scorer_class, scorer_types

    choices = []
    for type_ in scorer_types():
        cls = scorer_class(type_)
        options = []
        for param in inspect.signature(cls.__init__).parameters.values():
            if param.kind is not inspect.Parameter.KEYWORD_ONLY:
                continue
            required = param.default is inspect.Parameter.empty
            options.append(ScorerOption(
                name=param.name, kind=_option_kind(str(param.annotation)),
                default=None if required else param.default, required=required,
            ))
        doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        choices.append(ScorerChoice(type=type_, slow=cls.slow, doc=doc, options=tuple(options)))
    return choices
