"""`manage.py create_evaluator_profile --name NAME --provider P --model M [--base-url URL] [--api-key KEY]
[--api-version V] [--rubric-version V] [--prompt-version V]`: a new evaluator profile version.

Platform staff only (whoever runs manage.py on the platform): the key is the platform's own, never
an org's. Last line of stdout: `{"id": ..., "name": ..., "version": ...}`.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from evaluation.evaluator import ProfileInvalid, evaluator_profile_create


def _object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CommandError("must be a JSON object")
    return value


class Command(BaseCommand):
    help = "Create a new (frozen once used) version of a platform evaluator profile."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--name", required=True)
        parser.add_argument("--provider", required=True)
        parser.add_argument("--model", required=True)
        parser.add_argument("--base-url")
        parser.add_argument("--api-key")
        parser.add_argument("--api-version")
        parser.add_argument("--rubric-version", default="1")
        parser.add_argument("--prompt-version", default="1")
        parser.add_argument("--sampling", type=_object, default=None,
                            help='JSON, e.g. {"temperature": 0, "seed": 7, "max_tokens": 400}')
        parser.add_argument("--config", type=_object, default=None,
                            help='endpoint limits as JSON, e.g. {"max_concurrency": 4, "timeout": 60}')

    def handle(self, *args, **o) -> None:  # type: ignore[no-untyped-def]
        try:
            profile = evaluator_profile_create(
                name=o["name"], provider=o["provider"], model=o["model"], base_url=o["base_url"],
                api_key=o["api_key"], api_version=o["api_version"], rubric_version=o["rubric_version"],
                prompt_version=o["prompt_version"], sampling=o["sampling"], config=o["config"],
            )
        except ProfileInvalid as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps({"id": profile.pk, "name": profile.name, "version": profile.version}))
