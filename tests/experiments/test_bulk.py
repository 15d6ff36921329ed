"""`experiments.bulk.update_rows`, the pipeline's one-statement result write, on any database."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from experiments.bulk import update_rows
from experiments.models import Attempt, AttemptStatus
from experiments.pipeline.results import RESULT_FIELDS
from tests.experiments.factories import make_unstarted_run

pytestmark = pytest.mark.django_db

AWKWARD = [
    'quotes " and \' and back\\slash',
    "braces {a,b} and commas, , NULL null",
    "line\nbreaks\tand tabs, unicode: naïve 東京 🚀",
    "",
]


def test_every_result_field_round_trips_whatever_the_text(org_world):
    run = make_unstarted_run(org_world.a.org)
    attempts = list(Attempt.objects.filter(run=run).order_by("pk"))
    now = timezone.now()
    for i, attempt in enumerate(attempts):
        attempt.status = AttemptStatus.SUCCEEDED if i % 2 == 0 else AttemptStatus.FAILED
        attempt.output = AWKWARD[i % len(AWKWARD)]
        attempt.scores = {"exact": {"value": 1.0, "passed": True, "details": {"note": AWKWARD[i % len(AWKWARD)]}}}
        attempt.score_value = 0.5 if i % 2 == 0 else None
        attempt.passed = True if i % 2 == 0 else None
        # Below 1e-8: kept, not rounded to 0; NULL (unpriced) on every other attempt.
        attempt.cost_usd = Decimal("0.0000000123") if i % 2 == 0 else None
        attempt.errors = [{"type": "rate_limited", "message": 'he said "slow down"', "status_code": 429}]
        attempt.raw_response = {"choices": [{"message": {"content": AWKWARD[i % len(AWKWARD)]}}]} if i % 2 == 0 else None
        attempt.responded_at = now
        attempt.retries = i
    assert update_rows(Attempt, attempts, RESULT_FIELDS) == len(attempts)
    for before in attempts:
        after = Attempt.objects.get(pk=before.pk)
        for name in RESULT_FIELDS:
            assert getattr(after, name) == getattr(before, name), name
