"""`manage.py evaluator_replay --run ID --profile ID`: re-score a run's stored attempts with an evaluator
profile, calling no arm. Last line of stdout: `{"run", "profile", "scored", "invalid"}`."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from evaluation.models import EvaluatorProfile
from experiments.judging import evaluator_replay
from experiments.models import Run


class Command(BaseCommand):
    help = "Re-score a run's attempts with another evaluator profile (no arm is called; old scores stay)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--run", type=int, required=True)
        parser.add_argument("--profile", type=int, required=True)

    def handle(self, *args, run: int, profile: int, **options) -> None:  # type: ignore[no-untyped-def]
        found_run = Run.objects.filter(pk=run).first()
        if found_run is None:
            raise CommandError(f"no run {run}")
        found_profile = EvaluatorProfile.objects.filter(pk=profile).first()
        if found_profile is None:
            raise CommandError(f"no evaluator profile {profile}")
        result = evaluator_replay(run=found_run, profile=found_profile)
        self.stdout.write(json.dumps(result.as_dict()))
