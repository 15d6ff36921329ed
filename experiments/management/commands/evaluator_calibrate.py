"""`manage.py evaluator_calibrate --run ID --profile ID`: a profile's pass against the PR tests' pass on a
run kept as its fixed calibration set (κ, confusion matrix). The first calibration is recorded on the
profile; later ones say `"drift": true` when κ fell below it (exit status 3, for a scheduled check).
Last line of stdout: the report as JSON."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from evaluation.models import EvaluatorProfile
from experiments.judging import evaluator_calibrate
from experiments.models import Run

DRIFT_EXIT_STATUS = 3


class Command(BaseCommand):
    help = "Calibrate an evaluator profile against the PR tests of a run; exit 3 on drift."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--run", type=int, required=True)
        parser.add_argument("--profile", type=int, required=True)

    def handle(self, *args, run: int, profile: int, **options) -> None:  # type: ignore[no-untyped-def]
        if not Run.objects.filter(pk=run).exists():
            raise CommandError(f"no run {run}")
        if not EvaluatorProfile.objects.filter(pk=profile).exists():
            raise CommandError(f"no evaluator profile {profile}")
        report = evaluator_calibrate(run_id=run, profile_id=profile)
        self.stdout.write(json.dumps(report))
        if report["drift"]:
            sys.exit(DRIFT_EXIT_STATUS)
