"""PR validation throughput: 200 `pr_tests` validations with 2 sandbox slots, and the sandbox's own cost.

    .venv/bin/python benchmarks/validation_throughput.py [--attempts 200] [--slots 2] [--repeat 3]

What runs: the fixture repo's ten cases (tests/fixtures/pr_repo), answered alternately with the
right and the wrong patch in a ```diff fence, scored by the `pr_tests` scorer (extraction, then
apply, lint, build and pytest, each in its own bubblewrap sandbox) from `2 x slots` processes
competing for `--slots` slots (BENCHHUB_SANDBOX_CONCURRENCY), as the processes of a Celery worker
on the scoring queue would. No database: this measures the validation, not the bookkeeping.

Printed per repeat and as the median: wall time and validations per second; then the sandbox's
own overhead: the same empty pytest run (one test that passes) inside bwrap and outside it (the
same interpreter, arguments, environment and directory), 20 times each, median per run, and the
difference; and that of a bare `/bin/true`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _setup(slots: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchhub.settings.local")
    os.environ["BENCHHUB_SANDBOX_CONCURRENCY"] = str(slots)
    import django

    django.setup()


def _validate(index: int) -> tuple[bool, float]:
    from evaluation.scorers import ScoreInput, scorer_build
    from tests.fixtures.pr_repo.dataset import pr_rows, right_patch, wrong_patch

    rows = pr_rows()
    row = rows[index % len(rows)]
    patch = right_patch(row["id"]) if (index // len(rows)) % 2 == 0 else wrong_patch(row["id"])
    score = scorer_build({"type": "pr_tests"}).score(ScoreInput(output=f"```diff\n{patch}```", case=row))
    return score.passed, score.value


def round_of(attempts: int, slots: int) -> float:
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=2 * slots, initializer=_setup, initargs=(slots,)) as pool:
        results = list(pool.map(_validate, range(attempts)))
    wall = time.monotonic() - started
    passed = sum(1 for ok, _ in results if ok)
    # Right patches pass, wrong ones do not: anything else is a broken sandbox, not a figure.
    expected = sum(1 for index in range(attempts) if (index // 10) % 2 == 0)
    assert passed == expected, f"{passed} of {attempts} passed, {expected} expected"
    return wall


def overhead(samples: int = 20) -> dict[str, float]:
    from evaluation import sandbox

    results: dict[str, float] = {}
    with sandbox.sandbox_slot() as slot, sandbox.workspace_create(slot=slot) as workspace:
        (workspace / "test_empty.py").write_text("def test_empty():\n    pass\n")
        sandbox.workspace_hand_over(workspace, slot=slot)
        limits = sandbox.sandbox_limits()
        # What the validation's test step sets inside; outside, the same with host paths.
        inside_env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        env = sandbox.sandbox_env({**inside_env, "HOME": str(workspace), "TMPDIR": str(workspace / ".tmp")})
        commands = {
            "pytest": [sandbox.sandbox_python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_empty.py"],
            "true": ["/bin/true"],
        }
        for name, argv in commands.items():
            inside, outside = [], []
            for _ in range(samples):
                result = sandbox.sandbox_run(argv, workspace=workspace, limits=limits, slot=slot, env=inside_env)
                assert result.ok, result.log
                inside.append(result.duration_ms / 1000)
                started = time.monotonic()
                subprocess.run(argv, cwd=workspace, env=env, check=True, capture_output=True)
                outside.append(time.monotonic() - started)
            results[f"{name}_inside"] = statistics.median(inside)
            results[f"{name}_outside"] = statistics.median(outside)
            # Each inside run paired with the outside run right after it: on a shared machine the
            # load changes between samples, less within a pair.
            results[f"{name}_overhead"] = statistics.median(i - o for i, o in zip(inside, outside, strict=True))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    _setup(args.slots)
    from evaluation.sandbox import sandbox_unavailable_reason

    reason = sandbox_unavailable_reason()
    if reason:
        sys.exit(f"no sandbox here: {reason}")
    walls, rates, overheads = [], [], []
    for index in range(args.repeat):
        wall = round_of(args.attempts, args.slots)
        extra = overhead()
        walls.append(wall)
        rates.append(args.attempts / wall)
        overheads.append(extra)
        print(f"round {index + 1}: {args.attempts} validations in {wall:.1f} s = {args.attempts / wall:.2f}/s; "
              f"empty pytest {extra['pytest_inside'] * 1000:.0f} ms inside bwrap vs "
              f"{extra['pytest_outside'] * 1000:.0f} ms outside; /bin/true {extra['true_inside'] * 1000:.1f} ms vs "
              f"{extra['true_outside'] * 1000:.1f} ms", flush=True)

    def med(key: str) -> float:
        return statistics.median(o[key] for o in overheads) * 1000

    print(f"median of {args.repeat}: {statistics.median(walls):.1f} s wall, "
          f"{statistics.median(rates):.2f} validations/s with {args.slots} slots "
          f"({statistics.median(walls) / args.attempts * 1000:.0f} ms per validation per slot x {args.slots})")
    print(f"sandbox overhead, paired median: empty pytest {med('pytest_overhead'):.0f} ms per run "
          f"({med('pytest_inside'):.0f} ms inside vs {med('pytest_outside'):.0f} ms outside); bare /bin/true "
          f"{med('true_overhead'):.1f} ms ({med('true_inside'):.1f} vs {med('true_outside'):.1f} ms). A validation "
          f"runs 4 sandboxed commands (apply, lint, build, test; 5 when apply falls back to fuzz): about "
          f"{4 * med('true_overhead'):.0f} ms of fixed sandbox cost per validation")


if __name__ == "__main__":
    main()
