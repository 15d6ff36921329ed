"""`manage.py build_cleaning_dataset --org SLUG --clean FILE.csv --name NAME [--accuracy R ...] [--seed N]`."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from benchhub.api.errors import ApiError
from experiments.services import dataset_create_cleaning
from orgs.models import Organization


class Command(BaseCommand):
    help = "Build a data_cleaning dataset by injecting errors into a clean CSV (ground truth kept)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--org", required=True)
        parser.add_argument("--clean", required=True, type=Path)
        parser.add_argument("--name", required=True)
        for dimension in ("accuracy", "completeness", "consistency", "uniqueness"):
            parser.add_argument(f"--{dimension}", type=float, default=0.05, help="share of cells (rows) to corrupt")
        parser.add_argument("--difficulty", choices=["easy", "medium", "hard"], default="medium")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--rows-per-case", type=int, default=20)

    def handle(self, *args, **o) -> None:  # type: ignore[no-untyped-def]
        organization = Organization.objects.filter(slug=o["org"]).first()
        if organization is None:
            raise CommandError(f"no org {o['org']!r}")
        rates = {d: o[d] for d in ("accuracy", "completeness", "consistency", "uniqueness")}
        try:
            dataset, created = dataset_create_cleaning(
                org=organization, name=o["name"], clean_csv=o["clean"].read_text(), rates=rates,
                difficulty=o["difficulty"], seed=o["seed"], rows_per_case=o["rows_per_case"],
            )
        except ApiError as exc:
            raise CommandError(f"{exc.message} {json.dumps(exc.details)}") from exc
        self.stdout.write(json.dumps({"id": dataset.pk, "name": dataset.name, "version": dataset.version,
                                      "rows": dataset.rows, "checksum": dataset.checksum, "created": created}))
