"""The sandbox that runs model-written code (evaluation.sandbox), for the `pr_tests` scorer."""

from __future__ import annotations

import environ

env = environ.Env()

# Validations at once on one machine (file-lock slots shared by every worker process there).
BENCHHUB_SANDBOX_CONCURRENCY = env.int("BENCHHUB_SANDBOX_CONCURRENCY", default=2)
# Limits of a test run (apply, lint and build get at most 30 s each).
BENCHHUB_SANDBOX_TIMEOUT_SECONDS = env.float("BENCHHUB_SANDBOX_TIMEOUT_SECONDS", default=120.0)
BENCHHUB_SANDBOX_CPU_SECONDS = env.int("BENCHHUB_SANDBOX_CPU_SECONDS", default=120)
BENCHHUB_SANDBOX_MEMORY_MB = env.int("BENCHHUB_SANDBOX_MEMORY_MB", default=2048)
BENCHHUB_SANDBOX_PROCESSES = env.int("BENCHHUB_SANDBOX_PROCESSES", default=64)
# Workspaces and slot locks; default: <tmp>/benchhub-sandbox.
BENCHHUB_SANDBOX_DIR = env.str("BENCHHUB_SANDBOX_DIR", default="")
# A worker running as root drops each sandbox to uid BASE + slot, a uid no other process uses, so
# the process limit counts exactly that sandbox's processes. Pick a range free on the machine.
BENCHHUB_SANDBOX_UID_BASE = env.int("BENCHHUB_SANDBOX_UID_BASE", default=200_000)
