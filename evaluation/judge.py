"""The evaluator agent's judging: prompts, structured output, validation, one repair, verdicts.

Pure of attempts and of the database: callers hand in blinded `JudgeInput`s and a `ProfileSpec`
and get `Verdict`s back. The one call goes through the provider gateway on the profile's own
platform endpoint (`gateway.acomplete_platform`), so limits, retries, pricing and logs apply.

Structured output: the rubric's JSON schema goes to the provider as `response_format`
(`json_schema`; the Anthropic adapter turns it into its structured output, llama.cpp servers take
`json_object` with a schema and build a grammar from it). Whatever comes back is validated against
that schema here; a bad answer gets one repair turn, then the verdict is `invalid` with its reason:
never a silent lowest score, never a pass.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import jsonschema

from evaluation.blinding import Redactor
from evaluation.scorers import extract_json
from providers.interface import CompletionRequest, Endpoint, Message, ProviderError

SCORED, INVALID = "scored", "invalid"
WINNERS = ("A", "B", "tie")
RATIONALE_MAX_CHARS = 600

# Prompt templates are versioned code: a profile names one, and an old version is never edited.
PROMPTS: dict[str, dict[str, str]] = {
    "1": {
        "system": (
            "You are a senior reviewer. You grade a piece of work against a rubric. You are not told who or what "
            "produced the work and it does not matter: judge only the work itself. Reply with one JSON object "
            "and nothing else."
        ),
        "single": (
            "## Task ({kind})\n{task}\n{context}{reference}{validation}\n## The {artifact_name} to grade\n<<<\n"
            "{artifact}\n>>>\n\n## Rubric (integer scores, higher is better)\n{criteria}\n\n"
            "Reply with JSON: {{{fields}}}"
        ),
        "pairwise": (
            "## Task ({kind})\n{task}\n{context}{reference}\n## Answer A\n<<<\n{answer_a}\n>>>\n\n"
            "## Answer B\n<<<\n{answer_b}\n>>>\n\n## What makes an answer better\n{criteria}\n\n"
            "Which answer is better overall? Reply with JSON: "
            "{{{reply}\"winner\": \"A\" | \"B\" | \"tie\"}}"
        ),
        "repair": (
            "Your reply was not valid: {problem}. Reply again with only one JSON object that matches the "
            "requested format exactly."
        ),
    },
}
DEFAULT_PROMPT_VERSION = "1"


@dataclass(frozen=True)
class Criterion:
    key: str
    description: str
    min: int = 1
    max: int = 5
    weight: float = 1.0


@dataclass(frozen=True)
class RubricSpec:
    version: str
    kind: str
    criteria: tuple[Criterion, ...]
    pass_threshold: float

    @classmethod
    def from_data(cls, *, version: str, kind: str, criteria: list[dict[str, Any]], pass_threshold: float) -> RubricSpec:
        return cls(version=version, kind=kind, pass_threshold=float(pass_threshold),
                   criteria=tuple(Criterion(**c) for c in criteria))

    def schema(self, *, rationale_chars: int = RATIONALE_MAX_CHARS) -> dict[str, Any]:
        """The JSON schema of a single-answer verdict: a short rationale (none with `rationale_chars`
        0, for judges too slow to afford one) and one integer per criterion."""
        properties: dict[str, Any] = (
            {"rationale": {"type": "string", "maxLength": rationale_chars}} if rationale_chars else {}
        )
        for c in self.criteria:
            properties[c.key] = {"type": "integer", "enum": list(range(c.min, c.max + 1))}
        return {"type": "object", "properties": properties, "required": list(properties),
                "additionalProperties": False}

    def score(self, answer: dict[str, Any]) -> tuple[dict[str, int], float, bool]:
        """(per-criterion scores, overall in 0..1, passed). Pass is derived from the overall score by
        the rubric's threshold, so the two never contradict."""
        criteria = {c.key: int(answer[c.key]) for c in self.criteria}
        total = sum(c.weight for c in self.criteria)
        overall = sum(c.weight * (criteria[c.key] - c.min) / (c.max - c.min) for c in self.criteria) / total
        overall = round(overall, 6)
        return criteria, overall, overall >= self.pass_threshold - 1e-9


def pairwise_schema(*, rationale_chars: int = RATIONALE_MAX_CHARS) -> dict[str, Any]:
    properties: dict[str, Any] = (
        {"rationale": {"type": "string", "maxLength": rationale_chars}} if rationale_chars else {}
    )
    properties["winner"] = {"type": "string", "enum": list(WINNERS)}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


@dataclass(frozen=True)
class ProfileSpec:
    """What a judge call needs of an `EvaluatorProfile` (built by `evaluation.evaluator`)."""

    id: int
    name: str
    version: int
    model: str
    endpoint: Endpoint = field(repr=False)
    prompt_version: str = DEFAULT_PROMPT_VERSION
    rubric_version: str = "1"
    sampling: dict[str, Any] = field(default_factory=dict)

    @property
    def rationale_chars(self) -> int:
        """Longest rationale asked for (`sampling.rationale_chars`; 0: scores only)."""
        return int(self.sampling.get("rationale_chars", RATIONALE_MAX_CHARS))

    @property
    def response_format_style(self) -> str:
        """`json_schema` (OpenAI, Anthropic, vLLM), `json_object_schema` (llama.cpp) or `none`."""
        default = "json_object_schema" if self.endpoint.provider.value == "local" else "json_schema"
        return str(self.sampling.get("response_format", default))


@dataclass(frozen=True)
class JudgeInput:
    """Everything the judge sees of one attempt. Built from the case and the attempt, then blinded."""

    kind: str
    task: str
    artifact: str
    reference: str = ""
    context: str = ""
    validation: str = ""

    def blinded(self, redact: Redactor) -> JudgeInput:
        return JudgeInput(kind=self.kind, task=redact(self.task), artifact=redact(self.artifact),
                          reference=redact(self.reference), context=redact(self.context),
                          validation=redact(self.validation))


@dataclass(frozen=True)
class JudgeRequest:
    system: str
    user: str
    schema: dict[str, Any]
    input_hash: str


def _sections(item: JudgeInput) -> dict[str, str]:
    return {
        "kind": item.kind,
        "task": item.task or "(no task text)",
        "context": f"\n## Context the answer must be grounded in\n{item.context}\n" if item.context else "",
        "reference": f"\n## Reference answer\n{item.reference}\n" if item.reference else "",
        "validation": f"\n## Validation results of the patch\n{item.validation}\n" if item.validation else "",
    }


def _criteria_text(rubric: RubricSpec) -> str:
    return "\n".join(f"- {c.key} ({c.min}-{c.max}): {c.description}" for c in rubric.criteria)


def _request(profile: ProfileSpec, user: str, schema: dict[str, Any]) -> JudgeRequest:
    template = PROMPTS[profile.prompt_version]
    # Everything that decides the verdict, so that the same input under the same profile version is
    # one cache entry (and a changed prompt, schema or sampling is another).
    digest = hashlib.sha256(json.dumps(
        {"model": profile.model, "system": template["system"], "user": user, "schema": schema,
         "sampling": profile.sampling, "prompt": profile.prompt_version},
        sort_keys=True,
    ).encode()).hexdigest()
    return JudgeRequest(system=template["system"], user=user, schema=schema, input_hash=digest)


def single_request(*, profile: ProfileSpec, rubric: RubricSpec, item: JudgeInput) -> JudgeRequest:
    """The request to grade one (already blinded) answer against the rubric."""
    fields = ", ".join(f'"{c.key}": <{c.min}-{c.max}>' for c in rubric.criteria)
    if profile.rationale_chars:
        fields = '"rationale": "<at most two sentences>", ' + fields
    user = PROMPTS[profile.prompt_version]["single"].format(
        **_sections(item), artifact_name="patch" if item.kind == "pr" else "answer",
        artifact=item.artifact or "(empty)", criteria=_criteria_text(rubric), fields=fields,
    )
    return _request(profile, user, rubric.schema(rationale_chars=profile.rationale_chars))


def pairwise_request(*, profile: ProfileSpec, rubric: RubricSpec, item: JudgeInput, first: str,
                     second: str) -> JudgeRequest:
    """The request to compare two (blinded) answers to one task, `first` shown as A."""
    sections = {k: v for k, v in _sections(item).items() if k != "validation"}
    reply = '"rationale": "<at most two sentences>", ' if profile.rationale_chars else ""
    user = PROMPTS[profile.prompt_version]["pairwise"].format(
        **sections, answer_a=first or "(empty)", answer_b=second or "(empty)", criteria=_criteria_text(rubric),
        reply=reply,
    )
    return _request(profile, user, pairwise_schema(rationale_chars=profile.rationale_chars))


@dataclass(frozen=True)
class Verdict:
    status: str  # scored | invalid
    answer: dict[str, Any] | None = None
    reason: str = ""
    raw: tuple[str, ...] = ()  # every answer text of the judge, the repair turn's included
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal | None = Decimal(0)  # None: some call had no known price
    latency_ms: float = 0.0
    cache_hit: bool = False
    # False when no judge answered (the call failed): not cached, asked again on the next replay.
    cacheable: bool = True

    @property
    def rationale(self) -> str:
        return str((self.answer or {}).get("rationale", ""))

    def as_cache_hit(self) -> Verdict:
        return replace(self, cache_hit=True)


def parse_answer(text: str, schema: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """(answer, "") when `text` holds JSON valid under `schema`, else (None, the problem)."""
    try:
        value = extract_json(text)
    except ValueError:
        return None, "the reply is not JSON"
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "the object"
        return None, f"{where}: {errors[0].message}"[:300]
    return value, ""


def _response_format(profile: ProfileSpec, schema: dict[str, Any]) -> dict[str, Any] | None:
    style = profile.response_format_style
    if style == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema, "strict": True}}
    if style == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    return None


async def ajudge(*, profile: ProfileSpec, request: JudgeRequest) -> Verdict:
    """Ask the judge; validate; on a bad answer one repair turn; else an `invalid` verdict with why."""
    from providers.gateway import acomplete_platform

    messages = [Message(role="user", content=request.user)]
    raws: list[str] = []
    tokens_in = tokens_out = 0
    cost: Decimal | None = Decimal(0)
    latency = 0.0
    problem = ""
    sampling = profile.sampling
    for _ in range(2):
        call = CompletionRequest(
            model=profile.model, system=request.system, messages=tuple(messages),
            temperature=float(sampling.get("temperature", 0.0)), seed=sampling.get("seed", 0),
            max_tokens=int(sampling.get("max_tokens", 400)), timeout=sampling.get("timeout"),
            response_format=_response_format(profile, request.schema),
        )
        try:
            result = await acomplete_platform(endpoint=profile.endpoint, request=call)
        except ProviderError as exc:
            return Verdict(status=INVALID, reason=f"evaluator call failed ({exc.type}): {exc.message}"[:500],
                           raw=tuple(raws), input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=cost,
                           latency_ms=latency, cacheable=False)
        raws.append(result.text)
        tokens_in += result.usage.input_tokens
        tokens_out += result.usage.output_tokens
        cost = None if cost is None or result.cost_usd is None else cost + result.cost_usd
        latency += result.latency_ms
        answer, problem = parse_answer(result.text, request.schema)
        if answer is not None:
            return Verdict(status=SCORED, answer=answer, raw=tuple(raws), input_tokens=tokens_in,
                           output_tokens=tokens_out, cost_usd=cost, latency_ms=latency)
        messages += [Message(role="assistant", content=result.text),
                     Message(role="user", content=PROMPTS[profile.prompt_version]["repair"].format(problem=problem))]
    return Verdict(status=INVALID, reason=f"no valid answer after one repair: {problem}", raw=tuple(raws),
                   input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=cost, latency_ms=latency)


def pairwise_outcome(first_order: str | None, second_order: str | None) -> float | None:
    """The outcome for the answer shown first in `first_order` (A) and second in `second_order` (B):
    1 win, 0 loss, ½ tie. A win counts only when both orders agree on it; a judge that prefers a
    position (A, then A again) thus yields a tie. None when either order gave no verdict."""
    if first_order not in WINNERS or second_order not in WINNERS:
        return None
    if first_order == "A" and second_order == "B":
        return 1.0
    if first_order == "B" and second_order == "A":
        return 0.0
    return 0.5
