"""The bubblewrap sandbox itself (evaluation.sandbox): what a command inside sees and may do."""

from __future__ import annotations

import ast
import os
import threading

import pytest

from evaluation import sandbox
from tests.support.services import require_sandbox


@pytest.fixture(autouse=True)
def _sandbox() -> None:
    require_sandbox()


def _run(code: str, **limits):  # type: ignore[no-untyped-def]
    with sandbox.sandbox_slot() as slot, sandbox.workspace_create(slot=slot) as workspace:
        sandbox.workspace_hand_over(workspace, slot=slot)
        result = sandbox.sandbox_run([sandbox.sandbox_python(), "-c", code], workspace=workspace,
                                     limits=sandbox.sandbox_limits(**limits), slot=slot)
        left = sorted(p.name for p in workspace.iterdir())
    return result, left


def test_the_workspace_is_the_only_writable_path():
    code = ("import os\nfor path in ('/usr/x', '/x', '/proc/x', '/dev/x', '/workspace/../x', '/tmp/x'):\n"
            "    try:\n        open(path, 'w')\n        print('WROTE', path)\n"
            "    except OSError as exc:\n        print('refused', path, exc.errno)\n"
            "open('/workspace/made-inside', 'w').write('ok')\n")
    result, left = _run(code)
    assert result.ok, result.log
    assert "WROTE" not in result.log and result.log.count("refused") == 6
    assert "made-inside" in left


def test_own_pid_space_fresh_proc_no_network_interfaces_but_loopback():
    code = ("import os, socket\nprint('pid', os.getpid())\n"
            "print('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
            "print('ifaces', sorted(name for _, name in socket.if_nameindex()))\n"
            "print('uid', os.getuid())\n")
    result, _ = _run(code)
    assert result.ok, result.log
    lines = dict(line.split(" ", 1) for line in result.log.strip().splitlines())
    assert int(lines["pid"]) < 10 and max(ast.literal_eval(lines["pids"])) < 10
    assert ast.literal_eval(lines["ifaces"]) == ["lo"]
    assert int(lines["uid"]) != 0


def test_the_environment_is_only_the_sandboxes(monkeypatch):
    monkeypatch.setenv("BENCHHUB_SANDBOX_PLANTED", "worker-secret")
    result, _ = _run("import os\nprint(sorted(os.environ))\nprint(open('/proc/1/environ','rb').read())\n")
    assert "BENCHHUB_SANDBOX_PLANTED" not in result.log and "worker-secret" not in result.log
    assert "['HOME', 'LANG', 'PATH', 'PWD', 'PYTHONDONTWRITEBYTECODE', 'PYTHONHASHSEED', 'TMPDIR']" in result.log


def test_output_keeps_head_and_tail_within_the_log_bound():
    code = "print('FIRST-LINE')\nfor i in range(200000):\n    print('middle', i)\nprint('LAST-LINE')\n"
    result, _ = _run(code, log_bytes=4096)
    assert result.ok
    assert result.log.startswith("FIRST-LINE") and result.log.rstrip().endswith("LAST-LINE")
    assert "bytes cut" in result.log and len(result.log) < 4096 + 100
    assert result.output_bytes > 2_000_000


def test_open_files_limit():
    code = "import os\nfds = [os.open('/dev/null', os.O_RDONLY) for _ in range(1000)]\n"
    result, _ = _run(code, open_files=64)
    assert not result.ok and "Too many open files" in result.log


def test_slots_bound_how_many_sandboxes_run_at_once():
    order: list[str] = []
    held = threading.Event()
    release = threading.Event()

    def first() -> None:
        with sandbox.sandbox_slot(concurrency=1) as slot:
            order.append(f"first got {slot}")
            held.set()
            release.wait(10)
            order.append("first releases")

    def second() -> None:
        held.wait(10)
        with sandbox.sandbox_slot(concurrency=1) as slot:
            order.append(f"second got {slot}")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    held.wait(10)
    # The second is waiting for the only slot; let the first go only after it asked.
    threading.Timer(0.3, release.set).start()
    for thread in threads:
        thread.join(15)
    assert order == ["first got 0", "first releases", "second got 0"]


def test_two_slots_run_side_by_side_with_their_own_uids():
    with sandbox.sandbox_slot(concurrency=2) as a, sandbox.sandbox_slot(concurrency=2) as b:
        assert {a, b} == {0, 1}
        if os.geteuid() == 0:
            assert sandbox.slot_uid(a) != sandbox.slot_uid(b)


def test_missing_bwrap_raises_and_runs_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    sandbox._probe.cache_clear()
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="bubblewrap"):
            sandbox.sandbox_run(["/bin/sh", "-c", "touch ran"], workspace=tmp_path, limits=sandbox.Limits())
    finally:
        sandbox._probe.cache_clear()
    assert not (tmp_path / "ran").exists()
