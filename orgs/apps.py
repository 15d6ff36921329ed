from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class OrgsConfig(AppConfig):
    name = "orgs"
    verbose_name = "Organisations and access"

    def ready(self) -> None:
        # Registers the OpenAPI descriptions of our authentication classes.
        import benchhub.api.schema  # noqa: F401


class BenchHubAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with BenchHub's site (orgs.admin_site), which decides who may enter."""

    default = False  # named in INSTALLED_APPS instead of django.contrib.admin
    default_site = "orgs.admin_site.BenchHubAdminSite"
