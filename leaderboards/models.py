"""Persisted aggregates: what a leaderboard read needs, computed when a run ends, so reads never scan attempts.

- `RunLeaderboard`: the four boards of one run, its pairwise ratings, frontier and failure
  taxonomy, ready to serve (a partial one while the run is in flight).
- `ArmAggregate`: one arm of one run, with its sufficient statistics per case in a compact binary
  blob; experiment-wide and dataset-wide boards and trends are combined from these rows.
"""

from __future__ import annotations

from django.db import models

from benchhub.models import TimestampedModel
from orgs.models import Organization


class BoardState(models.TextChoices):
    PARTIAL = "partial", "Partial (run in progress)"
    FINAL = "final", "Final"


class RunLeaderboard(TimestampedModel):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    run = models.OneToOneField("experiments.Run", on_delete=models.CASCADE, related_name="leaderboard_aggregate")
    state = models.CharField(max_length=16, choices=BoardState.choices, default=BoardState.PARTIAL)
    # Bumped on every recompute; part of the cache key, so a stale cached board is never served.
    version = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()
    compute_seconds = models.FloatField(default=0)
    attempts_ended = models.PositiveIntegerField(default=0)
    evaluator_profile = models.CharField(max_length=100, blank=True, default="")
    boards = models.JSONField(default=dict)  # {"quality": [...], "speed": [...], "cost": [...], "evaluator": [...]}
    pairwise = models.JSONField(default=dict)  # win-rate matrix and Bradley–Terry ratings
    frontier = models.JSONField(default=list)
    failures = models.JSONField(default=dict)
    params = models.JSONField(default=dict)  # seed, bootstrap replicates, cases: how the bounds were made

    ORG_LOOKUP = "org"

    def __str__(self) -> str:
        return f"leaderboard of run {self.run_id} v{self.version} ({self.state})"


class ArmAggregate(TimestampedModel):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey("experiments.Run", on_delete=models.CASCADE, related_name="arm_aggregates")
    experiment = models.ForeignKey("experiments.Experiment", on_delete=models.CASCADE, related_name="+")
    dataset = models.ForeignKey("experiments.Dataset", on_delete=models.CASCADE, related_name="+")
    arm = models.ForeignKey("experiments.Arm", on_delete=models.CASCADE, related_name="+")
    # provider:model:<hash of config>; the same arm met in several experiments has one key.
    arm_key = models.CharField(max_length=300)
    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=200)
    label = models.CharField(max_length=260)
    evaluator_profile = models.CharField(max_length=100, blank=True, default="")
    run_finished_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict)  # this arm's values in this run, for trends
    case_stats = models.BinaryField()  # numpy .npz of per-case sums and per-attempt latencies

    ORG_LOOKUP = "org"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "arm"], name="armaggregate_unique_run_arm")]
        indexes = [
            models.Index(fields=["org", "experiment"], name="armagg_org_experiment_idx"),
            models.Index(fields=["org", "dataset", "evaluator_profile"], name="armagg_org_dataset_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.label} in run {self.run_id}"


class CleaningAggregate(TimestampedModel):
    """The data-cleaning metrics of one arm in one run, as per-case sums (a numpy .npz blob).

    Beside its `ArmAggregate` (deleted and rewritten with it at every recompute), for runs scored
    by `data_cleaning`: the `cleaning` section of run and cross-run boards and the org's
    `metrics/...` routes merge these, never the attempts.
    """

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    aggregate = models.OneToOneField(ArmAggregate, on_delete=models.CASCADE, related_name="cleaning")
    case_stats = models.BinaryField()

    ORG_LOOKUP = "org"

    def __str__(self) -> str:
        return f"cleaning metrics of aggregate {self.aggregate_id}"
