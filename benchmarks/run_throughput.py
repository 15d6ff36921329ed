"""Run throughput: 10,000 attempts against a local OpenAI-compatible fake with a fixed 200 ms latency.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bh_runs REDIS_URL=redis://127.0.0.1:6379/2 \\
        .venv/bin/python benchmarks/run_throughput.py [--attempts 10000] [--concurrency 100] [--repeat 3]

What runs: the fake server (`python -m tests.fakes.openai_server --latency-ms 200`) in its own process,
one Celery worker (`celery -A benchhub worker`, prefork with one process per core by default), and
this script, which creates the dataset and the experiment (the `local` provider pointed at the fake),
starts runs through `run_start` (what the API's POST does) and waits for each to end.

Ideal: attempts / concurrency x latency = 10,000 / 100 x 0.2 s = 20 s. Printed per repeat and as
the median: wall time (start to the run's end) and its ratio to the ideal, database queries per
attempt (all statements of the worker processes, the gateway's included, plus those of this
process's `run_start`), the worker's CPU per attempt, and its memory: peak RSS of its largest process,
the sum of its processes' peak RSS (which counts pages shared copy-on-write once per process), and
the peak of their summed PSS (what the worker really holds), sampled while the run executes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Before anything of benchhub is imported: its package imports the Celery app, which otherwise
# defaults the settings to production.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchhub.settings.local")

from benchhub.net import free_local_port  # noqa: E402 - importable once ROOT is on the path


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def probe_total(directory: Path) -> int:
    """Statements sent so far by all worker processes (each file holds one process's running total)."""
    return sum(json.loads(f.read_text())["queries"] for f in directory.glob("*.json"))


def worker_rss_kb(pid: int) -> tuple[int, int]:
    """(largest VmHWM, sum of VmHWM) over the worker's main process and its children."""
    peaks = []
    for p in worker_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]))
        except FileNotFoundError:
            continue
    return max(peaks, default=0), sum(peaks)


def worker_pids(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        pids += [int(c) for c in children]
    return pids


def worker_pss_kb(pid: int) -> int:
    """Memory the worker really holds: PSS summed over its processes (prefork children share the
    parent's pages copy-on-write, so summing their RSS would count those pages three times)."""
    total = 0
    for p in worker_pids(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total


def cpu_seconds(pid: int) -> float:
    """utime + stime of the worker's child processes (the ones that execute tasks)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in children:
            try:
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def main() -> None:  # noqa: C901 - a script read top to bottom
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker-processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="print only the summary as JSON")
    parser.add_argument("--malloc-arena-max", default="", help="MALLOC_ARENA_MAX for the worker (glibc)")
    args = parser.parse_args()

    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        sys.exit("needs DATABASE_URL (Postgres) and REDIS_URL")
    os.environ["DEBUG"] = "0"  # DEBUG keeps every query in memory: not what production runs
    os.environ["LOG_LEVEL"] = "WARNING"
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ["BENCHHUB_QUEUE_OVERRIDE"] = queue
    os.environ["BENCHHUB_RUN_LANES"] = str(args.worker_processes)
    os.environ["BENCHHUB_RUN_CHUNK_SIZE"] = str(args.chunk_size)
    # The limiter's and breaker's state lives in Redis keyed by org id; this script's database is not
    # the test suite's, so a test org with the same id could have left a breaker open: own keys.
    os.environ["BENCHHUB_PROVIDER_KEY_PREFIX"] = f"bh:providers:{queue}"
    probe_dir = Path(tempfile.mkdtemp(prefix="bench-probe-"))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from experiments.models import Run
    from experiments.runs import run_start
    from experiments.services import dataset_create_from_rows, experiment_create
    from orgs.services import org_get_or_create
    from providers.services import credential_set, policy_set

    call_command("migrate", interactive=False, verbosity=0)

    port = free_local_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", str(port), "--latency-ms", str(args.latency_ms)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    worker_log = Path(tempfile.mkstemp(prefix="bench-worker-", suffix=".log")[1])
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "benchhub", "worker", "-Q", queue, "--pool", "prefork",
         "--concurrency", str(args.worker_processes), "--loglevel", "WARNING", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "--include", "benchmarks.worker_probe", "-n", f"{queue}@%h"],
        cwd=ROOT, env={**env, "BENCH_PROBE_DIR": str(probe_dir),
                       **({"MALLOC_ARENA_MAX": args.malloc_arena_max} if args.malloc_arena_max else {})},
        stdout=worker_log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(port)
        org, _ = org_get_or_create(slug=f"bench-{uuid.uuid4().hex[:6]}", name="Benchmark")
        policy_set(org=org, rules=[{"provider": "local", "models": ["*"]}])
        credential_set(org=org, provider="local", api_key=None, base_url=f"http://127.0.0.1:{port}/v1", name="fake",
                       config={"max_concurrency": max(args.concurrency, 1000)})
        cases = args.attempts // 2
        rows = [{"id": f"q{i}", "input": f"Question {i}: what is {i} + {i}?", "reference": str(2 * i)}
                for i in range(cases)]
        dataset, _ = dataset_create_from_rows(org=org, name="bench", kind="qa", rows=rows, source="jsonl")
        experiment = experiment_create(
            org=org, name="throughput", dataset=dataset, concurrency=args.concurrency, samples_per_case=1,
            arms=[{"provider": "local", "model": "fake-a", "config": {"max_retries": 0, "timeout": 30}},
                  {"provider": "local", "model": "fake-b", "config": {"max_retries": 0, "timeout": 30}}],
            scorers=[{"type": "numeric"}, {"type": "contains"}],
        )
        time.sleep(2)  # the worker's processes are up (they log "ready" before forking is done)
        ideal = args.attempts / args.concurrency * args.latency_ms / 1000
        results = []
        for attempt_round in range(args.repeat):
            before_worker = probe_total(probe_dir)
            cpu_before = cpu_seconds(worker.pid)
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as start_queries:
                run = run_start(experiment=experiment)
            start_seconds = time.perf_counter() - started
            peak_pss = 0
            while True:
                run = Run.objects.only("status", "done", "total", "failed").get(pk=run.pk)
                peak_pss = max(peak_pss, worker_pss_kb(worker.pid))
                if run.is_terminal:
                    break
                time.sleep(0.1)
            wall = time.perf_counter() - started
            time.sleep(0.5)  # let the last task's probe file land
            worker_queries = probe_total(probe_dir) - before_worker
            # Poll queries of this script are the benchmark's, not the system's: left out.
            queries = worker_queries + len(start_queries.captured_queries)
            largest, total_rss = worker_rss_kb(worker.pid)
            cpu_ms = (cpu_seconds(worker.pid) - cpu_before) * 1000 / max(1, run.total)
            result = {
                "round": attempt_round + 1, "status": run.status, "attempts": run.total, "failed": run.failed,
                "wall_s": round(wall, 2), "ratio_to_ideal": round(wall / ideal, 3), "run_start_s": round(start_seconds, 2),
                "queries": queries, "queries_per_attempt": round(queries / run.total, 3),
                "worker_cpu_ms_per_attempt": round(cpu_ms, 2),
                "worker_peak_rss_mb": round(largest / 1024, 1), "worker_all_processes_rss_mb": round(total_rss / 1024, 1),
                "worker_peak_pss_mb": round(peak_pss / 1024, 1),
            }
            results.append(result)
            if not args.json:
                print(json.dumps(result), flush=True)
        summary = {
            "ideal_s": ideal,
            "median_wall_s": statistics.median(r["wall_s"] for r in results),
            "median_ratio_to_ideal": statistics.median(r["ratio_to_ideal"] for r in results),
            "max_queries_per_attempt": max(r["queries_per_attempt"] for r in results),
            "median_worker_cpu_ms_per_attempt": statistics.median(r["worker_cpu_ms_per_attempt"] for r in results),
            "worker_peak_rss_mb": max(r["worker_peak_rss_mb"] for r in results),
            "worker_all_processes_rss_mb": max(r["worker_all_processes_rss_mb"] for r in results),
            "worker_peak_pss_mb": max(r["worker_peak_pss_mb"] for r in results),
            "rounds": len(results), "worker_processes": args.worker_processes, "concurrency": args.concurrency,
            "targets": {"ratio_to_ideal": 1.25, "queries_per_attempt": 3, "worker_peak_rss_mb": 400},
        }
        print(json.dumps(summary), flush=True)
    finally:
        worker.send_signal(signal.SIGTERM)
        fake.send_signal(signal.SIGTERM)
        for process in (worker, fake):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(probe_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
