"""Make a prefork worker's children share what they all load.

Celery forks its pool processes from the worker's main process. Whatever the main process has
imported before the fork is shared copy-on-write, so load here what every child needs anyway (the
provider SDKs and the run pipeline, otherwise imported by each child on its first call), then
`gc.freeze()` it: the collector no longer walks those objects, and walking them is what writes
to (and so copies) their pages in every child. Measured with benchmarks/run_throughput.py.
"""

from __future__ import annotations

import gc
import importlib
import logging

logger = logging.getLogger("benchhub")

PRELOAD = (
    "experiments.tasks",
    "providers.gateway",
    "providers.adapters.mock",
    "providers.adapters.openai_compat",
    "providers.adapters.anthropic",
    "leaderboards.tasks",
)


def preload_for_fork() -> None:
    for module in PRELOAD:
        try:
            importlib.import_module(module)
        except ImportError:  # an optional SDK missing costs memory nowhere, and fails only its calls
            logger.warning("worker preload: cannot import %s", module, exc_info=True)
    gc.collect()
    gc.freeze()
