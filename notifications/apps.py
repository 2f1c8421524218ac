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
        # A complaint's detail read for staff brings its undelivered emails along.
        from notifications import selectors
        from recovery import selectors as recovery_selectors

        if (
            selectors.undelivered_emails_annotation
            not in recovery_selectors.STAFF_DETAIL_ANNOTATIONS
        ):
            recovery_selectors.STAFF_DETAIL_ANNOTATIONS.append(
                selectors.undelivered_emails_annotation
            )
