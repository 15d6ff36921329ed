"""Writes for datasets and experiments. Runs: `experiments.runs`; their transitions: `experiments.lifecycle`."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from benchhub.api.errors import Conflict, PayloadTooLarge, PolicyDenied, ValidationFailed
from evaluation.models import EvaluatorProfile
from evaluation.scorers import ScorerConfigError, scorers_validate
from experiments import limits
from experiments.builders import CleaningConfig, GitError, data_cleaning_rows, pr_rows_from_git
from experiments.datasets import DatasetInvalid, DatasetTooLarge, ParsedDataset, dataset_parse, rows_validate
from experiments.models import Arm, Case, Dataset, Experiment
from orgs.models import Organization, User
from providers.gateway import endpoint_check, policy_check
from providers.interface import ErrorType, ProviderError

# --- datasets ----------------------------------------------------------------------------------


def dataset_create(
    *, org: Organization, name: str, kind: str, content: bytes, filename: str = "", created_by: User | None = None
) -> tuple[Dataset, bool]:
    """Validate a whole uploaded file and store it as a new version (or return the identical one).

    Every bad row comes back as `ValidationFailed(details=[{line, field, message}, ...])`; nothing
    is stored for a rejected file because nothing is written before the whole file validated.
    """
    try:
        parsed = dataset_parse(
            content=content,
            kind=kind,
            filename=filename,
            max_rows=settings.BENCHHUB_DATASET_MAX_ROWS,
            max_bytes=settings.BENCHHUB_DATASET_MAX_BYTES,
        )
    except DatasetTooLarge as exc:
        raise PayloadTooLarge(str(exc)) from exc
    except DatasetInvalid as exc:
        raise ValidationFailed(
            f"The file has {len(exc.errors)} problem(s); nothing was stored.",
            details=[e.as_dict() for e in exc.errors],
        ) from exc
    return _dataset_store(org=org, name=name, parsed=parsed, created_by=created_by, metadata={"filename": filename})


def dataset_create_from_rows(
    *,
    org: Organization,
    name: str,
    kind: str,
    rows: list[dict[str, Any]],
    source: str,
    created_by: User | None = None,
    metadata: dict[str, Any] | None = None,
) -> tuple[Dataset, bool]:
    """Store rows built by a program (PR ingestion, the data-cleaning builder) after the same checks."""
    try:
        parsed = rows_validate(kind=kind, numbered=list(enumerate(rows, start=1)), source=source)
    except DatasetInvalid as exc:
        raise ValidationFailed("The built rows are invalid.", details=[e.as_dict() for e in exc.errors]) from exc
    if len(parsed.rows) > settings.BENCHHUB_DATASET_MAX_ROWS:
        raise PayloadTooLarge(f"{len(parsed.rows)} rows; the limit is {settings.BENCHHUB_DATASET_MAX_ROWS}")
    return _dataset_store(org=org, name=name, parsed=parsed, created_by=created_by, metadata=metadata or {})


def _dataset_store(
    *, org: Organization, name: str, parsed: ParsedDataset, created_by: User | None, metadata: dict[str, Any]
) -> tuple[Dataset, bool]:
    name = name.strip()
    if not name:
        raise ValidationFailed(details=[{"line": 0, "field": "name", "message": "is required"}])
    for _ in range(3):  # two concurrent uploads of one name race for the next version number
        existing = Dataset.objects.filter(org=org, name=name, checksum=parsed.checksum).first()
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                version = (Dataset.objects.filter(org=org, name=name).aggregate(v=Max("version"))["v"] or 0) + 1
                dataset = Dataset.objects.create(
                    org=org, name=name, version=version, kind=parsed.kind, rows=len(parsed.rows),
                    checksum=parsed.checksum, source=parsed.source, metadata=metadata, created_by=created_by,
                )
                Case.objects.bulk_create(
                    [
                        Case(dataset=dataset, case_id=row["id"], kind=parsed.kind, position=i, payload=row)
                        for i, row in enumerate(parsed.rows)
                    ],
                    batch_size=1000,
                )
            return dataset, True
        except IntegrityError:
            continue
    raise Conflict("Another upload of this dataset name is in progress; try again.")


# --- experiments -------------------------------------------------------------------------------


def arm_labels(arms: list[dict[str, Any]]) -> list[str]:
    """`provider:model`, plus `#N` (1-based within that model) when a model appears more than once."""
    keys = [f"{a['provider']}:{a['model']}" for a in arms]
    counts = Counter(keys)
    seen: Counter[str] = Counter()
    labels = []
    for key in keys:
        seen[key] += 1
        labels.append(key if counts[key] == 1 else f"{key}#{seen[key]}")
    return labels


def arms_check_allowed(*, org: Organization, arms: list[dict[str, Any]]) -> None:
    """The allowlist and the credentials, checked before anything is stored or called."""
    problems = []
    for index, arm in enumerate(arms):
        try:
            policy_check(org_id=org.pk, provider=arm["provider"], model=arm["model"])
        except ProviderError as exc:
            if exc.type == ErrorType.POLICY_DENIED:
                raise PolicyDenied(
                    f"arms[{index}]: {arm['provider']}:{arm['model']} is not on the organisation's allowlist.",
                    details={"arm": index, "provider": arm["provider"], "model": arm["model"]},
                ) from exc
            problems.append({"field": f"arms[{index}]", "message": exc.message})
            continue
        try:
            endpoint_check(org_id=org.pk, provider=arm["provider"])
        except ProviderError as exc:
            problems.append({"field": f"arms[{index}]", "message": exc.message})
    if problems:
        raise ValidationFailed("Some arms cannot be called.", details=problems)


@transaction.atomic
def experiment_create(
    *,
    org: Organization,
    name: str,
    dataset: Dataset,
    arms: list[dict[str, Any]],
    scorers: list[dict[str, Any]] | None = None,
    evaluator_profile: int | None = None,
    samples_per_case: int = 1,
    seed: int = 0,
    budget_usd: Decimal | None = None,
    concurrency: int = 16,
    prompt_template: dict[str, str] | None = None,
    evaluator_budget_usd: Decimal | None = None,
    created_by: User | None = None,
) -> Experiment:
    if dataset.org_id != org.pk:
        raise ValidationFailed(details={"dataset": ["No such dataset."]})
    if not arms:
        raise ValidationFailed(details={"arms": ["At least one arm is required."]})
    for index, arm in enumerate(arms):
        if not arm.get("provider") or not arm.get("model"):
            raise ValidationFailed(details={"arms": [f"arms[{index}] needs a provider and a model."]})
        if not isinstance(arm.get("config") or {}, dict):
            raise ValidationFailed(details={"arms": [f"arms[{index}].config must be an object."]})
    limits.experiment_limits_check(arms=arms, samples_per_case=samples_per_case, rows=dataset.rows)
    try:
        scorers = scorers_validate(scorers or [])
    except ScorerConfigError as exc:
        raise ValidationFailed(str(exc), details={"scorers": [str(exc)]}) from exc
    arms_check_allowed(org=org, arms=arms)
    if evaluator_profile is not None and not EvaluatorProfile.objects.filter(pk=evaluator_profile).exists():
        raise ValidationFailed(details={"evaluator_profile": [f"No evaluator profile {evaluator_profile}."]})
    experiment = Experiment.objects.create(
        org=org, name=name, dataset=dataset, scorers=scorers, evaluator_profile_id=evaluator_profile,
        samples_per_case=samples_per_case, seed=seed, budget_usd=budget_usd, concurrency=concurrency,
        prompt_template=prompt_template, evaluator_budget_usd=evaluator_budget_usd, created_by=created_by,
    )
    Arm.objects.bulk_create(
        [
            Arm(experiment=experiment, provider=arm["provider"], model=arm["model"], config=arm.get("config") or {},
                position=i, label=label)
            for i, (arm, label) in enumerate(zip(arms, arm_labels(arms), strict=True))
        ]
    )
    return experiment


# --- built datasets ----------------------------------------------------------------------------


def dataset_create_from_git(
    *, org: Organization, name: str, repo: Path, rev_range: str, test_command: str = "pytest -q",
    created_by: User | None = None,
) -> tuple[Dataset, bool]:
    try:
        rows = pr_rows_from_git(repo=repo, rev_range=rev_range, test_command=test_command)
    except GitError as exc:
        raise ValidationFailed(f"Cannot read the commits: {exc}") from exc
    if not rows:
        raise ValidationFailed("The range has no commit with a parent to start from.")
    return dataset_create_from_rows(
        org=org, name=name, kind="pr", rows=rows, source="git", created_by=created_by,
        metadata={"repo": str(repo), "range": rev_range},
    )


def dataset_create_cleaning(
    *, org: Organization, name: str, clean_csv: str, rates: dict[str, float], difficulty: str = "medium",
    seed: int = 0, rows_per_case: int = 20, created_by: User | None = None,
) -> tuple[Dataset, bool]:
    config = CleaningConfig(rates=rates, difficulty=difficulty, seed=seed, rows_per_case=rows_per_case)
    try:
        rows = data_cleaning_rows(clean_csv=clean_csv, config=config)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc
    return dataset_create_from_rows(
        org=org, name=name, kind="data_cleaning", rows=rows, source="builder", created_by=created_by,
        metadata={"rates": rates, "difficulty": difficulty, "seed": seed, "rows_per_case": rows_per_case},
    )
