"""Patch extraction from model answers (evaluation.patches): shapes models write, and round trips."""

from __future__ import annotations

import difflib
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluation.patches import extract_patch, patch_new_symlinks, patch_paths, patch_touched_files

FILES = {
    "pkg/calc.py": "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a + b\n",
    "pkg/util.py": "X = 1\nY = 2\n",
}
CALC_FIX = (
    "--- a/pkg/calc.py\n+++ b/pkg/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
)


def test_fenced_diff_with_prose_around_and_crlf():
    answer = ("Here is my fix:\r\n\r\n```diff\r\n" + CALC_FIX.replace("\n", "\r\n") + "```\r\n\r\n"
              "This makes add() add.\r\n")
    assert extract_patch(answer) == CALC_FIX


def test_patch_fence_and_bare_diff_with_trailing_prose():
    assert extract_patch("```patch\n" + CALC_FIX + "```") == CALC_FIX
    bare = "I changed one line.\n" + CALC_FIX + "\nThat's it.\n- also a bullet that is prose\n"
    assert extract_patch(bare) == CALC_FIX


def test_several_files_and_hunks_without_prefixes():
    answer = (
        "```diff\n--- pkg/calc.py\n+++ pkg/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n"
        "+    return a + b\n@@ -5,2 +5,2 @@\n def sub(a, b):\n-    return a + b\n+    return a - b\n"
        "--- pkg/util.py\n+++ pkg/util.py\n@@ -1,2 +1,2 @@\n X = 1\n-Y = 2\n+Y = 3\n```"
    )
    patch = extract_patch(answer)
    assert patch.count("--- a/pkg/calc.py\n+++ b/pkg/calc.py\n") == 1
    assert "@@ -5,2 +5,2 @@\n def sub(a, b):" in patch
    assert patch_paths(patch) == ["pkg/calc.py", "pkg/util.py"]
    assert patch_touched_files(patch) == ["pkg/calc.py", "pkg/util.py"]


def test_miscounted_hunk_is_recounted_and_the_blank_lines_before_prose_dropped():
    answer = ("--- a/pkg/calc.py\n+++ b/pkg/calc.py\n@@ -1,9 +1,9 @@\n def add(a, b):\n-    return a - b\n"
              "+    return a + b\n\n\nHope this helps!\n")
    assert extract_patch(answer) == CALC_FIX


def test_removed_and_added_lines_that_look_like_file_headers_stay_in_their_hunk():
    patch = "--- a/notes.md\n+++ b/notes.md\n@@ -1,2 +1,2 @@\n title\n--- old rule\n+++ new rule\n"
    assert extract_patch(f"```diff\n{patch}```") == patch


def test_hunk_without_line_numbers_is_placed_by_its_content():
    answer = "```diff\n--- a/pkg/calc.py\n+++ b/pkg/calc.py\n@@\n def sub(a, b):\n-    return a + b\n+    return a - b\n```"
    assert "@@ -5,2 +5,2 @@\n def sub(a, b):\n" in extract_patch(answer, files=FILES)


def test_whole_file_answers_become_diffs_against_the_snapshot():
    answer = (
        "Replace the file:\n```python pkg/calc.py\ndef add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n"
        "    return a + b\n```\nand add a module:\n```python:pkg/new.py\nZ = 3\n```\n"
    )
    patch = extract_patch(answer, files=FILES)
    assert patch.startswith(CALC_FIX.rsplit("@@", 2)[0])
    assert "-    return a - b\n+    return a + b\n" in patch
    assert "--- /dev/null\n+++ b/pkg/new.py\n@@ -0,0 +1,1 @@\n+Z = 3\n" in patch


def test_no_patch_in_prose_or_code_only():
    assert extract_patch("I could not find the bug, sorry.") == ""
    assert extract_patch("```python\nprint('no path, no diff')\n```") == ""


def test_patch_that_will_not_apply_is_still_returned_normalised():
    answer = "```diff\n--- a/pkg/calc.py\n+++ b/pkg/calc.py\n@@ -40,2 +40,2 @@\n nothing like this\n-is in\n+the file\n```"
    assert extract_patch(answer, files=FILES) == (
        "--- a/pkg/calc.py\n+++ b/pkg/calc.py\n@@ -40,2 +40,2 @@\n nothing like this\n-is in\n+the file\n")


def test_git_headers_modes_and_symlinks_are_kept():
    answer = ("diff --git a/link b/link\nnew file mode 120000\nindex 0000000..1111111\n--- /dev/null\n"
              "+++ b/link\n@@ -0,0 +1 @@\n+/etc\n\\ No newline at end of file\n")
    patch = extract_patch(answer)
    assert patch.startswith("diff --git a/link b/link\nnew file mode 120000\n--- /dev/null\n+++ b/link\n")
    assert "index " not in patch
    assert patch_new_symlinks(patch) == {"link": "/etc"}


# --- properties: generated diffs survive any wrapping ----------------------------------------

_line = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                max_size=20)
_lines = st.lists(_line, min_size=1, max_size=12)
_word = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
_prose = st.lists(st.lists(_word, min_size=1, max_size=8).map(lambda ws: " ".join(ws).capitalize() + "."),
                  max_size=3).map("\n".join)
_path = st.lists(st.text("abcdefghij_", min_size=1, max_size=6), min_size=1, max_size=3).map(
    lambda parts: "/".join(parts) + ".py")


@st.composite
def _edits(draw):  # type: ignore[no-untyped-def]
    """Old and new content of 1-3 distinct files, each changed."""
    paths = draw(st.lists(_path, min_size=1, max_size=3, unique=True))
    edits = {}
    for path in paths:
        old = draw(_lines)
        new = draw(_lines.filter(lambda lines, old=old: lines != old))
        edits[path] = ("\n".join(old) + "\n", "\n".join(new) + "\n")
    return edits


def _unified(edits: dict[str, tuple[str, str]], *, prefixes: bool) -> str:
    """The oracle: difflib's own unified diff of every file."""
    out = []
    for path, (old, new) in edits.items():
        a, b = (f"a/{path}", f"b/{path}") if prefixes else (path, path)
        out += difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), a, b)
    return "".join(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=_edits(), fence=st.sampled_from(["```diff", "```patch", "```", "~~~diff", None]),
       before=_prose, after=_prose, crlf=st.booleans(), prefixes=st.booleans())
def test_round_trip_through_fences_and_prose(edits, fence, before, after, crlf, prefixes):  # type: ignore[no-untyped-def]
    canonical = extract_patch(_unified(edits, prefixes=True))
    body = _unified(edits, prefixes=prefixes)
    if fence:
        body = f"{fence}\n{body}{fence[:3]}\n"
    answer = f"{before}\n\n{body}\n{after}\n" if before or after else body
    if crlf:
        answer = answer.replace("\n", "\r\n")
    assert extract_patch(answer) == canonical
    assert patch_touched_files(canonical) == list(edits)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=_edits(), before=_prose, after=_prose)
def test_extracted_patch_applies_and_yields_the_new_files(edits, before, after):  # type: ignore[no-untyped-def]
    patch = extract_patch(f"{before}\n```diff\n{_unified(edits, prefixes=False)}```\n{after}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for path, (old, _) in edits.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(old)
        done = subprocess.run(["patch", "-p1", "--batch", "--fuzz=0", "-i", "-"], input=patch.encode(), cwd=root,
                              capture_output=True, check=False)
        assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
        for path, (_, new) in edits.items():
            assert (root / path).read_text() == new
