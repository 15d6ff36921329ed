"""Django admin for org admins: datasets, experiments and runs of the orgs they administer only."""

from __future__ import annotations

from django.contrib import admin

from experiments.models import Arm, Attempt, Dataset, Experiment, Run
from orgs.admin_scoping import OrgScopedAdmin


@admin.register(Dataset)
class DatasetAdmin(OrgScopedAdmin):
    list_display = ["name", "version", "kind", "rows", "org", "created_at"]
    list_filter = ["kind", "org"]
    search_fields = ["name", "checksum"]
    # Versions are immutable: an admin reads them; changes come as new uploads.
    readonly_fields = ["org", "name", "version", "kind", "rows", "checksum", "source", "metadata", "created_by"]


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


@admin.register(Run)
class RunAdmin(OrgScopedAdmin):
    list_display = ["id", "experiment", "status", "done", "failed", "total", "org", "created_at", "finished_at"]
    list_filter = ["status", "org"]
    list_select_related = ["experiment", "org"]
    # Runs change only through their services (start, cancel, retry-failed); the admin reads them.
    readonly_fields = [
        "org", "experiment", "status", "snapshot", "total", "done", "failed", "running", "spent_usd", "lanes",
        "stop_reason", "message", "cancel_requested_at", "started_at", "finished_at", "created_by",
    ]


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
