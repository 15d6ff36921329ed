from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from benchhub import health

api_v1 = [
    path("", include("orgs.api.urls")),
    path("", include("experiments.api.urls")),
    path("", include("providers.api.urls")),
    path("", include("leaderboards.api.urls")),
    path("", include("evaluation.api.urls")),
]

urlpatterns = [
    # Browsers ask for /favicon.ico whatever the page links: answer with the bundled icon, not a 404.
    path("favicon.ico", lambda request: redirect(static("favicon.svg"), permanent=True), name="favicon"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("status/banner", health.status_banner, name="status-banner"),
    path("metrics", health.metrics, name="prometheus-django-metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("", include("leaderboards.urls")),
    path("", include("experiments.urls")),
    path("", include("orgs.urls")),
]
