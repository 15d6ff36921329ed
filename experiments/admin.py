"""Django admin for org admins: datasets, experiments and runs of the orgs they administer only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest

from evaluation.models import EvaluatorProfile
from experiments.judging import evaluator_replay_send
from experiments.models import (
    Arm,
    Attempt,
    AttemptEvaluation,
    AttemptStatus,
    Dataset,
    Experiment,
    PairwiseEvaluation,
    Run,
)
from orgs.admin_scoping import OrgScopedAdmin

# Attempts in these states carry results (an answer, an error, a cost) or a call in flight: their
# run is history (or still making it), and deleting it would erase that without a trace.
_RESULT_STATES = [AttemptStatus.SUCCEEDED, AttemptStatus.FAILED, AttemptStatus.RUNNING]


def _runs_with_results(runs):  # type: ignore[no-untyped-def]
    return runs.filter(attempts__status__in=_RESULT_STATES)


@admin.register(Dataset)
class DatasetAdmin(OrgScopedAdmin):
    list_display = ["name", "version", "kind", "rows", "org", "created_at"]
    list_filter = ["kind", "org"]
    search_fields = ["name", "checksum"]
    # Versions are immutable: an admin reads them; changes come as new uploads.
    readonly_fields = ["org", "name", "version", "kind", "rows", "checksum", "source", "metadata", "created_by"]

    # Versions come from uploads (API, dashboard), which validate and checksum them.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ArmInline(admin.TabularInline):
    model = Arm
    extra = 0
    readonly_fields = ["provider", "model", "config", "position", "label"]
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(Experiment)
class ExperimentAdmin(OrgScopedAdmin):
    list_display = ["name", "dataset", "samples_per_case", "concurrency", "budget_usd", "org", "created_at"]
    list_filter = ["org"]
    search_fields = ["name"]
    list_select_related = ["dataset", "org"]
    inlines = [ArmInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Experiment | None = None):  # type: ignore[no-untyped-def]
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.runs.exists():
            # Its runs were scored against these: changing them would rewrite what the runs mean.
            fields += ["org", "dataset", "scorers"]
        return fields

    def has_delete_permission(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        # Deleting cascades to runs, attempts and boards: never once any run has results.
        if obj is not None and _runs_with_results(obj.runs.all()).exists():
            return False
        return super().has_delete_permission(request, obj)


class ReplayActionForm(ActionForm):
    evaluator_profile = forms.IntegerField(required=False, label="Evaluator profile id",
                                           help_text="For the evaluator replay action.")


@admin.register(Run)
class RunAdmin(OrgScopedAdmin):
    action_form = ReplayActionForm
    actions = ["evaluator_replay"]
    list_display = ["id", "experiment", "status", "done", "failed", "total", "org", "created_at", "finished_at"]
    list_filter = ["status", "org"]
    list_select_related = ["experiment", "org"]
    # Runs change only through their services (start, cancel, retry-failed); the admin reads them.
    readonly_fields = [
        "org", "experiment", "status", "snapshot", "total", "done", "failed", "running", "spent_usd", "lanes",
        "stop_reason", "message", "cancel_requested_at", "started_at", "finished_at", "created_by",
    ]

    def get_actions(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        actions = super().get_actions(request)
        if not (request.user.is_active and request.user.is_superuser):
            actions.pop("evaluator_replay", None)  # the evaluator is platform staff's
        return actions

    @admin.action(description="Replay with evaluator profile (calls no arm; old scores stay)")
    def evaluator_replay(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        profile = EvaluatorProfile.objects.filter(pk=request.POST.get("evaluator_profile") or 0).first()
        if profile is None:
            self.message_user(request, "Give the id of an evaluator profile to replay with.", messages.ERROR)
            return
        for run in queryset:
            evaluator_replay_send(run_id=run.pk, profile_id=profile.pk)
        self.message_user(request, f"Replaying {queryset.count()} run(s) with {profile}.", messages.SUCCESS)

    # A run is made by starting it (run_start), which snapshots and fans out its attempts.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        if obj is not None and _runs_with_results(Run.objects.filter(pk=obj.pk)).exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Attempt)
class AttemptAdmin(OrgScopedAdmin):
    list_display = ["id", "run", "arm", "sample", "status", "score_value", "cost_usd", "latency_ms", "error_type"]
    list_filter = ["status", "run"]
    list_select_related = ["run", "arm"]
    raw_id_fields = ["run", "task_instance", "arm"]

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        if obj is not None and obj.status in _RESULT_STATES:
            return False
        return super().has_delete_permission(request, obj)

class _PlatformStaffReadOnly(admin.ModelAdmin):
    """Verdicts hold the judge's rationale and raw output: platform staff only, never org admins."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(AttemptEvaluation)
class AttemptEvaluationAdmin(_PlatformStaffReadOnly):
    list_display = ["id", "run", "attempt", "profile", "profile_version", "status", "overall", "passed", "cache_hit",
                    "cost_usd", "created_at"]
    list_filter = ["status", "profile"]
    list_select_related = ["profile"]
    raw_id_fields = ["run", "attempt"]


@admin.register(PairwiseEvaluation)
class PairwiseEvaluationAdmin(_PlatformStaffReadOnly):
    list_display = ["id", "run", "attempt_a", "attempt_b", "profile", "winner_ab", "winner_ba", "outcome", "created_at"]
    list_filter = ["profile"]
    list_select_related = ["profile"]
    raw_id_fields = ["run", "attempt_a", "attempt_b", "task_instance"]
