"""Run untrusted commands (a model's patch, its tests) in a bubblewrap sandbox.

Model-written code runs only here. One `sandbox_run` call is one `bwrap` process with:

- every namespace unshared: no network at all (a new, empty network namespace), its own PID space
  with a fresh `/proc` (the host's is never mounted), IPC, UTS and cgroup namespaces, and a user
  namespace; `--die-with-parent` and `--new-session` (no terminal to inject keystrokes into);
- a filesystem built from nothing: `/usr` (and the interpreter this worker runs, for pytest)
  read-only, a minimal `/dev`, the workspace mounted read-write at `/workspace` as the only
  writable path. No `/etc`, no home, no `/tmp`, no project source or settings, no secrets;
- a clean environment (bwrap itself starts with an empty one, so not even the sandbox's PID 1
  carries the worker's variables);
- rlimits (CPU seconds, address space, processes, file size, open files) set by `prlimit` before
  bwrap starts, and a wall-clock deadline after which the whole process group is killed;
- combined stdout/stderr read by us and cut to its head and tail; past `output_bytes` the run is
  killed (`output_limit`).

Process limits need a user the count is kept for. As root (the usual worker container), bwrap sets
the namespaces and mounts up with root's rights and the command then drops, through `setpriv`, to a
dedicated unprivileged uid per sandbox slot (`BENCHHUB_SANDBOX_UID_BASE` + slot), which no other
process uses, so RLIMIT_NPROC counts exactly this sandbox's processes (root itself is exempt from
RLIMIT_NPROC); it then enters a fresh user namespace with `unshare --user`. As another user, bwrap
runs unprivileged with `--unshare-all` and the process allowance is added to what that user
already runs.

Where bwrap is missing or cannot build a sandbox on this machine, `SandboxUnavailable` is raised:
callers record `sandbox_unavailable` and never run the code some other way.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

WORKSPACE = "/workspace"
# Reasons a run was stopped by the sandbox (API.md "Scorer details").
TIMEOUT, MEMORY, PROCESSES, OUTPUT_LIMIT, UNAVAILABLE = (
    "timeout", "memory", "processes", "output_limit", "sandbox_unavailable",
)
# What a process prints when an rlimit stopped it; only read when the step failed.
_MEMORY_MARKS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")
_PROCESS_MARKS = ("Resource temporarily unavailable", "can't start new thread", "fork: retry")
# Python ignores SIGXFSZ, so a write past the file-size limit raises EFBIG instead of dying.
_FILE_SIZE_MARKS = ("File too large",)


class SandboxUnavailable(RuntimeError):
    """No working bubblewrap here: the code must not run at all."""


@dataclass(frozen=True)
class Limits:
    """Bounds of one sandboxed command. Defaults come from settings (`sandbox_limits`)."""

    wall_seconds: float = 120.0
    cpu_seconds: int = 120
    memory_bytes: int = 2 * 1024**3  # address space: Python + pytest need ~200 MB, threads reserve more
    processes: int = 64
    file_size_bytes: int = 64 * 1024**2
    open_files: int = 256
    output_bytes: int = 8 * 1024**2  # the command is killed once it has printed this much
    log_bytes: int = 32 * 1024  # what is kept of the output: half from the head, half from the tail

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SandboxResult:
    exit_code: int | None
    duration_ms: int
    log: str
    output_bytes: int
    reason: str | None = None  # one of the reasons above when a limit stopped the command
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.reason is None


def sandbox_limits(**overrides: Any) -> Limits:
    """The configured limits (BENCHHUB_SANDBOX_* settings), with per-call overrides."""
    from django.conf import settings

    base = Limits(
        wall_seconds=float(getattr(settings, "BENCHHUB_SANDBOX_TIMEOUT_SECONDS", Limits.wall_seconds)),
        cpu_seconds=int(getattr(settings, "BENCHHUB_SANDBOX_CPU_SECONDS", Limits.cpu_seconds)),
        memory_bytes=int(getattr(settings, "BENCHHUB_SANDBOX_MEMORY_MB", Limits.memory_bytes // 1024**2)) * 1024**2,
        processes=int(getattr(settings, "BENCHHUB_SANDBOX_PROCESSES", Limits.processes)),
    )
    return replace(base, **overrides)


# --- availability ------------------------------------------------------------------------------


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@lru_cache(maxsize=1)
def _probe() -> str | None:
    """None when a trivial sandbox runs here, else why not (cached per process)."""
    if bwrap_path() is None:
        return "bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap"
    for tool in ("prlimit", "setpriv", "unshare") if os.geteuid() == 0 else ("prlimit",):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    with tempfile.TemporaryDirectory(prefix="benchhub-probe-") as tmp:
        workspace = Path(tmp)
        workspace.chmod(0o711)
        if os.geteuid() == 0:
            os.chown(workspace, slot_uid(0), slot_uid(0))
        argv = _command(["/bin/true"], workspace=workspace, limits=Limits(), slot=0, env={})
        try:
            done = subprocess.run(argv, env=_BWRAP_ENV, capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap could not start: {exc}"
    if done.returncode != 0:
        return f"bwrap cannot build a sandbox here: {done.stderr.decode(errors='replace').strip()[:500]}"
    return None


def sandbox_unavailable_reason() -> str | None:
    return _probe()


# --- slots: validation concurrency per machine -------------------------------------------------


def _sandbox_dir() -> Path:
    from django.conf import settings

    configured = getattr(settings, "BENCHHUB_SANDBOX_DIR", "") or ""
    path = Path(configured or Path(tempfile.gettempdir()) / "benchhub-sandbox")
    path.mkdir(mode=0o711, parents=True, exist_ok=True)
    return path


def slot_uid(slot: int) -> int:
    from django.conf import settings

    return int(getattr(settings, "BENCHHUB_SANDBOX_UID_BASE", 200_000)) + slot


@contextlib.contextmanager
def sandbox_slot(*, concurrency: int | None = None, poll_seconds: float = 0.02) -> Iterator[int]:
    """Hold one of `BENCHHUB_SANDBOX_CONCURRENCY` slots (file locks, so every process of a worker,
    and every worker on the machine, shares the bound). Yields the slot number, which also picks
    the slot's own uid. The lock dies with its process: a killed worker frees its slot."""
    from django.conf import settings

    slots = max(1, int(concurrency or getattr(settings, "BENCHHUB_SANDBOX_CONCURRENCY", 2)))
    directory = _sandbox_dir() / "slots"
    directory.mkdir(mode=0o700, exist_ok=True)
    handles = []
    try:
        while True:
            for slot in range(slots):
                handle = (directory / f"slot-{slot}.lock").open("a")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    continue
                handles.append(handle)
                yield slot
                return
            time.sleep(poll_seconds)
    finally:
        for handle in handles:
            handle.close()  # releases the flock


@contextlib.contextmanager
def workspace_create(*, slot: int) -> Iterator[Path]:
    """A fresh, empty directory for one validation, owned by the slot's uid; removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"ws-{slot}-", dir=_sandbox_dir()))
    # Traversable (not listable) by others: bwrap enters it as root without its capabilities.
    path.chmod(0o711)
    (path / ".tmp").mkdir()  # TMPDIR inside the sandbox
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)  # rmtree never follows the symlinks a model made


def workspace_hand_over(path: Path, *, slot: int) -> None:
    """Give the workspace's files to the slot's uid (as root), so the sandbox can write there."""
    if os.geteuid() != 0:
        return
    uid = slot_uid(slot)
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, uid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)


# --- the command line --------------------------------------------------------------------------

# bwrap starts with this environment only: the sandbox's PID 1 is bwrap, and its /proc/1/environ
# must hold nothing of the worker's.
_BWRAP_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def _python_roots() -> list[str]:
    """Directories the sandbox needs for this worker's interpreter (and its pytest and ruff):
    the virtualenv and the installation it was made from, both read-only. The project's own
    source is not among them, so its settings cannot be imported inside."""
    roots = []
    for prefix in {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}:
        if prefix != "/usr" and not prefix.startswith("/usr/") and os.path.isdir(prefix):
            roots.append(prefix)
    return sorted(roots)


def sandbox_python() -> str:
    """The interpreter to name inside the sandbox (this worker's, at the same path)."""
    return sys.executable


def _dirs_for(path: str, made: set[str]) -> list[str]:
    """`--dir` for each missing parent, world-traversable: bwrap would create them 0700, and the
    unprivileged command could then not reach the interpreter under them."""
    args: list[str] = []
    parts = Path(path).parts[1:-1]
    current = ""
    for part in parts:
        current += "/" + part
        if current not in made:
            made.add(current)
            args += ["--perms", "0755", "--dir", current]
    return args


def _process_allowance(limits: Limits) -> int:
    """RLIMIT_NPROC counts the user's processes machine-wide: without a uid of its own (not root),
    the sandbox gets its allowance on top of what the worker's user already runs."""
    if os.geteuid() == 0:
        return limits.processes
    return len(_pids_of(os.getuid())) + limits.processes


def _command(
    argv: Sequence[str], *, workspace: Path, limits: Limits, slot: int, env: dict[str, str], cwd: str = WORKSPACE,
) -> list[str]:
    cpu = max(1, int(limits.cpu_seconds))
    command = [
        "prlimit",
        f"--cpu={cpu}:{cpu + 1}",
        f"--as={limits.memory_bytes}",
        f"--nproc={_process_allowance(limits)}",
        f"--fsize={limits.file_size_bytes}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
        "bwrap",
    ]
    privileged = os.geteuid() == 0
    if privileged:
        # The user namespace comes last (`unshare --user` below), after the drop to the slot's uid.
        command += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    else:
        command += ["--unshare-all", "--unshare-user"]
    command += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
    command += ["--ro-bind", "/usr", "/usr"]
    made = {"/usr"}
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = f"/{top}"
        if os.path.islink(host):
            command += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            command += ["--ro-bind", host, host]
    for root in _python_roots():
        command += _dirs_for(root, made) + ["--ro-bind", root, root]
    command += ["--proc", "/proc", "--dev", "/dev"]
    command += ["--bind", str(workspace), WORKSPACE, "--chdir", cwd, "--remount-ro", "/"]
    command += ["--clearenv"]
    for key, value in env.items():
        command += ["--setenv", key, value]
    if privileged:
        uid = str(slot_uid(slot))
        command += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--"]
        command += ["/usr/bin/setpriv", "--reuid", uid, "--regid", uid, "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--",
                    "/usr/bin/unshare", "--user", "--map-current-user", "--"]
    else:
        command += ["--"]
    return command + list(argv)


def sandbox_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment a sandboxed command sees."""
    bindir = os.path.dirname(sandbox_python())
    return {
        "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": WORKSPACE,
        "TMPDIR": f"{WORKSPACE}/.tmp",
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        **(extra or {}),
    }


# --- running -----------------------------------------------------------------------------------


class _Capture:
    """Keeps the head and the tail of a stream, counting what was cut."""

    def __init__(self, keep: int) -> None:
        self.half = max(1, keep // 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.half:
                del self.tail[: len(self.tail) - self.half]

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        middle = f"\n[... {cut} bytes cut ...]\n".encode() if cut > 0 else b""
        # Postgres JSON cannot hold NUL characters.
        return (bytes(self.head) + middle + bytes(self.tail)).decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def cut_log(text: str, keep: int) -> str:
    """`text` with its middle cut out past `keep` characters (head and tail kept)."""
    if len(text) <= keep:
        return text
    half = max(1, keep // 2)
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


def _kill_group(process: subprocess.Popen) -> None:
    # bwrap and everything it started: its PID-1 child dies with it (--die-with-parent), and with
    # that PID 1 the kernel kills every process of the sandbox's PID namespace.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _pids_of(uid: int) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
    return pids


def _reap_slot(slot: int, *, grace_seconds: float = 5.0) -> None:
    """Wait until nothing runs as the slot's uid any more (killed sandbox processes take a moment
    to go), killing stragglers: the next run in this slot must start with its process count at 0.
    Only sandboxes of this slot ever run as that uid, and the caller holds the slot."""
    uid = slot_uid(slot)
    deadline = time.monotonic() + grace_seconds
    killed = False
    while pids := _pids_of(uid):
        if time.monotonic() > deadline:
            if killed:
                logger.error("sandbox slot %s: processes %s outlive SIGKILL", slot, pids[:10])
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + grace_seconds
        time.sleep(0.01)


def _reason(exit_code: int | None, log: str) -> str | None:
    if exit_code is None or exit_code == 0:
        return None
    if exit_code == 128 + signal.SIGXCPU or exit_code == 128 + signal.SIGKILL:
        return TIMEOUT  # the CPU-seconds limit: SIGXCPU at the soft limit, SIGKILL at the hard one
    if exit_code == 128 + signal.SIGXFSZ:
        return OUTPUT_LIMIT  # a file past the file-size limit
    if any(mark in log for mark in _FILE_SIZE_MARKS):
        return OUTPUT_LIMIT
    if any(mark in log for mark in _MEMORY_MARKS):
        return MEMORY
    if any(mark in log for mark in _PROCESS_MARKS):
        return PROCESSES
    return None


def sandbox_run(
    argv: Sequence[str], *, workspace: Path, limits: Limits, slot: int = 0, env: dict[str, str] | None = None,
    cwd: str = WORKSPACE,
) -> SandboxResult:
    """Run `argv` inside the sandbox with `workspace` (at /workspace) its only writable directory;
    `cwd` is a path inside the sandbox."""
    unavailable = sandbox_unavailable_reason()
    if unavailable:
        raise SandboxUnavailable(unavailable)
    command = _command(argv, workspace=workspace, limits=limits, slot=slot, env=sandbox_env(env), cwd=cwd)
    capture = _Capture(limits.log_bytes)
    started = time.monotonic()
    deadline = started + limits.wall_seconds
    reason: str | None = None
    process = subprocess.Popen(
        command, env=_BWRAP_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True, close_fds=True,
    )
    assert process.stdout is not None
    stream = process.stdout.fileno()
    os.set_blocking(stream, False)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                reason = TIMEOUT
                break
            ready, _, _ = select.select([stream], [], [], min(left, 0.5))
            if not ready:
                continue
            try:
                data = os.read(stream, 1 << 16)
            except BlockingIOError:
                continue
            if not data:  # every writer is gone: the sandbox has ended
                break
            capture.feed(data)
            if capture.total > limits.output_bytes:
                reason = OUTPUT_LIMIT
                break
    finally:
        if reason is not None:
            _kill_group(process)
        try:
            exit_code = process.wait(timeout=max(1.0, deadline - time.monotonic()) if reason is None else 10)
        except subprocess.TimeoutExpired:
            # Output closed but bwrap lingers (a daemonised child holding no pipe): past the deadline.
            _kill_group(process)
            exit_code = process.wait(timeout=10)
            reason = reason or TIMEOUT
        _kill_group(process)
        process.stdout.close()
        if os.geteuid() == 0:
            _reap_slot(slot)
    duration_ms = int((time.monotonic() - started) * 1000)
    log = capture.text()
    if reason is None:
        reason = _reason(exit_code, log)
    return SandboxResult(exit_code=exit_code, duration_ms=duration_ms, log=log, output_bytes=capture.total, reason=reason)
