"""Django REST framework and the OpenAPI schema."""

from __future__ import annotations

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "orgs.authentication.BearerAuthentication",
        "orgs.authentication.OrgSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["orgs.permissions.IsOrgMember"],
    "DEFAULT_PAGINATION_CLASS": "benchhub.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "benchhub.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "benchhub.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["benchhub.api.throttling.OrgRateThrottle"],
    # Per-key limits of the expensive routes: BENCHHUB_RATE_* in components/access.py.
    "DEFAULT_THROTTLE_RATES": {"org": "6000/min"},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "BenchHub API",
    "DESCRIPTION": "Benchmark LLM provider + model arms on your organisation's own work.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files (no CDN: the docs work offline).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several fields share a name ("role", "status") across choice sets; name each set once.
    "ENUM_NAME_OVERRIDES": {
        "MemberRoleEnum": "orgs.models.Role",
        "MessageRoleEnum": ["system", "user", "assistant"],
        "ProviderEnum": "providers.models.Provider",
        "RunStatusEnum": "experiments.models.RunStatus",
        "AttemptStatusEnum": "experiments.models.AttemptStatus",
        "CaseKindEnum": "experiments.models.CaseKind",
    },
}
