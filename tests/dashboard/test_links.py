"""The README sends readers only to files of this repository (a clone has nothing beside it)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_links_stay_inside_the_repository():
    text = (ROOT / "README.md").read_text()
    assert "../shared" not in text, "the README points outside the repository"
    targets = re.findall(r"\]\(([^)#\s]+)\)", text)
    local = [t for t in targets if not re.match(r"^[a-z]+://", t)]
    assert "docs/API.md" in local
    for target in local:
        assert not target.startswith(".."), target
        assert (ROOT / target).exists(), f"README links to {target}, which the repository lacks"
