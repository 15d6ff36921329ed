"""The one org-scoping helper. Every queryset that serves a caller goes through `for_org`.

A model says how it reaches its org with a class attribute `ORG_LOOKUP` (`"org"` for models that
hold the org themselves, `"run__org"` for a child of a run, ...). Another org's object is a 404,
never a 403, so that ids of other tenants reveal nothing.
"""

from __future__ import annotations

from typing import TypeVar

from django.db import models

from benchhub.api.errors import NotFound
from orgs.models import Organization

M = TypeVar("M", bound=models.Model)


def org_lookup(model: type[models.Model]) -> str:
    lookup = getattr(model, "ORG_LOOKUP", None)
    if not lookup:
        raise TypeError(f"{model.__name__} has no ORG_LOOKUP; it cannot be scoped to an org.")
    return lookup


def for_org(queryset: models.QuerySet[M] | type[M], org: Organization | int | None) -> models.QuerySet[M]:
    """Only the rows of `org`. `None` (no org) yields nothing, never everything."""
    qs = queryset._default_manager.all() if isinstance(queryset, type) else queryset
    if org is None:
        return qs.none()
    return qs.filter(**{org_lookup(qs.model): org})


def for_orgs(queryset: models.QuerySet[M], orgs: models.QuerySet[Organization]) -> models.QuerySet[M]:
    """Rows of any of `orgs` (Django admin: an org admin may administer several orgs)."""
    return queryset.filter(**{f"{org_lookup(queryset.model)}__in": orgs})


def get_for_org(queryset: models.QuerySet[M] | type[M], org: Organization | int | None, **lookup: object) -> M:
    """One row of `org` or `NotFound` (404) — also when the row exists in another org."""
    try:
        return for_org(queryset, org).get(**lookup)
    except (models.ObjectDoesNotExist, ValueError, TypeError) as exc:
        raise NotFound() from exc
