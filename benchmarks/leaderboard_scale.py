"""Leaderboards at scale: 1,000,000 attempts (20 arms × 10,000 cases × 5 samples) on Postgres.

Creates its own database (default `bh_lb_bench`, dropped at the end), inserts the attempts with
COPY (psycopg 3), then measures:
- the aggregation a run end triggers (`run_leaderboard_compute`), target ≤ 60 s;
- `GET /api/v1/runs/{id}/leaderboard/` through the whole Django stack with an API key:
  p95 warm (payload in the cache) ≤ 100 ms and cold (cache emptied before each call) ≤ 500 ms.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python benchmarks/leaderboard_scale.py [--cases 10000 --arms 20 --samples 5]

DATABASE_URL names the server (its database part is replaced by --database); without REDIS_URL
the cache is local memory. Prints the figures and exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_AGGREGATE_S = 60.0
TARGET_WARM_P95_MS = 100.0
TARGET_COLD_P95_MS = 500.0


def _server_url(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def _admin_conninfo(url: str) -> str:
    return _server_url(url, "postgres").replace("postgres://", "postgresql://", 1)


def create_database(url: str, name: str) -> None:
    with psycopg.connect(_admin_conninfo(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str, name: str) -> None:
    with psycopg.connect(_admin_conninfo(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def p95(samples: list[float]) -> float:
    return float(np.percentile(samples, 95))


def seed_attempts(*, cases: int, arms: int, samples: int, seed: int = 1):  # type: ignore[no-untyped-def]
    """Org, dataset, experiment, run and task instances with the ORM; the attempts with COPY."""
    from django.db import connection

    from experiments.models import Arm, Attempt, Case, Dataset, Experiment, Run, RunStatus, TaskInstance
    from orgs.services import api_key_create, org_get_or_create

    org, _ = org_get_or_create(slug="lb-bench", name="Leaderboard bench")
    _, key = api_key_create(org=org, name="bench", role="viewer")
    dataset = Dataset.objects.create(org=org, name="bench", version=1, kind="qa", rows=cases, checksum="bench")
    Case.objects.bulk_create(
        (Case(dataset=dataset, case_id=f"case-{i}", kind="qa", position=i, payload={"input": "q", "reference": "a"})
         for i in range(cases)), batch_size=5000,
    )
    experiment = Experiment.objects.create(org=org, name="bench", dataset=dataset, samples_per_case=samples,
                                           evaluator_profile_id=1)
    arm_rows = Arm.objects.bulk_create(
        Arm(experiment=experiment, provider="mock", model=f"model-{a:02d}", position=a, label=f"mock:model-{a:02d}",
            config={"temperature": 0})
        for a in range(arms)
    )
    now = datetime.now(UTC)
    run = Run.objects.create(org=org, experiment=experiment, status=RunStatus.COMPLETED, total=cases * arms * samples,
                             done=cases * arms * samples, snapshot={"evaluator_profile": 1}, started_at=now,
                             finished_at=now)
    case_ids = list(Case.objects.filter(dataset=dataset).order_by("position").values_list("pk", flat=True))
    TaskInstance.objects.bulk_create(
        (TaskInstance(run=run, case_id=c, position=i) for i, c in enumerate(case_ids)), batch_size=5000
    )
    instances = list(TaskInstance.objects.filter(run=run).order_by("position").values_list("pk", flat=True))

    rng = np.random.default_rng(seed)
    quality = np.linspace(0.35, 0.85, arms)
    difficulty = rng.normal(0, 0.2, size=cases)
    base_latency = np.linspace(600, 3000, arms)
    price = np.linspace(0.0002, 0.004, arms)
    error_types = ["rate_limited", "timeout", "unavailable", "bad_request"]

    # COPY in text format, one preformatted line per attempt: the columns that vary are built per
    # arm from numpy arrays; every other column of the model gets its default (or NULL).
    varying = ["run_id", "task_instance_id", "arm_id", "sample", "status", "scores", "score_value", "passed",
               "evaluator_score", "input_tokens", "output_tokens", "cost_usd", "latency_ms", "ttft_ms",
               "error_type", "queued_at", "started_at", "responded_at", "scored_at"]
    constant: dict[str, str] = {}
    for field in Attempt._meta.concrete_fields:
        if field.primary_key or field.column in varying:
            continue
        default = field.get_default()
        if default is None:
            constant[field.column] = "\\N"
        elif isinstance(default, dict | list):
            constant[field.column] = json.dumps(default)
        elif isinstance(default, bool):
            constant[field.column] = "t" if default else "f"
        else:
            constant[field.column] = str(default)
    columns = varying + list(constant)
    tail = "\t".join(constant.values())
    stamp = now.isoformat()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.connection  # the psycopg 3 connection under Django's wrapper
        with raw.cursor().copy(f"COPY experiments_attempt ({', '.join(columns)}) FROM STDIN") as copy:
            for a, arm in enumerate(arm_rows):
                n = cases * samples
                case_index = np.repeat(np.arange(cases), samples)
                p = np.clip(quality[a] + difficulty[case_index], 0.01, 0.99)
                score = (rng.random(n) < p).astype(int)
                failed = rng.random(n) < 0.01
                latency = rng.lognormal(np.log(base_latency[a]), 0.35, n)
                ttft = latency * rng.uniform(0.1, 0.3, n)
                out_tokens = rng.integers(50, 400, n)
                evaluator = np.clip(score * 0.7 + rng.normal(0.15, 0.1, n), 0, 1)
                cost = price[a] * (0.5 + out_tokens / 400)
                # The last arm is a local model without a price: it must show "unpriced", not 0.
                unpriced = a == arms - 1
                lines = []
                for k, (ci, ok_score, bad, lat, tt, tok, ev, usd) in enumerate(zip(
                    case_index.tolist(), score.tolist(), failed.tolist(), latency.tolist(), ttft.tolist(),
                    out_tokens.tolist(), evaluator.tolist(), cost.tolist(), strict=True,
                )):
                    head = f"{run.pk}\t{instances[ci]}\t{arm.pk}\t{k % samples}\t"
                    if bad:
                        body = (f"failed\t{{}}\t\\N\t\\N\t\\N\t0\t0\t\\N\t\\N\t\\N\t"
                                f"{error_types[k % 4]}\t{stamp}\t{stamp}\t{stamp}\t\\N")
                    else:
                        price_text = "\\N" if unpriced else f"{usd:.8f}"
                        body = (f'succeeded\t{{"exact": {{"value": {ok_score}}}}}\t{ok_score}\t'
                                f"{'t' if ok_score else 'f'}\t{ev:.4f}\t120\t{tok}\t{price_text}\t"
                                f"{lat:.2f}\t{tt:.2f}\t\t{stamp}\t{stamp}\t{stamp}\t{stamp}")
                    lines.append(head + body + "\t" + tail + "\n")
                copy.write("".join(lines))
    insert_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE experiments_attempt")
    return run, key, insert_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--arms", type=int, default=20)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--database", default="bh_lb_bench")
    parser.add_argument("--repeat", type=int, default=3, help="aggregation runs (the median is reported)")
    parser.add_argument("--requests", type=int, default=200, help="requests per warm/cold measurement")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not server.startswith(("postgres://", "postgresql://")):
        print("DATABASE_URL must name a Postgres server", file=sys.stderr)
        return 2
    create_database(server, args.database)
    os.environ["DATABASE_URL"] = _server_url(server, args.database)
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchhub.settings.test"
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        from leaderboards.selectors import cache_clear
        from leaderboards.services import run_leaderboard_compute

        call_command("migrate", verbosity=0)
        total = args.cases * args.arms * args.samples
        run, key, insert_seconds = seed_attempts(cases=args.cases, arms=args.arms, samples=args.samples)
        print(f"inserted {total:,} attempts with COPY in {insert_seconds:.1f} s")

        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            board = run_leaderboard_compute(run_id=run.pk)
            times.append(time.perf_counter() - started)
        aggregate_s = statistics.median(times)
        print(f"aggregation: median {aggregate_s:.1f} s over {args.repeat} runs "
              f"({', '.join(f'{t:.1f}' for t in times)}); {board.params}")

        client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        url = f"/api/v1/runs/{run.pk}/leaderboard/"
        connection.close()  # measure with a connection the requests open themselves

        def timed_get() -> float:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.content[:500]
            return elapsed

        cold = []
        for _ in range(args.requests):
            cache_clear()
            cold.append(timed_get())
        timed_get()
        warm = [timed_get() for _ in range(args.requests)]
        body = client.get(url).json()
        print(f"leaderboard endpoint warm: p50 {np.median(warm):.1f} ms, p95 {p95(warm):.1f} ms "
              f"(target ≤ {TARGET_WARM_P95_MS:.0f})")
        print(f"leaderboard endpoint cold: p50 {np.median(cold):.1f} ms, p95 {p95(cold):.1f} ms "
              f"(target ≤ {TARGET_COLD_P95_MS:.0f})")
        # The experiment-wide board merges the persisted per-case stats of the experiment's runs
        # and bootstraps them on first read (then cached): reported, not a target of the issue.
        experiment_url = f"/api/v1/experiments/{run.experiment_id}/leaderboard/"
        cache_clear()
        started = time.perf_counter()
        assert client.get(experiment_url).status_code == 200
        experiment_cold_ms = (time.perf_counter() - started) * 1000
        experiment_warm = []
        for _ in range(20):
            started = time.perf_counter()
            client.get(experiment_url)
            experiment_warm.append((time.perf_counter() - started) * 1000)
        print(f"experiment board (1 run): first read {experiment_cold_ms:.0f} ms, "
              f"then p95 {p95(experiment_warm):.1f} ms")
        print("top of the quality board:", [(r["arm"], r["value"], r["rank"]) for r in body["quality"][:3]])
        print("cost board, last row:", {k: body["cost"][-1][k] for k in ("arm", "status", "value", "rank")})
        ok = aggregate_s <= TARGET_AGGREGATE_S and p95(warm) <= TARGET_WARM_P95_MS and p95(cold) <= TARGET_COLD_P95_MS
        print("RESULT:", "all targets met" if ok else "a target was missed")
        cache_clear()
        connection.close()
        return 0 if ok else 1
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(server, args.database)


if __name__ == "__main__":
    raise SystemExit(main())
