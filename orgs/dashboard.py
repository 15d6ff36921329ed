"""What every dashboard page does first: a logged-in person, their org, their role, org-scoped 404s.

`org_page` wraps a view as `view(request, context, **kwargs)`. A person without an org (or below
the page's role) gets the 403 page; another org's object, which the selectors report as
`NotFound`, becomes Django's 404 so that `templates/404.html` renders it like any missing page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django_htmx.http import HttpResponseClientRedirect

from benchhub.api.errors import NotFound
from orgs.access import OrgContext
from orgs.views import dashboard_context

OrgView = Callable[..., HttpResponse]


def org_page(*, minimum_role: str | None = None) -> Callable[[OrgView], OrgView]:
    def decorate(view: OrgView) -> OrgView:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                if getattr(request, "htmx", False):
                    # A poll whose session ended: send the whole page to the login form, not the
                    # login form into the polled fragment.
                    from django.conf import settings
                    from django.shortcuts import resolve_url

                    return HttpResponseClientRedirect(
                        f"{resolve_url(settings.LOGIN_URL)}?next={request.htmx.current_url_abs_path or ''}"
                    )
                return redirect_to_login(request.get_full_path())
            context: OrgContext | None = dashboard_context(request)
            if context is None or (minimum_role is not None and not context.can(minimum_role)):
                raise PermissionDenied
            try:
                return view(request, context, *args, **kwargs)
            except NotFound as exc:
                raise Http404(exc.message) from exc

        return wrapper

    return decorate
