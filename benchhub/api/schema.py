"""OpenAPI schema conventions shared by every API module."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    """Names nested serializers after their view, so `MeView.OutputSerializer` becomes `MeOutput`.

    Views declare their own `InputSerializer`/`OutputSerializer` (HackSoft style); without this,
    every one of them would claim the component name "Output".
    """

    def get_serializer_name(self, serializer, direction) -> str:  # type: ignore[no-untyped-def]
        qualname = type(serializer).__qualname__
        if "." not in qualname:
            return super().get_serializer_name(serializer, direction)
        outer, _, inner = qualname.rpartition(".")
        outer = outer.replace(".", "")
        for suffix in ("APIView", "ApiView", "View"):
            if outer.endswith(suffix):
                outer = outer[: -len(suffix)]
                break
        return outer + inner


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "orgs.authentication.BearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An org API key (`bh_...`) or a JWT from `POST /api/v1/auth/token/`.",
        }


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "orgs.authentication.OrgSessionAuthentication"
    name = "sessionAuth"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
