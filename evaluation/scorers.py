"""The scorer registry and the deterministic rule scorers.

A scorer is one class registered under its `type` (the name experiments use:
`{"type": "regex", "pattern": "..."}`). Adding a scorer is adding one class here (or in a module
that imports `register`). Each yields a value in 0..1, a pass/fail and details.

Rule scorers are cheap and run inline as each attempt lands (`slow = False`). Scorers that need a
sandbox, a provider call or minutes of work set `slow = True`: the attempt pipeline then leaves
them to the `experiments.attempts_score_slow` task on the scoring queue instead of blocking the
provider-call loop (`experiments/scoring.py`, which also stores a slow score's `artifacts`).
"""

from __future__ import annotations

import json
import math
import re
import string
import unicodedata
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jsonschema
import referencing
import referencing.exceptions
import regex
from django.conf import settings


class ScorerConfigError(ValueError):
    """A scorer spec in an experiment is invalid (unknown type, bad pattern, bad schema...)."""


@dataclass(frozen=True)
class ScoreInput:
    """What a scorer sees: the attempt's output and the case's reference fields. No arm identity."""

    output: str
    reference: Any = None
    case: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Score:
    value: float
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)
    # Attempt fields a slow scorer produces beside its score (`patch`, `validation`): the slow
    # scoring path writes them onto the attempt (and `validated_at` with `validation`). Not part of
    # `as_dict`, which is what `Attempt.scores` stores.
    artifacts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"value": _finite(self.value), "passed": self.passed, "details": _json_safe(self.details)}


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _json_safe(value: Any) -> Any:
    """Scores are stored as JSON: NaN and infinities (not JSON) become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


class Scorer:
    type: ClassVar[str]
    slow: ClassVar[bool] = False
    # The value at or above which an attempt passes, for scorers with partial credit.
    pass_threshold: ClassVar[float] = 1.0

    def __init__(self, **options: Any) -> None:
        self.options = options

    @classmethod
    def validate_spec(cls, spec: dict[str, Any]) -> None:
        """Raise ScorerConfigError for a bad spec; called when the experiment is created."""
        cls(**{k: v for k, v in spec.items() if k != "type"})

    def score(self, item: ScoreInput) -> Score:
        raise NotImplementedError


_REGISTRY: dict[str, type[Scorer]] = {}


def register(cls: type[Scorer]) -> type[Scorer]:
    if cls.type in _REGISTRY and _REGISTRY[cls.type] is not cls:
        raise ValueError(f"scorer type {cls.type!r} is already registered")
    _REGISTRY[cls.type] = cls
    return cls


def scorer_types() -> list[str]:
    return sorted(_REGISTRY)


def scorer_class(type_: str) -> type[Scorer]:
    try:
        return _REGISTRY[type_]
    except KeyError as exc:
        raise ScorerConfigError(f"unknown scorer type {type_!r}; known: {', '.join(scorer_types())}") from exc


def scorer_key(spec: dict[str, Any], index: int, specs: list[dict[str, Any]]) -> str:
    """The key of a scorer in `Attempt.scores`: its type, or `type#N` when a type repeats."""
    same = [i for i, s in enumerate(specs) if s.get("type") == spec.get("type")]
    return spec["type"] if len(same) == 1 else f"{spec['type']}#{same.index(index) + 1}"


def scorer_build(spec: dict[str, Any]) -> Scorer:
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ScorerConfigError('a scorer is an object with a "type"')
    cls = scorer_class(spec["type"])
    try:
        return cls(**{k: v for k, v in spec.items() if k != "type"})
    except ScorerConfigError:
        raise
    except (TypeError, ValueError, re.error, regex.error, jsonschema.SchemaError, RecursionError) as exc:
        raise ScorerConfigError(f"{spec['type']}: {exc}") from exc


def scorers_validate(specs: Any) -> list[dict[str, Any]]:
    """Check every spec; returns them unchanged or raises ScorerConfigError naming the first bad one."""
    if not isinstance(specs, list):
        raise ScorerConfigError("scorers must be a list")
    for index, spec in enumerate(specs):
        try:
            scorer_build(spec)
        except ScorerConfigError as exc:
            raise ScorerConfigError(f"scorers[{index}]: {exc}") from exc
    return specs


# --- helpers -----------------------------------------------------------------------------------

_PUNCT = str.maketrans("", "", string.punctuation.replace(".", "").replace("-", ""))
# A number standing on its own: not the digits inside a hash or an identifier ("cc00c489", "v2").
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")


def _reference_text(reference: Any) -> str:
    if reference is None:
        return ""
    if isinstance(reference, str):
        return reference
    return json.dumps(reference, sort_keys=True)


def normalize_text(text: str) -> str:
    """Case, whitespace, punctuation and number formatting folded away: "1,000.0 Apples!" -> "1000 apples"."""
    text = unicodedata.normalize("NFKC", text).casefold().strip()

    def number(match: re.Match[str]) -> str:
        raw = match.group(0).replace(",", "")
        try:
            value = float(raw)
        except ValueError:
            return raw
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)

    text = _NUMBER.sub(number, text)
    text = text.translate(_PUNCT)
    # A trailing or free-standing full stop is punctuation; a decimal point is kept by the number pass.
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
    return " ".join(text.split())


def _references(reference: Any) -> list[str]:
    """A reference may list several acceptable answers."""
    if isinstance(reference, list):
        return [_reference_text(r) for r in reference]
    return [_reference_text(reference)]


# --- rule scorers ------------------------------------------------------------------------------


@register
class ExactScorer(Scorer):
    type = "exact"

    def __init__(self, *, strip: bool = True) -> None:
        super().__init__(strip=strip)
        self.strip = bool(strip)

    def score(self, item: ScoreInput) -> Score:
        out = item.output.strip() if self.strip else item.output
        refs = [r.strip() if self.strip else r for r in _references(item.reference)]
        ok = out in refs
        return Score(1.0 if ok else 0.0, ok, {"matched": ok})


@register
class NormalizedScorer(Scorer):
    type = "normalized"

    def __init__(self) -> None:
        super().__init__()

    def score(self, item: ScoreInput) -> Score:
        out = normalize_text(item.output)
        refs = [normalize_text(r) for r in _references(item.reference)]
        ok = out in refs
        return Score(1.0 if ok else 0.0, ok, {"output": out, "reference": refs[0] if len(refs) == 1 else refs})


@register
class ContainsScorer(Scorer):
    type = "contains"

    def __init__(self, *, case_sensitive: bool = False, value: str | None = None) -> None:
        super().__init__(case_sensitive=case_sensitive, value=value)
        self.case_sensitive = bool(case_sensitive)
        self.value = value

    def score(self, item: ScoreInput) -> Score:
        needles = [self.value] if self.value is not None else _references(item.reference)
        hay = item.output if self.case_sensitive else item.output.casefold()
        found = [n for n in needles if (n if self.case_sensitive else n.casefold()) in hay]
        ok = bool(found)
        return Score(1.0 if ok else 0.0, ok, {"found": found[:1]})


# --- hostile patterns ---------------------------------------------------------------------------
# A member's pattern runs on the `regex` engine with a time limit (the stdlib `re` cannot be
# interrupted and holds the GIL: `^(a|a)+$` froze a web process), over a capped length of text.


class PatternTimeout(Exception):
    """A pattern took longer than `BENCHHUB_REGEX_TIMEOUT_S` on one text."""


def pattern_compile(pattern: str, flags: int = 0) -> regex.Pattern[str]:
    try:
        return regex.compile(pattern, flags | regex.VERSION0)
    except (regex.error, OverflowError, RecursionError) as exc:
        raise ScorerConfigError(f"invalid pattern: {exc}") from exc


def pattern_search(compiled: regex.Pattern[str], text: str, *, full: bool = False) -> regex.Match[str] | None:
    """`search` (or `fullmatch`) over at most `BENCHHUB_REGEX_MAX_SCAN_CHARS` characters, within
    `BENCHHUB_REGEX_TIMEOUT_S`; `concurrent=True` lets other threads run meanwhile."""
    text = text[: settings.BENCHHUB_REGEX_MAX_SCAN_CHARS]
    timeout = settings.BENCHHUB_REGEX_TIMEOUT_S
    try:
        if full:
            return compiled.fullmatch(text, timeout=timeout, concurrent=True)
        return compiled.search(text, timeout=timeout, concurrent=True)
    except TimeoutError as exc:
        raise PatternTimeout(f"the pattern took longer than {timeout}s") from exc


@register
class RegexScorer(Scorer):
    type = "regex"

    def __init__(self, *, pattern: str, flags: str = "", full_match: bool = False) -> None:
        super().__init__(pattern=pattern, flags=flags, full_match=full_match)
        if not isinstance(pattern, str) or not pattern:
            raise ScorerConfigError("regex: pattern is required")
        if len(pattern) > settings.BENCHHUB_REGEX_MAX_PATTERN_CHARS:
            raise ScorerConfigError(f"regex: the pattern is longer than {settings.BENCHHUB_REGEX_MAX_PATTERN_CHARS} characters")
        bits = 0
        for flag in flags:
            bits |= {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL}.get(flag, 0)
        try:
            self.regex = pattern_compile(pattern, bits)
        except ScorerConfigError as exc:
            raise ScorerConfigError(f"regex: {exc}") from exc
        self.full_match = bool(full_match)

    def score(self, item: ScoreInput) -> Score:
        try:
            match = pattern_search(self.regex, item.output.strip() if self.full_match else item.output,
                                   full=self.full_match)
        except PatternTimeout as exc:
            return Score(0.0, False, {"match": None, "reason": f"timed out: {exc}"})
        ok = match is not None
        return Score(1.0 if ok else 0.0, ok, {"match": match.group(0)[:200] if match else None})


@register
class NumericScorer(Scorer):
    """The last number in the output against the reference, within an absolute or relative tolerance."""

    type = "numeric"

    def __init__(self, *, tolerance: float = 0.0, relative: bool = False) -> None:
        super().__init__(tolerance=tolerance, relative=relative)
        tolerance = float(tolerance)
        if tolerance < 0 or math.isnan(tolerance):
            raise ScorerConfigError("numeric: tolerance must be >= 0")
        self.tolerance = tolerance
        self.relative = bool(relative)

    @staticmethod
    def _number(text: str) -> float | None:
        found = _NUMBER.findall(text)
        if not found:
            return None
        try:
            value = float(found[-1].replace(",", ""))
        except ValueError:
            return None
        return value if math.isfinite(value) else None  # "1e999" is no answer, and not valid JSON

    def score(self, item: ScoreInput) -> Score:
        expected = (
            float(item.reference)
            if isinstance(item.reference, int | float)
            else self._number(_reference_text(item.reference))
        )
        got = self._number(item.output)
        if expected is None or got is None:
            return Score(0.0, False, {"expected": expected, "got": got, "reason": "no number"})
        diff = abs(got - expected)
        allowed = self.tolerance * abs(expected) if self.relative else self.tolerance
        ok = diff <= allowed + 1e-12
        return Score(1.0 if ok else 0.0, ok, {"expected": expected, "got": got, "difference": diff})


def extract_json(text: str) -> Any:
    """The JSON value in an output, also when wrapped in a ```json fence or surrounded by prose."""
    stripped = text.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", stripped, re.DOTALL)
    if fence:
        stripped = fence.group(1).strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = stripped.find(opener), stripped.rfind(closer)
        if 0 <= start < end:
            try:
                return json.loads(stripped[start : end + 1])
            except ValueError:
                continue
    raise ValueError("no JSON value found")


def _refuse_retrieval(uri: str) -> referencing.Resource:
    # Only references inside the schema itself: never a file, a URL or another schema's id.
    raise referencing.exceptions.NoSuchResource(ref=uri)


_NO_RETRIEVAL: referencing.Registry = referencing.Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


def _schema_walk(schema: Any) -> tuple[int, list[str]]:
    """(depth, every reference) of a schema, iteratively (a deep schema must not blow the stack)."""
    depth, refs = 0, []
    stack: list[tuple[Any, int]] = [(schema, 1)]
    while stack:
        node, level = stack.pop()
        depth = max(depth, level)
        if isinstance(node, dict):
            refs += [str(node[k]) for k in _REF_KEYWORDS if k in node]
            stack += [(v, level + 1) for v in node.values() if isinstance(v, dict | list)]
        elif isinstance(node, list):
            stack += [(v, level + 1) for v in node if isinstance(v, dict | list)]
    return depth, refs


def _schema_check(schema: dict[str, Any]) -> None:
    size = len(json.dumps(schema))
    if size > settings.BENCHHUB_SCHEMA_MAX_CHARS:
        raise ScorerConfigError(f"json_schema: the schema is {size} characters; the limit is {settings.BENCHHUB_SCHEMA_MAX_CHARS}")
    depth, refs = _schema_walk(schema)
    if depth > settings.BENCHHUB_SCHEMA_MAX_DEPTH:
        raise ScorerConfigError(f"json_schema: the schema nests deeper than {settings.BENCHHUB_SCHEMA_MAX_DEPTH} levels")
    for ref in refs:
        if not ref.startswith("#"):
            raise ScorerConfigError(f"json_schema: only local references (#...) are allowed, not {ref[:100]!r}")


def _pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Any:
    """The `pattern` keyword on the bounded engine: a schema's pattern is a member's pattern too."""
    if validator.is_type(instance, "string"):
        try:
            if pattern_search(pattern_compile(patrn), instance) is None:
                yield jsonschema.ValidationError(f"{instance[:100]!r} does not match {patrn!r}")
        except (PatternTimeout, ScorerConfigError) as exc:
            yield jsonschema.ValidationError(f"pattern {patrn!r}: {exc}")


def _pattern_properties(validator: Any, properties: dict[str, Any], instance: Any, schema: Any) -> Any:
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in properties.items():
        for key, value in instance.items():
            try:
                found = pattern_search(pattern_compile(patrn), key) is not None
            except (PatternTimeout, ScorerConfigError) as exc:
                yield jsonschema.ValidationError(f"patternProperties {patrn!r}: {exc}")
                continue
            if found:
                yield from validator.descend(value, subschema, path=key, schema_path=patrn)


@register
class JsonSchemaScorer(Scorer):
    """Three equal parts: the output is JSON, it satisfies the schema, its fields match the reference."""

    type = "json_schema"

    def __init__(self, *, schema: dict[str, Any] | None = None, fields: list[str] | None = None) -> None:
        super().__init__(schema=schema, fields=fields)
        if schema is not None:
            if not isinstance(schema, dict):
                raise ScorerConfigError("json_schema: schema must be an object")
            _schema_check(schema)
            try:
                validator_cls = jsonschema.validators.validator_for(schema)
                validator_cls.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise ScorerConfigError(f"json_schema: invalid schema: {exc.message}") from exc
            bounded = jsonschema.validators.extend(
                validator_cls, {"pattern": _pattern, "patternProperties": _pattern_properties}
            )
            self.validator = bounded(schema, registry=_NO_RETRIEVAL)
        else:
            self.validator = None
        self.fields = fields

    def _schema_errors(self, value: Any) -> list[str]:
        assert self.validator is not None
        try:
            errors = sorted(self.validator.iter_errors(value), key=lambda e: [str(p) for p in e.path])
        except referencing.exceptions.Unresolvable as exc:
            return [f"unresolvable reference: {exc}"[:200]]
        except RecursionError:
            return ["the schema recursed too deeply on this output"]
        return [e.message[:500] for e in errors]

    def score(self, item: ScoreInput) -> Score:
        try:
            value = extract_json(item.output)
        except (ValueError, RecursionError):
            return Score(0.0, False, {"valid_json": False, "schema_valid": False, "field_match": 0.0})
        parts = [1.0]
        details: dict[str, Any] = {"valid_json": True}
        if self.validator is not None:
            errors = self._schema_errors(value)
            details["schema_valid"] = not errors
            details["schema_errors"] = errors[:5]
            parts.append(0.0 if errors else 1.0)
        reference = item.reference
        if isinstance(reference, str):
            try:
                reference = json.loads(reference)
            except (ValueError, RecursionError):
                reference = None
        if isinstance(reference, dict) and isinstance(value, dict):
            keys = self.fields or sorted(reference)
            matched = sum(1 for k in keys if k in value and value[k] == reference.get(k))
            details["field_match"] = matched / len(keys) if keys else 1.0
            details["fields_mismatched"] = [k for k in keys if value.get(k) != reference.get(k)][:20]
            parts.append(details["field_match"])
        elif reference is not None:
            details["field_match"] = 1.0 if value == reference else 0.0
            parts.append(details["field_match"])
        score = sum(parts) / len(parts)
        return Score(score, score >= self.pass_threshold - 1e-9, details)
