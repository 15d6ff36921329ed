"""Platform ceilings on what one member can ask for: arms per experiment, attempts per run, the
size of an upload (counted while it streams in, never after reading it whole), and the arms'
call settings (`providers.requests.config_validate`; timeouts and retries are clamped again by
the gateway at every call).

Maxima live in settings (`BENCHHUB_MAX_*`, `BENCHHUB_DATASET_MAX_BYTES`), documented in the README.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest

from benchhub.api.errors import PayloadTooLarge, ValidationFailed

_TOO_LARGE = "benchhub_upload_too_large"


def experiment_limits_check(*, arms: list[dict[str, Any]], samples_per_case: int, rows: int) -> None:
    """Refuse an experiment over the platform's arm maximum, with an unusable arm config, or whose
    every run would be over the attempt maximum."""
    from providers.requests import config_validate

    maximum = settings.BENCHHUB_MAX_ARMS_PER_EXPERIMENT
    if len(arms) > maximum:
        raise ValidationFailed(
            f"{len(arms)} arms; the platform allows at most {maximum} per experiment.",
            details={"arms": [f"at most {maximum} arms"]},
        )
    problems = []
    for index, arm in enumerate(arms):
        try:
            config_validate(arm.get("config") or {})
        except ValueError as exc:
            problems.append(f"arms[{index}].config: {exc}")
    if problems:
        raise ValidationFailed(problems[0], details={"arms": problems})
    run_size_check(attempts=rows * len(arms) * samples_per_case)


def run_size_check(*, attempts: int) -> None:
    maximum = settings.BENCHHUB_MAX_ATTEMPTS_PER_RUN
    if attempts > maximum:
        raise ValidationFailed(
            f"A run would make {attempts:,} attempts (cases × arms × samples); the platform maximum is "
            f"{maximum:,}. Use fewer arms or samples, or split the dataset.",
            details={"attempts": attempts, "max_attempts": maximum},
        )


class UploadSizeLimit(FileUploadHandler):
    """First of `FILE_UPLOAD_HANDLERS`: counts each file's bytes as they arrive and skips the file
    once it passes `BENCHHUB_DATASET_MAX_BYTES`, so an oversized upload is never held whole (in
    memory or on disk); the view then answers 413 (`upload_refuse_if_too_large`)."""

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > settings.BENCHHUB_DATASET_MAX_BYTES:
            if self.request is not None:
                setattr(self.request, _TOO_LARGE, self.file_name or self.field_name)
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def upload_refuse_if_too_large(request: Any) -> None:
    """Raise 413 `payload_too_large` when `UploadSizeLimit` skipped a file of this request."""
    django_request: HttpRequest = getattr(request, "_request", request)
    if getattr(django_request, _TOO_LARGE, None):
        raise PayloadTooLarge(f"The file is larger than {settings.BENCHHUB_DATASET_MAX_BYTES} bytes, the limit.")
