"""Per-org request rate limit for the API (429 + Retry-After through the envelope)."""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle


class OrgRateThrottle(SimpleRateThrottle):
    scope = "org"

    def get_cache_key(self, request, view) -> str | None:  # type: ignore[no-untyped-def]
        context = getattr(request, "auth", None)
        org = getattr(context, "org", None)
        if org is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": org.pk}
