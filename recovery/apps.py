from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


def _ensure_role_groups(sender, **kwargs):
    # Permissions exist only after migrate has created them, hence post_migrate rather
    # than a data migration.
    from recovery.roles import ensure_role_groups

    ensure_role_groups()


class RecoveryConfig(AppConfig):
    name = "recovery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config.bulk_writes import sqlite_variable_limit

        post_migrate.connect(_ensure_role_groups, sender=self, dispatch_uid="redress-roles")
        connection_created.connect(sqlite_variable_limit, dispatch_uid="redress-sqlite-limit")
