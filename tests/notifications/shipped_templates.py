"""The message templates Redress ships, put back for tests that flush tables."""

import importlib

from django.apps import apps as django_apps

# The data migrations that add templates, and the function of each that does it.
SHIPPED = (
    ("0003_default_templates", "add_templates"),
    ("0005_receipt_and_survey_links", "add_receipt_and_links"),
    ("0008_written_response_template", "add_written_response"),
    ("0009_delay_notification", "add_delay_notifications"),
    ("0010_ireland_letters", "add_letters"),
    ("0011_payment_services_letters", "add_letters"),
    ("0012_us_error_resolution_letters", "add_letters"),
    ("0019_tracking_link_template", "add_tracking_link"),
    ("0020_receipt_confirmation_link", "add_confirmation_link"),
    ("0021_one_subject_per_complaint", "one_subject"),
    ("0026_recovery_decision_template", "add_recovery_decision"),
    ("0027_complaints_merged_template", "add_complaints_merged"),
)


def ensure_default_templates() -> None:
    """The shipped templates: ``transaction=True`` tests anywhere in the suite flush tables,
    migration data included, so tests put them back rather than rely on them."""
    for module, function in SHIPPED:
        migration = importlib.import_module(f"notifications.migrations.{module}")
        getattr(migration, function)(django_apps, schema_editor=None)
