from django.apps import AppConfig


class EscalationConfig(AppConfig):
    name = "escalation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from escalation import (
            checks,  # noqa: F401  (registers the start-up checks)
            configuration,
        )

        configuration.connect_signals()
