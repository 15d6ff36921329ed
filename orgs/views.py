"""Dashboard pages of the orgs app: the home page, the org switcher and invitations."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from orgs.authentication import SESSION_ORG_KEY, org_context_for_user
from orgs.selectors import invitations_pending_for, memberships_for_user, user_may_use_admin
from orgs.services import invitation_accept, invitation_decline, user_set_current_org


def dashboard_context(request: HttpRequest):  # type: ignore[no-untyped-def]
    """The OrgContext of a dashboard request (session org, else the one last chosen, else the first)."""
    return org_context_for_user(request.user, org_id=request.session.get(SESSION_ORG_KEY))


@login_required
def home(request: HttpRequest) -> HttpResponse:
    context = dashboard_context(request)
    return render(
        request,
        "orgs/home.html",
        {
            "org_context": context,
            "memberships": memberships_for_user(user=request.user),
            "invitations": invitations_pending_for(user=request.user),
            "can_use_admin": user_may_use_admin(request.user),
        },
        status=200 if context else 403,
    )


@login_required
@require_POST
def org_switch(request: HttpRequest) -> HttpResponse:
    context = org_context_for_user(request.user, slug=request.POST.get("org", ""))
    if context is not None:
        request.session[SESSION_ORG_KEY] = context.org.pk
        user_set_current_org(user=request.user, org=context.org)
    return redirect("home")


@login_required
@require_POST
def invitation_answer(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = invitations_pending_for(user=request.user).filter(pk=invitation_id).first()
    if invitation is None:
        raise Http404
    if request.POST.get("answer") == "accept":
        invitation_accept(invitation=invitation, user=request.user)
        messages.success(request, f"You joined {invitation.org.name}. Switch to it when you want to work there.")
    else:
        invitation_decline(invitation=invitation, user=request.user)
    return redirect("home")
