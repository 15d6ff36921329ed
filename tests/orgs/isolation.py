"""For each API detail route, a URL naming an object of org B (called with org A's owner key).

When an app adds a detail route, it adds its case here; the isolation test fails until it does.
"""

from __future__ import annotations

from orgs.models import ApiKey


def other_org_object_urls(world) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    b_key = ApiKey.objects.filter(org=world.b.org).first()
    return [
        ("api-keys/<int:key_id>/revoke/", "post", f"/api/v1/api-keys/{b_key.pk}/revoke/"),
    ]
