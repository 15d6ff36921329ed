"""Judges for evaluator tests: fake OpenAI/Anthropic servers in judge mode, and profiles pointing at them.

A judge here is a `responder` on a fake wire server (tests/fakes): it reads the real request the
SDK sent (the rubric's schema in `response_format`, the prompt) and answers as a model would. The
SDKs, the gateway and the database are all real.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from evaluation.evaluator import evaluator_profile_create
from evaluation.models import EvaluatorProfile
from tests.fakes.base import FakeServer
from tests.fakes.openai_server import FakeOpenAI

JUDGE_KEY = "sk-platform-judge-secret-9d8c7b6a"
RATIONALE = "JUDGE-RATIONALE-internal-only"


def user_text(body: dict[str, Any]) -> str:
    users = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
    return users[0] if users else ""


def schema_of(body: dict[str, Any]) -> dict[str, Any]:
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return response_format["json_schema"]["schema"]
    return response_format.get("schema") or (body.get("output_config") or {}).get("format", {}).get("schema") or {}


def answer_of(prompt: str, label: str) -> str:
    match = re.search(rf"## Answer {label}\n<<<\n(.*?)\n>>>", prompt, re.DOTALL)
    return match.group(1) if match else ""


def judge(*, score: Callable[[str], int] | int = 4,
          winner: Callable[[str, str], str] | str = "A") -> Callable[[dict[str, Any]], str]:
    """A well-behaved judge: integer scores for a single answer (`score(prompt)`), a winner for a pair
    (`winner(answer_a, answer_b)`), always with a rationale that must never reach org users."""

    def respond(body: dict[str, Any]) -> str:
        prompt = user_text(body)
        properties = schema_of(body).get("properties") or {}
        if "winner" in properties:
            chosen = winner(answer_of(prompt, "A"), answer_of(prompt, "B")) if callable(winner) else winner
            return json.dumps({"rationale": f"{RATIONALE}: compared", "winner": chosen})
        value = score(prompt) if callable(score) else score
        return json.dumps({"rationale": f"{RATIONALE}: graded",
                           **{key: value for key in properties if key != "rationale"}})

    return respond


@pytest.fixture
def judge_server() -> Iterator[FakeOpenAI]:
    """A fake OpenAI server answering as a well-behaved judge (4 of 5 everywhere, prefers A)."""
    server = FakeOpenAI(api_key=JUDGE_KEY).start()
    server.responder = judge()
    yield server
    server.stop()


def judge_profile(server: FakeServer, *, name: str = "judge", model: str = "gpt-4.1-mini", provider: str = "openai",
                  **fields: Any) -> EvaluatorProfile:
    """A platform profile on a fake server (the platform's own key; no org credential involved)."""
    base_url = server.url + ("/v1" if provider in ("openai", "local") else "")
    return evaluator_profile_create(name=name, provider=provider, model=model, base_url=base_url,
                                    api_key=JUDGE_KEY if provider != "local" else None,
                                    config={"max_concurrency": 4}, **fields)
