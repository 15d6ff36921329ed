"""`manage.py evaluator_shadow --run ID --a PROFILE --b PROFILE`: how far two evaluator profiles agree
on the run's attempts both scored (agreement, Spearman, Kendall, Cohen's κ on pass/fail). Replay the
run with the second profile first (`evaluator_replay`). Last line of stdout: the report as JSON."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from evaluation.models import EvaluatorProfile
from experiments.judging import evaluator_shadow
from experiments.models import Run


class Command(BaseCommand):
    help = "Compare two evaluator profiles on the same attempts of a run (shadow report)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--run", type=int, required=True)
        parser.add_argument("--a", type=int, required=True, help="the profile in use")
        parser.add_argument("--b", type=int, required=True, help="the candidate (shadow) profile")

    def handle(self, *args, run: int, a: int, b: int, **options) -> None:  # type: ignore[no-untyped-def]
        if not Run.objects.filter(pk=run).exists():
            raise CommandError(f"no run {run}")
        missing = {a, b} - set(EvaluatorProfile.objects.filter(pk__in=[a, b]).values_list("pk", flat=True))
        if missing:
            raise CommandError(f"no evaluator profile {sorted(missing)[0]}")
        self.stdout.write(json.dumps(evaluator_shadow(run_id=run, profile_a=a, profile_b=b)))
