"""Dashboard pages of the orgs app: the home page and the org switcher."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from orgs.authentication import SESSION_ORG_KEY, org_context_for_user
from orgs.selectors import memberships_for_user


def dashboard_context(request: HttpRequest):  # type: ignore[no-untyped-def]
    """The OrgContext of a dashboard request (session org, else the person's first)."""
    return org_context_for_user(request.user, org_id=request.session.get(SESSION_ORG_KEY))


@login_required
def home(request: HttpRequest) -> HttpResponse:
    context = dashboard_context(request)
    page = {"org_context": context, "memberships": memberships_for_user(user=request.user)}
    if context is not None:
        # The HTTP layer composes across apps (STYLE.md): the home page shows the org's runs.
        from experiments import selectors as experiment_selectors

        page["kpis"] = experiment_selectors.org_kpis(org=context.org)
        page["recent_runs"] = experiment_selectors.run_list(org=context.org)[:10]
        page["has_datasets"] = experiment_selectors.dataset_list(org=context.org).exists()
    return render(request, "orgs/home.html", page, status=200 if context else 403)


@login_required
@require_POST
def org_switch(request: HttpRequest) -> HttpResponse:
    context = org_context_for_user(request.user, slug=request.POST.get("org", ""))
    if context is not None:
        request.session[SESSION_ORG_KEY] = context.org.pk
    return redirect("home")
