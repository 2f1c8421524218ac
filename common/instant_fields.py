"""Form fields for an instant typed by a person or a client, stored and compared in UTC.

Python reads any UTC offset under 24 hours (``+22:29``), but PostgreSQL refuses a timestamp
literal whose offset is beyond ±15:59, which made such a value a database error (a 500). The
offset only says how the instant was written, so it is dropped here: the value leaves the
form in UTC, and one too close to year 1 or 9999 to exist in UTC is a validation error.
"""

from datetime import UTC

from django import forms
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField

OUT_OF_RANGE = _("That date and time is out of range.")


def in_utc(value):
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise forms.ValidationError(OUT_OF_RANGE, code="invalid") from exc


class InstantField(forms.DateTimeField):
    """A date and time in the formats Django reads, in UTC."""

    def to_python(self, value):
        return in_utc(super().to_python(value))


class IsoInstantField(IsoDateTimeField):
    """An ISO 8601 date and time (a query-string filter's), in UTC."""

    def to_python(self, value):
        return in_utc(super().to_python(value))
