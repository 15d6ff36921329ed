"""Quota use: how much of a provider's hidden quota a run uses, and what injected faults cost.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bh_quota REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python benchmarks/quota.py [--scenario all] [--repeat 3]

Each scenario runs the fake OpenAI-compatible server (`tests/fakes/openai_server.py`) in its own
process with a hidden limit that BenchHub is not told about (no `max_concurrency`/`rpm` in the
credential), one Celery worker (prefork, one process per core) and real runs started through the
same service the API calls, asking for 100 attempts in flight:

- `concurrency`: 2,000 attempts at 200 ms against a provider serving at most 20 at once (429 +
  `Retry-After: 0.2` beyond). Ideal: 2,000 / 20 x 0.2 s = 20 s.
- `rpm`: 600 attempts at 200 ms against 1,200 requests/minute (a bucket of one second's worth,
  429 + `Retry-After` beyond). Ideal: 600 / 20 per s = 30 s.
- `faults` and its twin `faults-free`: 1,000 attempts, 50 in flight, 1.0-1.5 s latency, with 9%
  random 429s (`Retry-After: 0.2`), 1.5% 503s and 1.5% timeouts (answer 10 s late, arm timeout
  5 s) — and the same load without faults. Target: within 2x of the twin.

Printed per round and as medians: wall time, the share of the quota used (ideal / wall), failed
attempts, retries, the provider's refusals the run earned.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Before anything of benchhub is imported: its package imports the Celery app, which otherwise
# defaults the settings to production.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchhub.settings.local")

from benchhub.net import free_local_port  # noqa: E402 - importable once ROOT is on the path
from benchmarks.run_throughput import wait_port  # noqa: E402


@dataclass(frozen=True)
class Scenario:
    name: str
    attempts: int
    concurrency: int
    latency_ms: float
    ideal_s: float
    server_flags: tuple[str, ...] = ()
    arm_config: dict = field(default_factory=dict)


SCENARIOS = {
    "concurrency": Scenario("concurrency", 2000, 100, 200, 2000 / 20 * 0.2, ("--concurrency-quota", "20")),
    "rpm": Scenario("rpm", 600, 100, 200, 600 / (1200 / 60), ("--rpm-quota", "1200")),
    "faults": Scenario(
        "faults", 1000, 50, 1000, 1000 / 50 * 1.25,
        ("--latency-jitter-ms", "500", "--fault-429", "0.09", "--fault-503", "0.015", "--fault-timeout", "0.015",
         "--timeout-s", "10"),
        {"timeout": 5},
    ),
    "faults-free": Scenario("faults-free", 1000, 50, 1000, 1000 / 50 * 1.25, ("--latency-jitter-ms", "500"),
                            {"timeout": 5}),
}


def run_scenario(scenario: Scenario, *, queue: str, repeat: int, worker_processes: int) -> dict:
    from experiments.models import Attempt, Run
    from experiments.runs import run_start
    from experiments.services import dataset_create_from_rows, experiment_create
    from orgs.services import org_get_or_create
    from providers.services import credential_set, policy_set

    # Own limiter/breaker keys: this database's org ids may collide with another's in the same Redis.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCHHUB_PROVIDER_KEY_PREFIX": f"bh:providers:{uuid.uuid4().hex[:8]}"}
    port = free_local_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", str(port), "--latency-ms",
         str(scenario.latency_ms), *scenario.server_flags],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    worker_log = Path(tempfile.mkstemp(prefix="quota-worker-", suffix=".log")[1])
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "benchhub", "worker", "-Q", queue, "--pool", "prefork",
         "--concurrency", str(worker_processes), "--loglevel", "WARNING", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "-n", f"{queue}@%h"],
        cwd=ROOT, env=env, stdout=worker_log.open("wb"), stderr=subprocess.STDOUT,
    )
    rounds = []
    try:
        wait_port(port)
        org, _ = org_get_or_create(slug=f"quota-{uuid.uuid4().hex[:6]}", name="Quota benchmark")
        policy_set(org=org, rules=[{"provider": "local", "models": ["*"]}])
        # The quota is hidden: no max_concurrency / rpm configured for the provider.
        credential_set(org=org, provider="local", api_key=None, base_url=f"http://127.0.0.1:{port}/v1", name="fake",
                       config={})
        rows = [{"id": f"q{i}", "input": f"Question {i}: what is {i} + {i}?", "reference": str(2 * i)}
                for i in range(scenario.attempts)]
        dataset, _ = dataset_create_from_rows(org=org, name="quota", kind="qa", rows=rows, source="jsonl")
        experiment = experiment_create(
            org=org, name=scenario.name, dataset=dataset, concurrency=scenario.concurrency, samples_per_case=1,
            arms=[{"provider": "local", "model": "fake-a", "config": {"timeout": 30, **scenario.arm_config}}],
            scorers=[{"type": "contains"}],
        )
        time.sleep(2)
        for number in range(repeat):
            started = time.perf_counter()
            run = run_start(experiment=experiment)
            while True:
                run = Run.objects.only("status", "done", "total", "failed").get(pk=run.pk)
                if run.is_terminal:
                    break
                time.sleep(0.1)
            wall = time.perf_counter() - started
            retries = sum(Attempt.objects.filter(run=run).values_list("retries", flat=True))
            result = {"scenario": scenario.name, "round": number + 1, "status": run.status, "wall_s": round(wall, 2),
                      "ideal_s": scenario.ideal_s, "quota_used": round(scenario.ideal_s / wall, 3),
                      "attempts": run.total, "failed": run.failed, "retries": retries}
            rounds.append(result)
            print(json.dumps(result), flush=True)
    finally:
        for process in (worker, fake):
            process.send_signal(signal.SIGTERM)
        for process in (worker, fake):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    return {
        "scenario": scenario.name, "ideal_s": scenario.ideal_s,
        "median_wall_s": statistics.median(r["wall_s"] for r in rounds),
        "median_quota_used": statistics.median(r["quota_used"] for r in rounds),
        "failed": sum(r["failed"] for r in rounds), "median_retries": statistics.median(r["retries"] for r in rounds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker-processes", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        sys.exit("needs DATABASE_URL (Postgres) and REDIS_URL")
    os.environ["DEBUG"] = "0"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["BENCHHUB_RUN_LANES"] = str(args.worker_processes)
    queue = os.environ["BENCHHUB_QUEUE_OVERRIDE"] = f"quota-{uuid.uuid4().hex[:8]}"  # read by the settings

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    summaries = [run_scenario(SCENARIOS[name], queue=queue, repeat=args.repeat, worker_processes=args.worker_processes)
                 for name in names]
    by_name = {s["scenario"]: s for s in summaries}
    if "faults" in by_name and "faults-free" in by_name:
        by_name["faults"]["ratio_to_fault_free_twin"] = round(
            by_name["faults"]["median_wall_s"] / by_name["faults-free"]["median_wall_s"], 2)
    for summary in summaries:
        print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
