from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from notifications import (
            checks,  # noqa: F401  (registers the start-up checks)
            delivery,
            outbox,
            socket_auth,
        )

        outbox.deliver_with(delivery.enqueue_outbox)
        socket_auth.connect_signals()
