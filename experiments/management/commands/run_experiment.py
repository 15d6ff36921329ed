"""`manage.py run_experiment <file.yaml|file.json> --org <slug> [--wait]`.

Creates an experiment from the file (the API's fields; the dataset as `dataset: <id>` or
`dataset_file: <path>` with `dataset_kind` and optional `dataset_name`), starts a run, shows a
progress bar on a terminal, and prints the run as JSON on the last line of stdout.
"""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError

from benchhub.api.errors import ApiError
from benchhub.dispatch import background_wait, in_process
from experiments.models import Dataset, Run
from experiments.runs import run_start
from experiments.services import dataset_create, experiment_create
from orgs.models import Organization

EXPERIMENT_FIELDS = (
    "arms", "scorers", "evaluator_profile", "samples_per_case", "seed", "concurrency", "prompt_template",
)


def load_spec(path: Path) -> dict[str, Any]:
    text = path.read_text()
    spec = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    if not isinstance(spec, dict):
        raise CommandError(f"{path}: expected an object of experiment fields")
    return spec


def run_json(run: Run) -> dict[str, Any]:
    from experiments.api.views import run_html_url

    return {
        "id": run.pk,
        "status": run.status,
        "progress": {"total": run.total, "done": run.done, "failed": run.failed, "running": max(0, run.running)},
        "html_url": run_html_url(run),
    }


class Command(BaseCommand):
    help = "Create an experiment from a YAML/JSON file and run it."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("file", type=Path)
        parser.add_argument("--org", required=True, help="the org's slug")
        parser.add_argument("--wait", action="store_true", help="exit when the run ends")
        parser.add_argument("--poll", type=float, default=0.5, help="seconds between progress reads")

    def handle(self, *args, file: Path, org: str, wait: bool, poll: float, **options) -> None:  # type: ignore[no-untyped-def]
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"no org {org!r}")
        if not file.exists():
            raise CommandError(f"no such file: {file}")
        spec = load_spec(file)
        try:
            run = self._start(organization, spec, base=file.parent)
        except ApiError as exc:
            raise CommandError(f"{exc.error_type}: {exc.message} {json.dumps(exc.details, default=str)}") from exc
        # Without a broker the run executes in this very process: leaving would abandon it.
        if wait or in_process():
            run = self._follow(run, poll=poll)
        self.stdout.write(json.dumps(run_json(run)))

    def _start(self, org: Organization, spec: dict[str, Any], *, base: Path) -> Run:
        if spec.get("dataset_file"):
            path = Path(spec["dataset_file"])
            path = path if path.is_absolute() else base / path
            dataset, _ = dataset_create(
                org=org, name=spec.get("dataset_name") or path.stem, kind=spec.get("dataset_kind", "qa"),
                content=path.read_bytes(), filename=path.name,
            )
        elif spec.get("dataset") is not None:
            dataset = Dataset.objects.filter(org=org, pk=spec["dataset"]).first()
            if dataset is None:
                raise CommandError(f"no dataset {spec['dataset']} in org {org.slug}")
        else:
            raise CommandError("the file needs `dataset` (an id) or `dataset_file` (a path)")
        fields = {k: spec[k] for k in EXPERIMENT_FIELDS if k in spec}
        if spec.get("budget_usd") is not None:
            fields["budget_usd"] = Decimal(str(spec["budget_usd"]))
        experiment = experiment_create(org=org, name=spec.get("name") or "experiment", dataset=dataset, **fields)
        return run_start(experiment=experiment)

    def _follow(self, run: Run, *, poll: float) -> Run:
        bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=run.total, unit="attempt", desc=f"run {run.pk}", file=sys.stderr)
        try:
            while True:
                run.refresh_from_db()
                if bar is not None:
                    bar.n = run.done
                    bar.set_postfix(failed=run.failed, status=run.status, refresh=False)
                    bar.refresh()
                if run.is_terminal:
                    # Without a broker the run's thread still runs its after-run work (leaderboards);
                    # a daemon thread would die with this process.
                    background_wait(timeout=120)
                    return run
                time.sleep(poll)
        finally:
            if bar is not None:
                bar.close()
