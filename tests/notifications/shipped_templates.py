"""The message templates Redress ships, put back for tests that flush tables."""

import importlib

from django.apps import apps as django_apps


def ensure_default_templates() -> None:
    """The shipped templates (data migrations 0003, 0005, 0008 and 0009): ``transaction=True`` tests
    anywhere in the suite flush tables, migration data included, so tests put them back
    rather than rely on them."""
    migration = importlib.import_module("notifications.migrations.0003_default_templates")
    migration.add_templates(django_apps, schema_editor=None)
    links = importlib.import_module("notifications.migrations.0005_receipt_and_survey_links")
    links.add_receipt_and_links(django_apps, schema_editor=None)
    written = importlib.import_module("notifications.migrations.0008_written_response_template")
    written.add_written_response(django_apps, schema_editor=None)
    delays = importlib.import_module("notifications.migrations.0009_delay_notification")
    delays.add_delay_notifications(django_apps, schema_editor=None)
