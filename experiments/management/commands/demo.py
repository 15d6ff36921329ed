"""`manage.py demo`: the main job on the embedded default — migrate, seed a demo org, serve the dashboard.

The runs part (a bundled dataset, mock arms and, when installed, the real local model, run to the
end) is `experiments.demo.seed`; this command starts the local model server for it and keeps it up
while the dashboard serves.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from experiments.demo import seed as seed_runs  # a bundled dataset, mock arms, a finished run
from orgs.models import Role
from orgs.services import api_key_create, member_add, org_get_or_create
from providers.local_model import LocalModelServer, missing_modules

DEMO_ORG = "demo"
DEMO_EMAIL = "admin@demo.benchhub.local"
DEMO_PASSWORD = "benchhub-demo"


@contextlib.contextmanager
def _quiet_calls(*, enabled: bool) -> Iterator[None]:
    calls = logging.getLogger("benchhub.providers.calls")
    previous = calls.level
    if enabled:
        calls.setLevel(logging.WARNING)
    try:
        yield
    finally:
        calls.setLevel(previous)


class Command(BaseCommand):
    help = "Set up a demo org with an admin login, then serve the dashboard."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument("--no-serve", action="store_true", help="Seed and exit without serving.")
        parser.add_argument(
            "--local-model", choices=["auto", "on", "off"], default="auto",
            help="Add the real local model (Gemma 3 270M, the 'local-llm' extra) as an arm: "
            "auto = when installed, on = fail if it cannot run.",
        )

    def handle(self, *args, addrport: str, no_serve: bool, local_model: str, **options) -> None:  # type: ignore[no-untyped-def]
        call_command("migrate", interactive=False, verbosity=0)
        org, _ = org_get_or_create(slug=DEMO_ORG, name="Demo organisation")
        member_add(org=org, email=DEMO_EMAIL, role=Role.OWNER, password=DEMO_PASSWORD)
        _, api_key = api_key_create(org=org, name="demo", role=Role.ADMIN)
        url = f"http://{addrport}/"
        with contextlib.ExitStack() as cleanup:
            model_url = self._start_local_model(local_model, cleanup)
            # One log line per provider call is for operators; here it would bury the banner.
            with _quiet_calls(enabled=options["verbosity"] < 2):
                demo_run = seed_runs(org=org, base_url=url, local_model_url=model_url)
            self._report(org=org, url=url, api_key=api_key, demo_run=demo_run)
            if not no_serve:
                # The model keeps serving while the dashboard does, so new runs can use it too.
                call_command("runserver", addrport, use_reloader=False)

    def _start_local_model(self, mode: str, cleanup: contextlib.ExitStack) -> str | None:
        if mode == "off":
            return None
        missing = missing_modules()
        if missing:
            if mode == "on":
                raise CommandError(f"the local model needs the 'local-llm' extra (missing: {', '.join(missing)})")
            self.stdout.write("Local model: not installed (the 'local-llm' extra), mock arms only.")
            return None
        self.stdout.write("Local model: starting Gemma 3 270M (llama-cpp-python) for a fourth arm...")
        try:
            server = LocalModelServer().start()
        except RuntimeError as exc:
            if mode == "on":
                raise CommandError(f"the local model did not start: {exc}") from None
            self.stderr.write(f"Local model did not start, mock arms only: {str(exc)[:500]}")
            return None
        cleanup.callback(server.stop)
        return server.url

    def _report(self, *, org, url: str, api_key: str, demo_run: dict) -> None:  # type: ignore[no-untyped-def]
        self.stdout.write(
            "\nBenchHub demo is ready.\n"
            f"  Dashboard: {url}\n"
            f"  Admin:     {url}admin/\n"
            f"  Login:     {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
            f"  API key:   {api_key}\n"
            f"  API docs:  {url}api/docs/\n"
            f"  Demo run:  {demo_run['run_url']} ({demo_run['run_status']}; arms {', '.join(demo_run['arms'])})\n"
        )
        self.stdout.write(
            json.dumps({"org": org.slug, "admin": DEMO_EMAIL, "api_key": api_key, "url": url,
                        "run_url": demo_run["run_url"], "arms": demo_run["arms"]})
        )
