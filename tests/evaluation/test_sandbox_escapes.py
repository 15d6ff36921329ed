"""The escape corpus: each attempt to leave the sandbox is contained and recorded as a failed
validation with its reason. Every case goes through the real pipeline (pr_validate) and the real
bubblewrap sandbox; where containment is the sandbox's own doing (not a refusal before it runs),
the test also shows the host was untouched."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from evaluation import sandbox
from evaluation.pr_validation import pr_validate
from tests.support.services import require_sandbox

FILES = {"app.py": "VALUE = 1\n"}
FIX = "--- a/app.py\n+++ b/app.py\n@@ -1,1 +1,1 @@\n-VALUE = 1\n+VALUE = 2\n"


@pytest.fixture(autouse=True)
def _sandbox(settings, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    require_sandbox()
    # Slots and uids of this test session alone: other sessions validating on the same machine
    # (their processes run as the default slot uids) must not count as leftovers here.
    settings.BENCHHUB_SANDBOX_DIR = str(tmp_path_factory.mktemp("sandbox"))
    settings.BENCHHUB_SANDBOX_UID_BASE = 300_000 + (os.getpid() % 10_000) * 16


def _validate(test_code: str, *, patch: str = FIX, test_command: str = "pytest -q", **limits):  # type: ignore[no-untyped-def]
    return pr_validate(patch=patch, files=FILES, tests={"tests/test_escape.py": test_code},
                       test_command=test_command, limits=sandbox.sandbox_limits(**limits))


def _slot_processes() -> list[int]:
    """Processes still running as a sandbox slot's uid (there must be none after a validation)."""
    base = django_settings.BENCHHUB_SANDBOX_UID_BASE
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if base <= entry.stat().st_uid < base + 16:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _host_target() -> Path:
    """A host path outside the workspace that an escape would create."""
    return Path(django_settings.BASE_DIR).parent / f"escaped-{uuid.uuid4().hex[:8]}"


# --- patches writing outside the repo -----------------------------------------------------------


def test_patch_writing_to_a_parent_directory_is_refused():
    target = Path(sandbox._sandbox_dir()) / "x"
    validation = _validate("def test_ok():\n    pass\n",
                           patch="--- /dev/null\n+++ b/../x\n@@ -0,0 +1,1 @@\n+escaped\n")
    apply = validation.step("apply")
    assert apply.status == "failed" and apply.extra["reason"] == "unsafe_path" and "'../x'" in apply.log
    assert validation.step("test").status == "skipped" and not validation.passed
    assert not target.exists()


def test_patch_with_an_absolute_path_is_refused():
    target = _host_target()
    validation = _validate("def test_ok():\n    pass\n",
                           patch=f"--- /dev/null\n+++ {target}\n@@ -0,0 +1,1 @@\n+escaped\n")
    apply = validation.step("apply")
    assert apply.status == "failed" and apply.extra["reason"] == "unsafe_path" and "absolute" in apply.log
    assert not target.exists() and not validation.passed


def test_symlink_pointing_out_then_written_through_is_refused():
    outside = _host_target()
    outside.mkdir()
    try:
        patch = (f"diff --git a/out b/out\nnew file mode 120000\n--- /dev/null\n+++ b/out\n@@ -0,0 +1 @@\n+{outside}\n"
                 "\\ No newline at end of file\n"
                 "--- /dev/null\n+++ b/out/pwned.py\n@@ -0,0 +1,1 @@\n+pwned = True\n")
        validation = _validate("def test_ok():\n    pass\n", patch=patch)
        apply = validation.step("apply")
        assert apply.status == "failed" and apply.extra["reason"] == "unsafe_path" and "symlink" in apply.log
        assert list(outside.iterdir()) == [] and not validation.passed
    finally:
        outside.rmdir()


def test_symlink_made_inside_the_sandbox_cannot_reach_the_host():
    # Past the refusal: code in the sandbox makes the symlink itself and writes through it.
    outside = _host_target()
    outside.mkdir()
    try:
        code = (f"import os\n\ndef test_escape():\n    os.symlink({str(outside)!r}, 'out')\n"
                f"    with open('out/pwned.txt', 'w') as handle:\n        handle.write('pwned')\n")
        validation = _validate(code)
        test = validation.step("test")
        assert test.status == "failed" and "No such file or directory" in test.log
        assert list(outside.iterdir()) == [] and not validation.passed
    finally:
        outside.rmdir()


# --- the network --------------------------------------------------------------------------------


def test_socket_to_the_internet_fails():
    code = ("import socket\n\ndef test_call_home():\n"
            "    socket.create_connection(('1.1.1.1', 443), timeout=5).close()\n\n"
            "def test_dns():\n    socket.getaddrinfo('example.com', 443)\n")
    validation = _validate(code)
    test = validation.step("test")
    assert test.status == "failed" and validation.tests == {"passed": 0, "failed": 2, "errors": 0, "skipped": 0,
                                                            "total": 2}
    assert "Network is unreachable" in test.log and not validation.passed


def test_socket_to_the_hosts_postgres_redis_and_a_listener_fails():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[object] = []
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept())
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        # From the host the listener answers: a refusal inside is the sandbox's doing.
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        while not accepted:
            stop.wait(0.05)
        accepted.clear()
        code = ("import socket\nimport pytest\n\n"
                f"@pytest.mark.parametrize('port', [5432, 6379, {port}])\n"
                "def test_reach_host(port):\n    socket.create_connection(('127.0.0.1', port), timeout=3).close()\n")
        validation = _validate(code)
        test = validation.step("test")
        assert test.status == "failed" and validation.tests["failed"] == 3 and validation.tests["passed"] == 0
        assert test.log.count("Connection refused") >= 3
        assert accepted == []
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


# --- processes, time, output, memory --------------------------------------------------------------


def test_fork_bomb_is_contained_by_the_process_limit():
    code = "import os\n\ndef test_bomb():\n    while True:\n        os.fork()\n"
    validation = _validate(code, processes=32, wall_seconds=60)
    test = validation.step("test")
    assert test.status == "failed" and test.extra["reason"] == "processes", test.log[-2000:]
    assert validation.reason == "processes" and not validation.passed
    assert _slot_processes() == []


def test_infinite_loop_is_killed_at_the_deadline():
    validation = _validate("def test_spin():\n    while True:\n        pass\n", wall_seconds=3)
    test = validation.step("test")
    assert test.status == "failed" and test.extra["reason"] == "timeout" and test.duration_ms >= 3000
    assert test.exit_code == -9 and not validation.passed
    assert _slot_processes() == []


def test_infinite_loop_is_stopped_by_the_cpu_limit_too():
    validation = _validate("def test_spin():\n    while True:\n        pass\n", wall_seconds=60, cpu_seconds=2)
    test = validation.step("test")
    assert test.status == "failed" and test.extra["reason"] == "timeout" and test.duration_ms < 60_000
    assert _slot_processes() == []


def test_a_gigabyte_of_output_is_cut_and_stopped():
    code = ("import sys\n\ndef test_flood():\n    chunk = b'x' * (1 << 20)\n    for _ in range(1024):\n"
            "        sys.stdout.buffer.write(chunk)\n")
    validation = _validate(code, test_command="pytest -q -s")
    test = validation.step("test")
    limits = validation.limits
    assert test.status == "failed" and test.extra["reason"] == "output_limit"
    assert len(test.log) < limits.log_bytes + 200 and "bytes cut" in test.log
    assert _slot_processes() == []


def test_a_gigabyte_written_to_a_file_stops_at_the_file_size_limit():
    code = ("def test_fill():\n    chunk = b'x' * (1 << 20)\n    with open('big.bin', 'wb') as handle:\n"
            "        for _ in range(1024):\n            handle.write(chunk)\n")
    validation = _validate(code, test_command="pytest -q -s")
    test = validation.step("test")
    assert test.status == "failed" and test.extra["reason"] == "output_limit"


def test_memory_hog_is_stopped_by_the_memory_limit():
    code = "def test_hog():\n    hoard = []\n    while True:\n        hoard.append(bytearray(64 * 1024 * 1024))\n"
    validation = _validate(code, memory_bytes=512 * 1024**2)
    test = validation.step("test")
    assert test.status == "failed" and test.extra["reason"] == "memory" and "MemoryError" in test.log
    assert validation.as_dict()["sandbox"]["memory_bytes"] == 512 * 1024**2


# --- the worker's environment and files -----------------------------------------------------------


def test_a_test_reading_the_workers_environment_finds_nothing(monkeypatch):
    secret = f"planted-{uuid.uuid4().hex}"
    monkeypatch.setenv("BENCHHUB_PLANTED_SECRET", secret)
    code = ("import os\n\ndef test_env():\n    print(dict(os.environ))\n"
            "    assert os.environ.get('BENCHHUB_PLANTED_SECRET')\n\n"
            "def test_proc_of_pid_1():\n    print(open('/proc/1/environ', 'rb').read())\n\n"
            "def test_database_url():\n    assert os.environ.get('DATABASE_URL') or os.environ.get('SECRET_KEY')\n")
    validation = _validate(code)
    test = validation.step("test")
    assert test.status == "failed" and validation.tests["passed"] == 0 and validation.tests["total"] == 3
    assert secret not in test.log and "DJANGO_SETTINGS_MODULE" not in test.log
    assert "'HOME': '/workspace'" in test.log  # what the test did see: the sandbox's own environment


def test_project_source_settings_and_home_are_absent():
    project = Path(django_settings.BASE_DIR)
    planted = Path.home() / f".benchhub-planted-{uuid.uuid4().hex[:8]}"
    planted.write_text("a file in the worker's home")
    # The host's /tmp must not show through. (The /tmp directory itself may exist inside: when the
    # venv lives under /tmp, as in a CI clone there, its read-only bind creates the parent dirs.)
    planted_tmp = Path(tempfile.gettempdir()) / f"benchhub-planted-{uuid.uuid4().hex[:8]}"
    planted_tmp.write_text("a file in the host's /tmp")
    try:
        code = ("from pathlib import Path\nimport pytest\n\n"
                f"@pytest.mark.parametrize('path', [{str(project / 'benchhub' / 'settings' / 'base.py')!r}, "
                f"{str(planted)!r}, '/etc/passwd', '/var/run', {str(planted_tmp)!r}])\n"
                "def test_read(path):\n    assert Path(path).exists()\n\n"
                "def test_import_project():\n    import benchhub  # noqa\n")
        validation = _validate(code)
    finally:
        planted.unlink()
        planted_tmp.unlink()
    assert validation.step("test").status == "failed"
    assert validation.tests["passed"] == 0 and validation.tests["total"] == 6


def test_a_report_swapped_for_a_symlink_into_the_host_is_not_read():
    # The host reads pytest's JUnit report from the workspace: code inside replaces the report's
    # directory with a symlink to a host directory holding a flattering report.
    outside = _host_target()
    outside.mkdir()
    (outside / "junit.xml").write_text('<testsuite tests="9" failures="0" errors="0" skipped="0"/>')
    try:
        code = ("import os, shutil\n\ndef test_swap():\n    shutil.rmtree('/workspace/meta')\n"
                f"    os.symlink({str(outside)!r}, '/workspace/meta')\n    assert False\n")
        validation = _validate(code)
    finally:
        (outside / "junit.xml").unlink()
        outside.rmdir()
    assert validation.step("test").status == "failed"
    assert validation.tests is None and validation.value == 0.0
