"""`manage.py create_org <slug>`: create or reuse an org, an admin member and optionally an API key.

The last line of stdout is one JSON object: {"org", "admin", "api_key"} (shared/API.md).
"""

from __future__ import annotations

import json

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from orgs.models import Role, User
from orgs.services import api_key_create, member_add, org_get_or_create


class Command(BaseCommand):
    help = "Create (or reuse) an organisation with an admin member and, optionally, an admin API key."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("slug")
        parser.add_argument("--name")
        parser.add_argument("--admin-email")
        parser.add_argument("--admin-password")
        parser.add_argument("--api-key", action="store_true", help="Also create an admin-role API key.")

    def handle(self, *args, slug: str, name: str | None, admin_email: str | None,
               admin_password: str | None, api_key: bool, **options) -> None:  # type: ignore[no-untyped-def]
        if slugify(slug) != slug:
            raise CommandError(f"'{slug}' is not a valid slug (lowercase letters, digits, hyphens).")
        if admin_password and not admin_email:
            raise CommandError("--admin-password needs --admin-email.")
        if admin_password:
            # The same validators as every other password (AUTH_PASSWORD_VALIDATORS), checked before
            # anything is created.
            try:
                validate_password(admin_password, user=User(email=(admin_email or "").strip().lower()))
            except ValidationError as exc:
                raise CommandError("--admin-password: " + " ".join(exc.messages)) from None
        org, created = org_get_or_create(slug=slug, name=name)
        self.stderr.write(f"{'Created' if created else 'Reusing'} org '{org.slug}'.")
        admin = None
        if admin_email:
            membership = member_add(org=org, email=admin_email, role=Role.ADMIN, password=admin_password)
            admin = membership.user.email
            self.stderr.write(f"Admin member: {admin}")
        plaintext = None
        if api_key:
            _, plaintext = api_key_create(org=org, name="create_org", role=Role.ADMIN)
        self.stdout.write(json.dumps({"org": org.slug, "admin": admin, "api_key": plaintext}))
