"""PR validation: does a model's patch apply, lint, build and pass the case's tests? (`pr_tests`)

One validation, in a fresh workspace holding the case's repo snapshot (`repo.files`):

1. apply the normalised patch, strictly (`git apply`, no fuzz) and else with fuzz (`patch -F3`),
   recording which; a patch naming a path outside the repo (`../x`, `/abs`) or creating a symlink
   that points out of it is refused before anything runs;
2. write the case's `tests` files over whatever the patch did to them;
3. lint: ruff, error rules only (syntax, undefined names...), on the Python files the patch touched;
4. build: `python -m compileall` of those files;
5. test: the case's `test_command` (default `pytest -q`; pytest also writes a JUnit report, read for
   per-test partial credit).

Every step runs in the bubblewrap sandbox (`evaluation.sandbox`), the apply step too: `patch` and
`git apply` parse hostile input. The host only writes the snapshot and the tests (through
directory descriptors that refuse symlinks) and reads the JUnit report (refusing a symlink).
Validations per machine are bounded by `BENCHHUB_SANDBOX_CONCURRENCY` slots.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shlex
import stat
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evaluation import sandbox
from evaluation.patches import case_repo_files, patch_new_symlinks, patch_paths, patch_touched_files, pr_patch
from evaluation.scorers import Score, ScoreInput, Scorer, ScorerConfigError, register

REPO = f"{sandbox.WORKSPACE}/repo"
META = f"{sandbox.WORKSPACE}/meta"
JUNIT = f"{META}/junit.xml"
DEFAULT_TEST_COMMAND = "pytest -q"
# Lint reports errors, not style: syntax errors, invalid comparisons and statements, undefined names.
LINT_RULES = "E9,F63,F7,F82"
# apply, lint and build are quick; a stuck one is stopped long before the tests' own limit.
_TOOL_LIMITS = {"wall_seconds": 30.0, "cpu_seconds": 30}
_JUNIT_MAX_BYTES = 5 * 1024**2
UNSAFE_PATH = "unsafe_path"


class UnsafePath(ValueError):
    """A path that would leave the workspace (absolute, `..`, through a symlink)."""


@dataclass
class Step:
    name: str
    status: str = "skipped"  # passed | failed | skipped | error
    exit_code: int | None = None
    duration_ms: int = 0
    log: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "exit_code": self.exit_code,
                "duration_ms": self.duration_ms, "log": self.log, **self.extra}

    def record(self, result: sandbox.SandboxResult) -> Step:
        self.exit_code, self.duration_ms, self.log = result.exit_code, result.duration_ms, result.log
        self.status = "passed" if result.ok else "failed"
        if result.reason:
            self.extra["reason"] = result.reason
        return self

    def fail(self, log: str, *, reason: str | None = None, status: str = "failed") -> Step:
        self.status, self.log = status, log
        if reason:
            self.extra["reason"] = reason
        return self


@dataclass
class Validation:
    steps: list[Step]
    limits: sandbox.Limits
    tests: dict[str, int] | None = None  # JUnit counts: passed, failed, errors, skipped, total
    apply_mode: str | None = None

    @property
    def passed(self) -> bool:
        return all(step.status in ("passed", "skipped") for step in self.steps) and self.step("test").status == "passed"

    def step(self, name: str) -> Step:
        return next(step for step in self.steps if step.name == name)

    @property
    def reason(self) -> str | None:
        for step in self.steps:
            if step.status in ("failed", "error"):
                return step.extra.get("reason") or f"{step.name}_failed"
        return None

    @property
    def value(self) -> float:
        """1 when the tests pass; otherwise the share of tests that passed, where pytest said."""
        test = self.step("test")
        if test.status == "passed":
            return 1.0
        if test.status == "skipped" or not self.tests or not self.tests["total"]:
            return 0.0
        return self.tests["passed"] / self.tests["total"]

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "steps": [step.as_dict() for step in self.steps],
                "sandbox": self.limits.as_dict(), "apply_mode": self.apply_mode, "tests": self.tests}


# --- paths -------------------------------------------------------------------------------------


def safe_relative(path: str) -> str:
    """`path` when it stays inside the repo, else UnsafePath."""
    if not path or "\x00" in path or path.startswith(("/", "\\")) or ":" in path.split("/")[0][1:2]:
        raise UnsafePath(f"absolute path {path!r}")
    parts = path.split("/")
    if any(part in ("..",) for part in parts) or posixpath.normpath(path).startswith(".."):
        raise UnsafePath(f"path {path!r} leaves the repository")
    if parts[0] == ".git":
        raise UnsafePath(f"path {path!r} is inside .git")
    return posixpath.normpath(path)


def patch_check_paths(patch: str) -> None:
    """Refuse a patch that names a path outside the repo or makes a symlink leading out of it
    (or writes through a symlink it makes)."""
    paths = [safe_relative(path) for path in patch_paths(patch)]
    links = patch_new_symlinks(patch)
    for link, target in links.items():
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link), target))
        if not target or target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise UnsafePath(f"symlink {link!r} -> {target!r} points outside the repository")
    for path in paths:
        for link in links:
            if path.startswith(link.rstrip("/") + "/"):
                raise UnsafePath(f"{path!r} is written through the symlink {link!r}")


def _write_tree(root: Path, files: Mapping[str, str], *, uid: int | None) -> None:
    """Write `files` under `root` without ever following a symlink (the sandbox may have left some)."""
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for path, content in files.items():
            parts = safe_relative(path).split("/")
            dir_fd = os.dup(root_fd)
            try:
                for part in parts[:-1]:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=dir_fd)
                    try:
                        next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
                    except OSError as exc:
                        raise UnsafePath(f"{path!r}: {part!r} is not a plain directory") from exc
                    os.close(dir_fd)
                    dir_fd = next_fd
                    if uid is not None:
                        os.fchown(dir_fd, uid, uid)
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    if stat.S_ISLNK(os.lstat(parts[-1], dir_fd=dir_fd).st_mode):
                        os.unlink(parts[-1], dir_fd=dir_fd)
                try:
                    fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
                except OSError as exc:
                    raise UnsafePath(f"{path!r} cannot be written: {exc.strerror}") from exc
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                    handle.write(content if isinstance(content, str) else str(content))
                    if uid is not None:
                        os.fchown(handle.fileno(), uid, uid)
            finally:
                os.close(dir_fd)
    finally:
        os.close(root_fd)


def _escaping_symlinks(root: Path) -> list[str]:
    """Symlinks under `root` whose target leaves it (checked after the patch applied)."""
    found = []
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(directory, name)
            if os.path.islink(full):
                rel = os.path.relpath(full, root)
                target = os.readlink(full)
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
                if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
                    found.append(f"{rel} -> {target}")
    return found


def _read_junit(meta: Path) -> dict[str, int] | None:
    """pytest's counts from `meta/junit.xml`. The sandbox could have swapped `meta` or the file for
    a symlink into the host: neither is followed."""
    try:
        dir_fd = os.open(meta, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fd = os.open("junit.xml", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        return None
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        raw = handle.read(_JUNIT_MAX_BYTES + 1)
    if len(raw) > _JUNIT_MAX_BYTES:
        return None
    try:
        root = ElementTree.fromstring(raw)  # noqa: S314 - no entities are expanded by ElementTree
    except ElementTree.ParseError:
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in counts:
            with contextlib.suppress(ValueError):
                counts[key] += int(suite.get(key, "0"))
    total = counts["tests"] - counts["skipped"]
    failed = counts["failures"] + counts["errors"]
    return {"passed": max(total - failed, 0), "failed": counts["failures"], "errors": counts["errors"],
            "skipped": counts["skipped"], "total": max(total, 0)}


# --- the pipeline ------------------------------------------------------------------------------


def _test_argv(test_command: str) -> list[str]:
    """pytest runs under this worker's interpreter with a JUnit report; anything else through sh."""
    try:
        argv = shlex.split(test_command)
    except ValueError:
        argv = []
    python = sandbox.sandbox_python()
    if argv and argv[0] in ("pytest", "py.test"):
        argv = [python, "-m", "pytest", *argv[1:]]
    elif len(argv) >= 3 and argv[0] in ("python", "python3") and argv[1:3] == ["-m", "pytest"]:
        argv = [python, *argv[1:]]
    else:
        return ["/bin/sh", "-c", test_command]
    return [*argv, "-p", "no:cacheprovider", f"--junitxml={JUNIT}"]


def _ruff() -> str | None:
    try:
        from ruff.__main__ import find_ruff_bin
    except ImportError:
        return None
    try:
        return os.fsdecode(find_ruff_bin())
    except FileNotFoundError:
        return None


def pr_validate(
    *, patch: str, files: Mapping[str, str], tests: Mapping[str, str] | None = None,
    test_command: str | None = None, limits: sandbox.Limits | None = None, concurrency: int | None = None,
) -> Validation:
    """Apply, lint, build and test `patch` against the repo snapshot `files` in the sandbox."""
    limits = limits or sandbox.sandbox_limits()
    tool_limits = replace(limits, wall_seconds=min(limits.wall_seconds, _TOOL_LIMITS["wall_seconds"]),
                          cpu_seconds=min(limits.cpu_seconds, _TOOL_LIMITS["cpu_seconds"]))
    steps = [Step("apply"), Step("lint"), Step("build"), Step("test")]
    validation = Validation(steps=steps, limits=limits)
    apply, lint, build, test = steps
    if not patch.strip():
        apply.fail("no patch found in the answer")
        return validation
    try:
        patch_check_paths(patch)
        for path in [*files, *(tests or {})]:
            safe_relative(path)
    except UnsafePath as exc:
        apply.fail(f"refused: {exc}", reason=UNSAFE_PATH)
        return validation
    unavailable = sandbox.sandbox_unavailable_reason()
    if unavailable:
        apply.fail(unavailable, reason=sandbox.UNAVAILABLE, status="error")
        return validation

    with sandbox.sandbox_slot(concurrency=concurrency) as slot, sandbox.workspace_create(slot=slot) as workspace:
        uid = sandbox.slot_uid(slot) if os.geteuid() == 0 else None
        repo, meta = workspace / "repo", workspace / "meta"
        repo.mkdir()
        meta.mkdir()
        _write_tree(repo, files, uid=uid)
        _write_tree(meta, {"patch.diff": patch}, uid=uid)
        sandbox.workspace_hand_over(workspace, slot=slot)

        def run(argv: list[str], step_limits: sandbox.Limits) -> sandbox.SandboxResult:
            return sandbox.sandbox_run(argv, workspace=workspace, limits=step_limits, slot=slot, cwd=REPO,
                                       env={"GIT_CONFIG_NOSYSTEM": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})

        _apply(apply, validation, run, tool_limits)
        if apply.status != "passed":
            return validation
        escaping = _escaping_symlinks(repo)
        if escaping:
            apply.fail("refused: symlinks leading out of the repository: " + ", ".join(escaping[:5]),
                       reason=UNSAFE_PATH)
            return validation
        try:
            _write_tree(repo, dict(tests or {}), uid=uid)
        except UnsafePath as exc:  # the patch put a symlink where a test file goes
            apply.fail(f"refused: {exc}", reason=UNSAFE_PATH)
            return validation

        python_files = [p for p in patch_touched_files(patch) if p.endswith(".py") and (repo / p).is_file()]
        if python_files:
            ruff = _ruff()
            if ruff is None:
                lint.fail("ruff is not installed on this worker", status="error")
            else:
                lint.record(run([ruff, "check", "--isolated", "--no-cache", "--select", LINT_RULES,
                                 "--output-format", "concise", "--", *python_files], tool_limits))
            build.record(run([sandbox.sandbox_python(), "-m", "compileall", "-q", "-f", "--", *python_files],
                             tool_limits))
            if build.status != "passed":
                return validation
        test.record(run(_test_argv(test_command or DEFAULT_TEST_COMMAND), limits))
        validation.tests = _read_junit(meta)
        if validation.tests is not None:
            test.extra["tests"] = validation.tests
    return validation


def _apply(step: Step, validation: Validation, run: Any, limits: sandbox.Limits) -> None:
    """Strict first (`git apply`: exact context, no fuzz), then `patch` with fuzz (dry run first,
    so a half-applied patch never reaches the tests)."""
    started = time.monotonic()
    strict = run(["git", "apply", "--verbose", "--whitespace=nowarn", f"{META}/patch.diff"], limits)
    logs = [f"$ git apply (strict)\n{strict.log}"]
    if strict.ok:
        validation.apply_mode = "strict"
        outcome = strict
    else:
        fuzz_args = ["patch", "-p1", "--forward", "--batch", "--fuzz=3", "--no-backup-if-mismatch",
                     "--reject-file=-", "-i", f"{META}/patch.diff"]
        outcome = run([*fuzz_args, "--dry-run"], limits)
        logs.append(f"$ patch --fuzz=3 --dry-run\n{outcome.log}")
        if outcome.ok:
            outcome = run(fuzz_args, limits)
            logs.append(f"$ patch --fuzz=3\n{outcome.log}")
            if outcome.ok:
                validation.apply_mode = "fuzz"
    step.record(outcome)
    step.duration_ms = int((time.monotonic() - started) * 1000)
    step.log = sandbox.cut_log("\n".join(logs), limits.log_bytes)
    step.extra["mode"] = validation.apply_mode


# --- the scorer --------------------------------------------------------------------------------


@register
class PrTestsScorer(Scorer):
    """1 when the patch applies and the case's tests pass; partial credit per passing test."""

    type = "pr_tests"
    slow = True

    def __init__(self, *, timeout_seconds: float | None = None, memory_mb: int | None = None) -> None:
        super().__init__(timeout_seconds=timeout_seconds, memory_mb=memory_mb)
        overrides: dict[str, Any] = {}
        if timeout_seconds is not None:
            if not isinstance(timeout_seconds, int | float) or not 1 <= timeout_seconds <= 1800:
                raise ScorerConfigError("pr_tests: timeout_seconds must be between 1 and 1800")
            overrides["wall_seconds"] = float(timeout_seconds)
            overrides["cpu_seconds"] = int(timeout_seconds)
        if memory_mb is not None:
            if not isinstance(memory_mb, int) or not 128 <= memory_mb <= 16384:
                raise ScorerConfigError("pr_tests: memory_mb must be between 128 and 16384")
            overrides["memory_bytes"] = memory_mb * 1024**2
        self.overrides = overrides

    def score(self, item: ScoreInput) -> Score:
        case = item.case or {}
        files = case_repo_files(case)
        patch = pr_patch(item.output, case)
        if files is None:
            validation = Validation(steps=[Step("apply").fail("the case has no repo snapshot (repo.files)",
                                                               status="error"),
                                           Step("lint"), Step("build"), Step("test")],
                                    limits=sandbox.sandbox_limits(**self.overrides))
        else:
            validation = pr_validate(patch=patch, files=files, tests=case.get("tests") or {},
                                     test_command=case.get("test_command") or DEFAULT_TEST_COMMAND,
                                     limits=sandbox.sandbox_limits(**self.overrides))
        details = {"apply_mode": validation.apply_mode, "tests": validation.tests, "reason": validation.reason}
        return Score(validation.value, validation.passed, details,
                     artifacts={"patch": patch, "validation": validation.as_dict()})
