"""An OpenAI-compatible fake that answers data-cleaning prompts with cleaned CSVs.

It knows the cases' tables (`tables`: dirty CSV -> clean CSV) and answers by model name:
`cleaner` the clean table in a ```csv fence plus a justification naming each removed duplicate,
`lazy` the dirty table unchanged, anything else the plain echo. Everything else (usage, streaming,
errors, scripting) is `FakeOpenAI`'s.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.base import Reply
from tests.fakes.openai_server import FakeOpenAI


class CleaningFake(FakeOpenAI):
    def __init__(self, *, tables: dict[str, str], duplicates: dict[str, list[int]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tables = tables
        self.duplicates = duplicates or {}

    def answer(self, body: dict[str, Any]) -> str | None:
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user")
        dirty = next((d for d in self.tables if d in prompt), None)
        if dirty is None:
            return None
        if body.get("model") == "cleaner":
            named = "".join(f" Removed row {r + 1}, a duplicate." for r in self.duplicates.get(dirty, []))
            return f"```csv\n{self.tables[dirty]}```\nJustification:{named or ' nothing to remove.'}"
        if body.get("model") == "lazy":
            return dirty
        return None

    async def _prelude(self, request: web.Request) -> tuple[Any, Reply, web.StreamResponse | None]:
        body, reply, settled = await super()._prelude(request)
        if settled is None and reply.text is None and isinstance(body, dict):
            text = self.answer(body)
            if text is not None:
                reply = Reply.ok(text)
        return body, reply, settled
