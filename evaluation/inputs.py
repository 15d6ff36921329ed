"""What the judge sees of a case and an answer, built from plain payloads (no attempt, no arm).

Long fields are clipped (the judge's context is finite); `JudgeInput.blinded` then removes every
identity before anything reaches a prompt.
"""

from __future__ import annotations

import json
from typing import Any

from evaluation.judge import JudgeInput
from evaluation.services import case_reference

TASK_MAX_CHARS = 8000
ARTIFACT_MAX_CHARS = 12000
LOG_MAX_CHARS = 1500


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n[... {len(text) - limit} more characters]"


def _task_text(kind: str, payload: dict[str, Any]) -> str:
    if kind == "pr":
        files = (payload.get("repo") or {}).get("files") or {}
        listing = "\n".join(f"--- {path}\n{content}" for path, content in sorted(files.items()))
        return f"{payload.get('instruction', '')}\n\nRepository files:\n{listing}"
    if kind == "rag":
        return _text(payload.get("question"))
    if kind == "data_cleaning":
        return f"Clean this table (accuracy, completeness, consistency, uniqueness):\n{payload.get('dirty', '')}"
    prompt = payload.get("input")
    if isinstance(prompt, list):
        return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in prompt if isinstance(m, dict))
    return _text(prompt)


def _validation_text(validation: dict[str, Any]) -> str:
    """PR validation as the judge sees it: each step's status and exit code, and the last log lines."""
    steps = validation.get("steps") or []
    if not steps:
        return ""
    lines = [f"{s.get('name')}: {s.get('status')} (exit {s.get('exit_code')})" for s in steps]
    logs = "\n".join(_text(s.get("log")) for s in steps if s.get("log"))
    return "\n".join(lines) + (f"\nLog (end):\n{logs[-LOG_MAX_CHARS:]}" if logs else "")


def judge_task(*, kind: str, payload: dict[str, Any]) -> JudgeInput:
    """The case part of what the judge sees (task, reference, context), no answer yet."""
    return JudgeInput(kind=kind, task=_clip(_task_text(kind, payload), TASK_MAX_CHARS), artifact="",
                      reference=_clip(_text(case_reference(kind, payload)), TASK_MAX_CHARS),
                      context=_clip(_text(payload.get("context")), TASK_MAX_CHARS))


def artifact_of(*, kind: str, output: str, patch: str) -> str:
    return _clip((patch or output) if kind == "pr" else output, ARTIFACT_MAX_CHARS)


def judge_input(*, kind: str, payload: dict[str, Any], output: str, patch: str = "",
                validation: dict[str, Any] | None = None) -> JudgeInput:
    task = judge_task(kind=kind, payload=payload)
    return JudgeInput(kind=kind, task=task.task, reference=task.reference, context=task.context,
                      artifact=artifact_of(kind=kind, output=output, patch=patch),
                      validation=_validation_text(validation or {}) if kind == "pr" else "")
