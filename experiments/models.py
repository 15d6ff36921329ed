"""Datasets, experiments, runs and their attempts.

The write paths live in `experiments.services` (datasets, experiments), `experiments.runs` (start,
cancel, retry), `experiments.lifecycle` (every run and chunk transition) and
`experiments.pipeline` (the attempts); reads in `experiments.selectors` and `experiments.outcomes`.
"""

from __future__ import annotations

import enum

from django.conf import settings
from django.db import models
from django.db.models import Q

from benchhub.models import TimestampedModel
from orgs.models import Organization
from providers.interface import ErrorType
from providers.pricing import USD_DECIMAL_PLACES, USD_MAX_DIGITS


class CaseKind(models.TextChoices):
    QA = "qa", "Question answering"
    PR = "pr", "Pull-request change"
    DATA_CLEANING = "data_cleaning", "Data cleaning"
    RAG = "rag", "Retrieval-augmented QA"


class DatasetSource(models.TextChoices):
    JSONL = "jsonl", "JSONL upload"
    CSV = "csv", "CSV upload"
    GIT = "git", "Git commit range"
    BUILDER = "builder", "Data-cleaning builder"


class Dataset(TimestampedModel):
    """One immutable, checksummed version of a named dataset (what `GET datasets/{id}/` returns).

    A new upload under the same name becomes version N+1; the same content under the same name is
    the existing version (unique on org, name, checksum), so re-uploading is idempotent.
    """

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=CaseKind.choices)
    rows = models.PositiveIntegerField()
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the kind and the canonical rows.")
    source = models.CharField(max_length=16, choices=DatasetSource.choices, default=DatasetSource.JSONL)
    metadata = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    ORG_LOOKUP = "org"

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["org", "name", "version"], name="dataset_unique_org_name_version"),
            models.UniqueConstraint(fields=["org", "name", "checksum"], name="dataset_unique_org_name_checksum"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class Case(models.Model):
    """One dataset row. `case_id` is the row's own `id`; `payload` holds the kind's fields."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="cases")
    case_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=CaseKind.choices)
    position = models.PositiveIntegerField()
    payload = models.JSONField()

    ORG_LOOKUP = "dataset__org"

    class Meta:
        ordering = ["dataset_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "case_id"], name="case_unique_dataset_case_id"),
        ]

    def __str__(self) -> str:
        return self.case_id


class Experiment(TimestampedModel):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="experiments")
    scorers = models.JSONField(default=list, blank=True)
    # The evaluator profiles arrive with the evaluator issue; until then the id is kept as given
    # (and frozen into each run's snapshot) so that a later FK migration keeps the column.
    evaluator_profile_id = models.PositiveBigIntegerField(null=True, blank=True)
    samples_per_case = models.PositiveIntegerField(default=1)
    seed = models.BigIntegerField(default=0)
    budget_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    concurrency = models.PositiveIntegerField(default=16, help_text="Most attempts in flight for one run.")
    # What the evaluator may spend on one run, apart from the arms' budget; NULL = no cap.
    evaluator_budget_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    # Optional override of the kind's default prompt template: {"system": "...", "user": "..."}.
    prompt_template = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    ORG_LOOKUP = "org"

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(samples_per_case__gte=1), name="experiment_samples_positive"),
            models.CheckConstraint(condition=Q(concurrency__gte=1), name="experiment_concurrency_positive"),
            models.CheckConstraint(
                condition=Q(budget_usd__isnull=True) | Q(budget_usd__gte=0), name="experiment_budget_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Arm(models.Model):
    """Provider + model + config inside one experiment. `label` is how answers name it."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=200)
    config = models.JSONField(default=dict, blank=True)
    position = models.PositiveIntegerField()
    label = models.CharField(max_length=260, help_text='"<provider>:<model>", plus "#N" for a repeated model.')

    ORG_LOOKUP = "experiment__org"

    class Meta:
        ordering = ["experiment_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "position"], name="arm_unique_experiment_position"),
            models.UniqueConstraint(fields=["experiment", "label"], name="arm_unique_experiment_label"),
        ]

    def __str__(self) -> str:
        return self.label


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


RUN_TERMINAL = frozenset(
    {RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_ERRORS, RunStatus.FAILED, RunStatus.CANCELLED}
)


class StopReason(models.TextChoices):
    NONE = "", "None"
    CANCELLED = "cancelled", "Cancelled by a person"
    BUDGET = "budget_exhausted", "Budget exhausted"


class Run(TimestampedModel):
    """One execution of an experiment with a frozen snapshot of everything that decides results.

    `total/done/failed/running` are maintained by the pipeline (batched `F()` updates) so that
    progress reads never count attempts.
    """

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="runs")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=24, choices=RunStatus.choices, default=RunStatus.QUEUED)
    snapshot = models.JSONField(default=dict)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    running = models.IntegerField(default=0)
    spent_usd = models.DecimalField(max_digits=USD_MAX_DIGITS, decimal_places=USD_DECIMAL_PLACES, default=0)
    # The evaluator's spend on this run (every profile), apart from the arms': moved by F() deltas as
    # verdicts are stored, so progress reads never sum evaluations.
    evaluator_spent_usd = models.DecimalField(max_digits=USD_MAX_DIGITS, decimal_places=USD_DECIMAL_PLACES,
                                              default=0)
    lanes = models.PositiveIntegerField(default=1, help_text="Chunks of this run that may execute at once.")
    stop_reason = models.CharField(max_length=24, choices=StopReason.choices, default=StopReason.NONE, blank=True)
    message = models.TextField(blank=True, default="")
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    ORG_LOOKUP = "org"

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["org", "-created_at"], name="run_org_created_idx"),
            models.Index(fields=["status"], name="run_status_idx"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in RUN_TERMINAL


class ChunkStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for a free lane of its run
    ENQUEUED = "enqueued", "Enqueued"  # a Celery message is out for it
    RUNNING = "running", "Running"  # held by one executor under a lease
    DONE = "done", "Done"


class RunChunk(models.Model):
    """A slice of a run's attempts: the unit of one Celery task, leased while it executes.

    The lease makes redelivery safe: a second delivery of a chunk that another executor holds
    (lease not expired) does nothing; an expired lease (worker killed) is taken over and only the
    attempts not yet ended are executed again.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    size = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=ChunkStatus.choices, default=ChunkStatus.PENDING)
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(default=0)

    ORG_LOOKUP = "run__org"

    class Meta:
        ordering = ["run_id", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="runchunk_unique_run_index")]
        indexes = [models.Index(fields=["status", "lease_expires_at"], name="runchunk_status_lease_idx")]

    def __str__(self) -> str:
        return f"run {self.run_id} chunk {self.index} ({self.status})"


class TaskInstance(models.Model):
    """One case inside one run."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="task_instances")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="task_instances")
    position = models.PositiveIntegerField()

    ORG_LOOKUP = "run__org"

    class Meta:
        ordering = ["run_id", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "case"], name="taskinstance_unique_run_case")]

    def __str__(self) -> str:
        return f"run {self.run_id} case {self.case_id}"


class AttemptStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ATTEMPT_ENDED = frozenset({AttemptStatus.SUCCEEDED, AttemptStatus.FAILED, AttemptStatus.CANCELLED})

# What `Attempt.error_type` (and each entry of `Attempt.errors`) may say: the gateway's error types,
# plus what the run itself does to an attempt. One enum, so a new gateway type needs no edit here.
AttemptErrorType = enum.StrEnum(  # type: ignore[misc]
    "AttemptErrorType",
    [
        *((e.name, e.value) for e in ErrorType),
        ("CANCELLED", "cancelled"),  # the run was cancelled before the call was issued
        ("BUDGET_EXHAUSTED", "budget_exhausted"),  # the run's budget stopped it (= StopReason.BUDGET)
        ("INTERRUPTED", "interrupted"),  # its executor died; the attempt was run again (in `errors`)
    ],
)


class Attempt(models.Model):
    """One arm's answer to one task instance (one sample), with everything needed to audit it."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="attempts")
    task_instance = models.ForeignKey(TaskInstance, on_delete=models.CASCADE, related_name="attempts")
    arm = models.ForeignKey(Arm, on_delete=models.CASCADE, related_name="attempts")
    sample = models.PositiveIntegerField(default=0)
    chunk = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=AttemptStatus.choices, default=AttemptStatus.QUEUED)

    output = models.TextField(blank=True, default="")
    patch = models.TextField(blank=True, default="")
    validation = models.JSONField(default=dict, blank=True)
    scores = models.JSONField(default=dict, blank=True)  # {scorer: {"value", "passed", "details"}}
    score_value = models.FloatField(null=True, blank=True)  # mean of the rule scorers' values
    passed = models.BooleanField(null=True, blank=True)  # every scorer passed
    evaluator_score = models.FloatField(null=True, blank=True)

    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(  # NULL = unpriced
        max_digits=USD_MAX_DIGITS, decimal_places=USD_DECIMAL_PLACES, null=True, blank=True
    )
    latency_ms = models.FloatField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)

    error_type = models.CharField(max_length=32, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    retries = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # every error seen, across tries and reruns
    raw_response = models.JSONField(null=True, blank=True)
    provider_request_id = models.CharField(max_length=200, blank=True, default="")

    queued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)

    ORG_LOOKUP = "run__org"

    class Meta:
        ordering = ["id"]  # ordering by the related rows would join them on every query
        constraints = [
            models.UniqueConstraint(
                fields=["run", "task_instance", "arm", "sample"], name="attempt_unique_run_task_arm_sample"
            ),
        ]
        indexes = [
            models.Index(fields=["run", "arm"], name="attempt_run_arm_idx"),
            models.Index(fields=["run", "status"], name="attempt_run_status_idx"),
            models.Index(fields=["run", "chunk"], name="attempt_run_chunk_idx"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.pk} ({self.status})"


class EvaluationStatus(models.TextChoices):
    SCORED = "scored", "Scored"
    INVALID = "invalid", "Invalid"


class JudgeCall(models.Model):
    """What an evaluator verdict cost and said: its reason when invalid, the staff-only rationale and
    raw answers, its own tokens, cost (0 when it came from the verdict cache) and latency."""

    reason = models.TextField(blank=True, default="")
    rationale = models.TextField(blank=True, default="")
    raw_response = models.JSONField(default=list, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=USD_MAX_DIGITS, decimal_places=USD_DECIMAL_PLACES, null=True, blank=True)
    latency_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    ORG_LOOKUP = "run__org"

    class Meta:
        abstract = True


class AttemptEvaluation(JudgeCall):
    """One evaluator profile version's verdict on one attempt. A replay with another profile adds a
    row and leaves this one as it is, so scores stay queryable by profile.

    `rationale` and `raw_response` are staff-only: org-facing answers show the scores alone.
    `cost_usd` is what this verdict cost when it was asked (0 when it came from the verdict cache).
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="evaluations")
    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="evaluations")
    profile = models.ForeignKey("evaluation.EvaluatorProfile", on_delete=models.PROTECT, related_name="+")
    profile_version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=EvaluationStatus.choices)
    criteria = models.JSONField(default=dict, blank=True)
    overall = models.FloatField(null=True, blank=True)  # 0..1; NULL when invalid (never the lowest score)
    passed = models.BooleanField(null=True, blank=True)  # NULL when invalid (never a pass)
    input_hash = models.CharField(max_length=64, blank=True, default="")
    cache_hit = models.BooleanField(default=False)
    # The judge did not answer (the call failed, or the run's evaluator budget was spent): a replay asks again.
    retryable = models.BooleanField(default=False)

    class Meta(JudgeCall.Meta):
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "profile"], name="attempteval_unique_attempt_profile"),
            models.CheckConstraint(
                condition=Q(status="invalid", overall__isnull=True, passed__isnull=True)
                | Q(status="scored", overall__isnull=False, passed__isnull=False),
                name="attempteval_invalid_has_no_score",
            ),
        ]
        indexes = [models.Index(fields=["run", "profile"], name="attempteval_run_profile_idx")]

    def __str__(self) -> str:
        return f"evaluation {self.pk} of attempt {self.attempt_id} ({self.status})"


class PairwiseEvaluation(JudgeCall):
    """One evaluator verdict comparing two arms' attempts on the same task instance and sample, asked
    in both orders. `outcome` is for `attempt_a` (the arm listed first): 1 win, 0 loss, ½ tie; a
    win counts only when both orders agree. NULL when either order gave no verdict.
    `first_ab` / `first_ba` are the raw winners ("A", "B", "tie", "" when invalid) of each order,
    from which the profile's position bias is read."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="pairwise_evaluations")
    task_instance = models.ForeignKey(TaskInstance, on_delete=models.CASCADE, related_name="+")
    profile = models.ForeignKey("evaluation.EvaluatorProfile", on_delete=models.PROTECT, related_name="+")
    attempt_a = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="+")
    attempt_b = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="+")
    winner_ab = models.CharField(max_length=8, blank=True, default="")  # a shown as A
    winner_ba = models.CharField(max_length=8, blank=True, default="")  # b shown as A
    outcome = models.FloatField(null=True, blank=True)

    class Meta(JudgeCall.Meta):
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "attempt_a", "attempt_b"], name="pairwise_unique_profile_pair"),
        ]
        indexes = [models.Index(fields=["run", "profile"], name="pairwise_run_profile_idx")]

    def __str__(self) -> str:
        return f"pairwise {self.pk} ({self.attempt_a_id} vs {self.attempt_b_id})"
