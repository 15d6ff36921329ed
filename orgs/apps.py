from django.apps import AppConfig


class OrgsConfig(AppConfig):
    name = "orgs"
    verbose_name = "Organisations and access"

    def ready(self) -> None:
        # Registers the OpenAPI descriptions of our authentication classes.
        import benchhub.api.schema  # noqa: F401
