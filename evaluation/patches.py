"""The patch in a model's answer, normalised to one unified diff.

Models answer in many shapes: a fenced ```diff / ```patch block or a bare unified diff, with prose
before, between or after, several hunks and files, `a/`/`b/` prefixes or none, CRLF line ends,
hunk headers whose counts are off; or whole files (```python path/to/file.py) instead of a diff.
`extract_patch` turns all of them into one canonical diff: `--- a/<path>` / `+++ b/<path>` (or
`/dev/null`), hunk counts recomputed from the hunk lines, git extended headers (modes, renames)
kept. It returns the normalised patch even when it will not apply: the attempt stores what the
model proposed, and applying it is the validation's job.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

DEV_NULL = "/dev/null"
_HUNK = re.compile(r"^@@+ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@+(.*)$")
_BARE_HUNK = re.compile(r"^@@+(?: .*?)?(?: @@+)?(.*)$")  # "@@" without line numbers: placed by content
_GIT_HEADER = re.compile(r"^diff --git (\S+) (\S+)$")
# Extended header lines of `git diff` kept in the normalised patch (an `index` line is dropped:
# its hashes only matter to a three-way merge, and a hand-written one is usually wrong).
_KEPT_HEADERS = ("old mode ", "new mode ", "deleted file mode ", "new file mode ", "rename from ",
                 "rename to ", "copy from ", "copy to ", "similarity index ", "dissimilarity index ")
_OTHER_HEADERS = ("index ", "Binary files ", "GIT binary patch")
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_DIFF_LANGS = {"diff", "patch", "udiff", "git"}
_PATH_TOKEN = re.compile(r"^[\w][\w.\-/]*\.\w+$")


@dataclass
class Hunk:
    old_start: int | None  # None: the header had no line numbers; placed by its content if we can
    new_start: int | None
    section: str = ""
    lines: list[str] = field(default_factory=list)  # each starts with " ", "+", "-" or "\\"

    @property
    def old_count(self) -> int:
        return sum(1 for line in self.lines if line[:1] in (" ", "-"))

    @property
    def new_count(self) -> int:
        return sum(1 for line in self.lines if line[:1] in (" ", "+"))


@dataclass
class FilePatch:
    old_path: str | None  # None for a new file (/dev/null)
    new_path: str | None  # None for a deleted file
    headers: list[str] = field(default_factory=list)
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


# --- parsing -----------------------------------------------------------------------------------


def _path_of(raw: str) -> str:
    """`--- a/x.py\t2024-01-01 ...` -> `a/x.py`; git's quoted names unquoted."""
    raw = raw.split("\t", 1)[0].strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1").decode(
            "utf-8", "replace")
    return raw


def _strip_prefix(path: str, prefix: str, files: Mapping[str, str] | None) -> str:
    if path == DEV_NULL:
        return path
    if path.startswith(prefix):
        # A repo may hold a top-level `a/` or `b/` directory: the snapshot decides.
        if files and path in files and path[2:] not in files:
            return path
        return path[2:]
    return path


def _is_file_start(lines: list[str], i: int) -> bool:
    line = lines[i]
    if _GIT_HEADER.match(line):
        return True
    return line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")


def _read_hunk(lines: list[str], i: int, hunk: Hunk, old_count: int | None, new_count: int | None) -> int:
    """Reads hunk lines from `i`; returns the index after them. With counts from the header it
    stops where they are met; a line that cannot be a hunk line ends it early (a miscounted hunk
    is recounted when rendered). An empty line is a blank context line whose space was lost."""
    olds = news = 0
    while i < len(lines):
        line = lines[i]
        if old_count is not None and new_count is not None and olds >= old_count and news >= new_count:
            if line.startswith("\\"):
                hunk.lines.append(line)
                i += 1
                continue
            break
        if line.startswith("@@") or _is_file_start(lines, i) and (
                old_count is None or line.startswith("diff --git ") or lines[i + 2 : i + 3] == ["@@"]
                or _HUNK.match(lines[i + 2] if i + 2 < len(lines) else "")):
            # Within its counts, "--- x" + "+++ y" is a removed "-- x" and an added "++ y" unless a
            # hunk header follows them.
            break
        if line == "":
            line = " "
        kind = line[:1]
        if kind not in (" ", "+", "-", "\\"):
            break
        hunk.lines.append(line)
        olds += kind in (" ", "-")
        news += kind in (" ", "+")
        i += 1
    # Blank lines taken as context at the end of an early-stopped hunk were the prose's spacing.
    while hunk.lines and hunk.lines[-1] == " " and (old_count is None or olds < old_count):
        hunk.lines.pop()
        olds -= 1
    return i


def _read_file(lines: list[str], i: int, files: Mapping[str, str] | None) -> tuple[FilePatch | None, int]:
    headers: list[str] = []
    git = _GIT_HEADER.match(lines[i])
    old_path = new_path = None
    if git:
        old_path, new_path = _path_of(git.group(1)), _path_of(git.group(2))
        i += 1
        while i < len(lines) and not lines[i].startswith(("--- ", "@@", "diff --git ")):
            line = lines[i]
            if line.startswith(_KEPT_HEADERS):
                headers.append(line)
            elif not line.startswith(_OTHER_HEADERS):
                break
            i += 1
        if any(h.startswith("new file mode ") for h in headers):
            old_path = DEV_NULL
        if any(h.startswith("deleted file mode ") for h in headers):
            new_path = DEV_NULL
    if i + 1 < len(lines) and lines[i].startswith("--- ") and lines[i + 1].startswith("+++ "):
        old_path, new_path = _path_of(lines[i][4:]), _path_of(lines[i + 1][4:])
        i += 2
    if old_path is None or new_path is None:
        return None, i
    both_prefixed = (old_path.startswith("a/") or old_path == DEV_NULL) and (
        new_path.startswith("b/") or new_path == DEV_NULL)
    if both_prefixed:
        old_path, new_path = _strip_prefix(old_path, "a/", files), _strip_prefix(new_path, "b/", files)
    patch = FilePatch(
        old_path=None if old_path == DEV_NULL else old_path,
        new_path=None if new_path == DEV_NULL else new_path,
        headers=headers,  # git writes rename/copy paths without a/ b/ prefixes
    )
    while i < len(lines):
        header = _HUNK.match(lines[i])
        bare = None if header else _BARE_HUNK.match(lines[i]) if lines[i].startswith("@@") else None
        if header:
            hunk = Hunk(int(header.group(1)), int(header.group(3)), header.group(5))
            old_count = int(header.group(2)) if header.group(2) is not None else 1
            new_count = int(header.group(4)) if header.group(4) is not None else 1
            i = _read_hunk(lines, i + 1, hunk, old_count, new_count)
        elif bare:
            hunk = Hunk(None, None, bare.group(1))
            i = _read_hunk(lines, i + 1, hunk, None, None)
        else:
            break
        if hunk.lines:
            patch.hunks.append(hunk)
    if not patch.hunks and not patch.headers:
        return None, i
    return patch, i


def parse_patch(text: str, *, files: Mapping[str, str] | None = None) -> list[FilePatch]:
    """Every file patch found in `text`; lines that belong to none (prose, fences) are skipped."""
    lines = text.replace("\r\n", "\n").split("\n")
    patches: list[FilePatch] = []
    i = 0
    while i < len(lines):
        if _is_file_start(lines, i):
            patch, i = _read_file(lines, i, files)
            if patch is not None:
                patches.append(patch)
        else:
            i += 1
    return patches


# --- fences and whole files --------------------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    info: str
    body: str


def _fenced_blocks(text: str) -> list[_Block]:
    lines = text.split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence = opening.group("fence")
        body = []
        j = i + 1
        while j < len(lines):
            closing = _FENCE.match(lines[j])
            if closing and closing.group("fence")[0] == fence[0] and len(closing.group("fence")) >= len(fence) \
                    and not closing.group("info").strip():
                break
            body.append(lines[j])
            j += 1
        blocks.append(_Block(opening.group("info").strip(), "\n".join(body)))
        i = j + 1
    return blocks


def _block_path(info: str) -> str | None:
    """The file a whole-file block names: ```python path/to/x.py, ```python:path/x.py, ```path/x.py,
    ```python title="path/x.py"."""
    tokens = re.split(r"[\s:]+", info.replace('"', " ").replace("'", " ").replace("title=", " "))
    for token in tokens:
        if token and "." in token and _PATH_TOKEN.match(token) and not token.startswith("."):
            return token
    return None


def file_diff(path: str, old: str | None, new: str | None) -> str:
    """The unified diff turning `old` into `new` at `path` (None: the file does not exist)."""
    a = (old or "").splitlines(keepends=True)
    b = (new or "").splitlines(keepends=True)
    out = []
    for line in difflib.unified_diff(a, b, DEV_NULL if old is None else f"a/{path}",
                                     DEV_NULL if new is None else f"b/{path}", n=3):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


# --- rendering ---------------------------------------------------------------------------------


def _place(hunk: Hunk, content: str | None) -> int:
    """The old-side start of a hunk given without line numbers: where its old lines are in the file."""
    old = [line[1:] for line in hunk.lines if line[:1] in (" ", "-")]
    if not old:
        return 0  # pure addition without context: nothing to place it by
    if content is None:
        return 1
    haystack = content.split("\n")
    for start in range(len(haystack) - len(old) + 1):
        if haystack[start : start + len(old)] == old:
            return start + 1
    return 1


def render_patch(patches: list[FilePatch], *, files: Mapping[str, str] | None = None) -> str:
    out: list[str] = []
    for patch in patches:
        old = f"a/{patch.old_path}" if patch.old_path else DEV_NULL
        new = f"b/{patch.new_path}" if patch.new_path else DEV_NULL
        if patch.headers:
            out.append(f"diff --git a/{patch.old_path or patch.new_path} b/{patch.new_path or patch.old_path}")
            out.extend(patch.headers)
        if patch.hunks:
            out += [f"--- {old}", f"+++ {new}"]
        shift = 0  # how far earlier hunks moved the new side, for hunks placed by content
        for hunk in patch.hunks:
            old_count, new_count = hunk.old_count, hunk.new_count
            old_start, new_start = hunk.old_start, hunk.new_start
            if old_start is None:
                old_start = _place(hunk, (files or {}).get(patch.old_path or ""))
            if new_start is None:
                # A side with no lines names the line before the hunk, as diff writes it.
                first = old_start if old_count else old_start + 1
                new_start = first + shift if new_count else first + shift - 1
            shift += new_count - old_count
            section = hunk.section if not hunk.section or hunk.section.startswith(" ") else " " + hunk.section
            out.append(f"@@ -{old_start},{old_count} +{new_start},{new_count} @@{section.rstrip()}")
            out.extend(hunk.lines)
    return "\n".join(out) + "\n" if out else ""


def extract_patch(output: str, *, files: Mapping[str, str] | None = None) -> str:
    """The normalised unified diff in a model's answer, or "" when it holds none.

    Fenced diff blocks win over diff text elsewhere (prose may quote diff-like lines); without
    them, the whole answer is read as a bare diff with prose around it. Whole-file blocks
    (```python path/to/file.py) become diffs against `files`, the case's repo snapshot, for the
    paths no diff touches.
    """
    text = output.replace("\r\n", "\n")
    blocks = _fenced_blocks(text)
    fenced = [b for b in blocks if b.info.split(" ")[0].lower() in _DIFF_LANGS or (
        not b.info and parse_patch(b.body, files=files))]
    patches: list[FilePatch] = []
    for block in fenced:
        patches += parse_patch(block.body, files=files)
    if not patches:
        patches = parse_patch(text, files=files)
    touched = {p.path for p in patches}
    for block in blocks:
        path = _block_path(block.info)
        if path is None or path in touched or block.info.split(" ")[0].lower() in _DIFF_LANGS:
            continue
        new = block.body if block.body.endswith("\n") else block.body + "\n"
        old = (files or {}).get(path)
        if old == new:
            continue
        patches += parse_patch(file_diff(path, old, new), files=files)
        touched.add(path)
    return render_patch(patches, files=files)


def case_repo_files(payload: Mapping[str, object]) -> dict[str, str] | None:
    """A `pr` case's repo snapshot (`repo.files`), or None when the case has none."""
    repo = payload.get("repo")
    files = repo.get("files") if isinstance(repo, dict) else None
    return files if isinstance(files, dict) else None


def pr_patch(output: str, payload: Mapping[str, object]) -> str:
    """The normalised patch of an answer to a `pr` case (whole files diffed against its snapshot)."""
    return extract_patch(output, files=case_repo_files(payload))


def patch_paths(patch: str) -> list[str]:
    """Every path a (normalised) patch names, old and new sides, renames and copies included."""
    paths: list[str] = []
    for file_patch in parse_patch(patch):
        for path in (file_patch.old_path, file_patch.new_path):
            if path and path not in paths:
                paths.append(path)
        for header in file_patch.headers:
            for kind in ("rename from ", "rename to ", "copy from ", "copy to "):
                if header.startswith(kind) and header[len(kind):] not in paths:
                    paths.append(header[len(kind):])
    return paths


def patch_touched_files(patch: str) -> list[str]:
    """The files a patch leaves in place with new content (deleted files excluded)."""
    return list(dict.fromkeys(p.new_path for p in parse_patch(patch) if p.new_path))


def patch_new_symlinks(patch: str) -> dict[str, str]:
    """`{path: target}` of the symlinks a patch creates or turns a file into (git mode 120000)."""
    links = {}
    for file_patch in parse_patch(patch):
        if file_patch.new_path and any(h.endswith(" 120000") for h in file_patch.headers if "mode" in h):
            added = [line[1:] for hunk in file_patch.hunks for line in hunk.lines if line.startswith("+")]
            links[file_patch.new_path] = added[0] if added else ""
    return links
