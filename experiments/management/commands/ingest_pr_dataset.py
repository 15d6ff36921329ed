"""`manage.py ingest_pr_dataset --org SLUG --repo PATH --range A..B [--name NAME]`: a `pr` dataset from git."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from benchhub.api.errors import ApiError
from experiments.services import dataset_create_from_git
from orgs.models import Organization


class Command(BaseCommand):
    help = "Build a pr dataset from a local git repository and a commit range (one case per commit)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--org", required=True)
        parser.add_argument("--repo", required=True, type=Path)
        parser.add_argument("--range", required=True, dest="rev_range", help='e.g. "v1.0..main"')
        parser.add_argument("--name")
        parser.add_argument("--test-command", default="pytest -q")

    def handle(self, *args, org: str, repo: Path, rev_range: str, name: str | None, test_command: str, **options) -> None:  # type: ignore[no-untyped-def]
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"no org {org!r}")
        try:
            dataset, created = dataset_create_from_git(
                org=organization, name=name or repo.resolve().name, repo=repo, rev_range=rev_range,
                test_command=test_command,
            )
        except ApiError as exc:
            raise CommandError(f"{exc.message} {json.dumps(exc.details)}") from exc
        self.stdout.write(json.dumps({"id": dataset.pk, "name": dataset.name, "version": dataset.version,
                                      "rows": dataset.rows, "checksum": dataset.checksum, "created": created}))
