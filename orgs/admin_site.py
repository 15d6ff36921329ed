"""The Django admin site: platform staff, and owners/admins of an org, by their role.

Who may enter is decided by `orgs.selectors.user_may_use_admin` (anonymous and inactive people
never); the login form refuses everyone else with a message instead of logging them in.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from orgs.selectors import user_may_use_admin


class OrgAdminAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "no_admin": "This account may not use the admin: it needs the owner or admin role in an organisation.",
    }

    def confirm_login_allowed(self, user) -> None:  # type: ignore[no-untyped-def]
        AuthenticationForm.confirm_login_allowed(self, user)  # inactive accounts
        if not user_may_use_admin(user):
            raise ValidationError(self.error_messages["no_admin"], code="no_admin")


class BenchHubAdminSite(admin.AdminSite):
    site_header = "BenchHub administration"
    site_title = "BenchHub admin"
    login_form = OrgAdminAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return user_may_use_admin(request.user)
