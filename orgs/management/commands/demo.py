"""`manage.py demo`: the main job on the embedded default — migrate, seed a demo org, serve the dashboard.

Later layers (datasets, runs, leaderboards) add their demo content through `DEMO_SEEDERS`.
"""

from __future__ import annotations

import json

from django.core.management import call_command
from django.core.management.base import BaseCommand

from orgs.models import Role
from orgs.services import api_key_create, member_add, org_get_or_create

DEMO_ORG = "demo"
DEMO_EMAIL = "admin@demo.benchhub.local"
DEMO_PASSWORD = "benchhub-demo"


class Command(BaseCommand):
    help = "Set up a demo org with an admin login, then serve the dashboard."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument("--no-serve", action="store_true", help="Seed and exit without serving.")

    def handle(self, *args, addrport: str, no_serve: bool, **options) -> None:  # type: ignore[no-untyped-def]
        call_command("migrate", interactive=False, verbosity=0)
        org, _ = org_get_or_create(slug=DEMO_ORG, name="Demo organisation")
        member_add(org=org, email=DEMO_EMAIL, role=Role.OWNER, password=DEMO_PASSWORD)
        _, api_key = api_key_create(org=org, name="demo", role=Role.ADMIN)
        url = f"http://{addrport}/"
        from experiments.demo import seed as seed_runs  # a bundled dataset, mock arms, a finished run

        demo_run = seed_runs(org=org, base_url=url)
        self.stdout.write(
            "\nBenchHub demo is ready.\n"
            f"  Dashboard: {url}\n"
            f"  Admin:     {url}admin/\n"
            f"  Login:     {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
            f"  API key:   {api_key}\n"
            f"  API docs:  {url}api/docs/\n"
            f"  Demo run:  {demo_run['run_url']} ({demo_run['run_status']})\n"
        )
        self.stdout.write(
            json.dumps({"org": org.slug, "admin": DEMO_EMAIL, "api_key": api_key, "url": url,
                        "run_url": demo_run["run_url"]})
        )
        if not no_serve:
            call_command("runserver", addrport, use_reloader=False)
