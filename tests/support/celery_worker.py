"""Real Celery worker processes for tests: `celery -A benchhub worker` as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class CeleryWorker:
    """A worker on its own queue, logging to a file the test can read."""

    def __init__(
        self,
        *,
        queue: str | None = None,
        concurrency: int = 1,
        pool: str = "solo",
        include: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.queue = queue or f"test-{uuid.uuid4().hex[:8]}"
        self.concurrency = concurrency
        self.pool = pool
        self.include = include
        self.env = env or {}
        self.log_path = Path(tempfile.mkstemp(prefix="celery-worker-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self, *, ready_timeout: float = 60) -> CeleryWorker:
        args = [
            sys.executable, "-m", "celery", "-A", "benchhub", "worker",
            "-Q", self.queue, "--pool", self.pool, "--concurrency", str(self.concurrency),
            "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"{self.queue}-{uuid.uuid4().hex[:6]}@%h",
        ]
        if self.include:
            args += ["--include", ",".join(self.include)]
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchhub.settings.test", **self.env}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if "ready." in self.log() or " ready" in self.log():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.log()}")
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready in {ready_timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


def stop_process(process: subprocess.Popen | None, *, grace_seconds: float = 20) -> None:
    """Terminate, wait, and kill if it will not go: no test leaves a process behind."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
