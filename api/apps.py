from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        from api import auth_schema  # noqa: F401  (registers the OpenAPI auth scheme)
