from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


def _sqlite_fold(sender, connection, **kwargs):
    """On ``connection_created``: SQLite's ``redress_fold(text)``, the text without case or
    accents (``common.text.fold``), which the queue's search compares (SQLite's own LIKE
    folds the case of ASCII letters only)."""
    if connection.vendor == "sqlite":
        from common.text import fold

        connection.connection.create_function(
            "redress_fold", 1, lambda text: None if text is None else fold(text), deterministic=True
        )


def _ensure_role_groups(sender, **kwargs):
    # Permissions exist only after migrate has created them, hence post_migrate rather
    # than a data migration.
    from recovery.roles import ensure_role_groups

    ensure_role_groups()


class RecoveryConfig(AppConfig):
    name = "recovery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from django.db.models.signals import post_save, pre_save

        from common.bulk_writes import sqlite_variable_limit
        from recovery import checks  # noqa: F401  (registers the start-up checks)
        from recovery.services import api_tokens

        post_migrate.connect(_ensure_role_groups, sender=self, dispatch_uid="redress-roles")
        connection_created.connect(sqlite_variable_limit, dispatch_uid="redress-sqlite-limit")
        connection_created.connect(_sqlite_fold, dispatch_uid="redress-sqlite-fold")
        # A password change or a deactivation revokes the account's API tokens.
        pre_save.connect(
            api_tokens.note_credentials_change,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="redress-token-revocation-note",
        )
        post_save.connect(
            api_tokens.revoke_on_credentials_change,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="redress-token-revocation",
        )
