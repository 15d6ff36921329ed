"""How to judge: rubrics (versioned data), evaluator profiles (platform-owned, frozen once used) and
the verdict cache keyed by (profile version, input hash).

Nothing here knows attempts: what was judged lives in `experiments` (AttemptEvaluation,
PairwiseEvaluation), which points at these rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from benchhub.models import TimestampedModel
from providers.models import Provider
from providers.pricing import USD_DECIMAL_PLACES, USD_MAX_DIGITS


class Rubric(TimestampedModel):
    """One rubric version for one case kind: criteria with scales, a pass threshold, the answer schema.

    `criteria` is `[{"key", "description", "min", "max", "weight"}]` (integer scales, higher is
    better: "change risk" 5 means a safe change). `pass_threshold` applies to the overall score,
    the weighted mean of the criteria mapped to 0..1, so pass and score never contradict.
    Rows are data, never edited once written (a change is a new `version`).
    """

    version = models.CharField(max_length=32)
    kind = models.CharField(max_length=16, help_text='A case kind ("qa", "pr", "rag", "data_cleaning").')
    criteria = models.JSONField()
    pass_threshold = models.FloatField()

    class Meta:
        ordering = ["version", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["version", "kind"], name="rubric_unique_version_kind"),
            models.CheckConstraint(condition=Q(pass_threshold__gte=0) & Q(pass_threshold__lte=1),
                                   name="rubric_threshold_0_1"),
        ]

    def __str__(self) -> str:
        return f"rubric v{self.version} ({self.kind})"


class EvaluatorProfile(TimestampedModel):
    """A platform-owned judge: provider, model, endpoint and its own credential, rubric and prompt
    versions, sampling. Frozen (`frozen_at`) once a verdict used it; a change is a new `version`.

    The credential is the platform's (encrypted with the same keys as org credentials), never an
    org's: evaluator calls bill the platform and are blind to which org or arm they judge.
    """

    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    provider = models.CharField(max_length=32, choices=Provider.choices)
    model = models.CharField(max_length=200)
    base_url = models.URLField(max_length=500, blank=True)
    api_version = models.CharField(max_length=64, blank=True)
    encrypted_api_key = models.TextField(blank=True, help_text="Fernet token; never the plaintext.")
    api_key_last4 = models.CharField(max_length=4, blank=True)
    rubric_version = models.CharField(max_length=32, default="1")
    prompt_version = models.CharField(max_length=32, default="1")
    # temperature 0 and a fixed seed (where the provider takes one), max_tokens; limits in `config`.
    sampling = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="Endpoint limits: max_concurrency, rpm, timeout.")
    # The agreement recorded on the fixed calibration set (kappa, n): the drift alarm's reference.
    calibration = models.JSONField(default=dict, blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="evaluator_profile_unique_name_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.provider}:{self.model})"

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None


class VerdictStatus(models.TextChoices):
    SCORED = "scored", "Scored"
    INVALID = "invalid", "Invalid"


class EvaluatorVerdict(models.Model):
    """The cache of judge answers: one per (profile version, hash of everything the judge saw).

    Replays and retries find their verdict here and never pay twice. Only answers of the judge are
    stored (scored, or invalid after the repair retry); a failed call is not, so it is asked again.
    """

    profile = models.ForeignKey(EvaluatorProfile, on_delete=models.PROTECT, related_name="verdicts")
    input_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=VerdictStatus.choices)
    answer = models.JSONField(null=True, blank=True)  # the validated JSON answer
    reason = models.TextField(blank=True, default="")  # why invalid
    raw_response = models.JSONField(default=list, blank=True)  # every raw answer text, repair included
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=USD_MAX_DIGITS, decimal_places=USD_DECIMAL_PLACES, null=True, blank=True)
    latency_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["profile", "input_hash"], name="evaluator_verdict_unique_profile_hash"),
        ]

    def __str__(self) -> str:
        return f"verdict {self.pk} ({self.status})"
