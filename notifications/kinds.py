"""Kinds of notification a person chooses how to be told about, and the choices.

Event types are grouped as people think of them ("escalations", not "complaint.de_escalated");
each person picks, per kind, one of ``Telling``. Kinds a person has not chosen for follow their
general switches (``via_websocket``, ``via_email``, ``email_digest``, ``muted_events``), which
by default mean: in the inbox and live in the browser, no email.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    NEW_COMPLAINT = "new_complaint", _("New or reopened complaints in my teams")
    ASSIGNED = "assigned", _("Assignments (complaints given to me or my team)")
    ESCALATED = "escalated", _("Escalations and customers asking for one")
    DEADLINES = "deadlines", _("Deadlines at risk or breached")
    CUSTOMER = "customer", _("Messages with the customer, survey answers, held emails")
    APPROVALS = "approvals", _("Recoveries needing approval, and decisions on mine")
    OTHER = "other", _("Everything else (notes, lifecycle steps, regulatory changes)")


class Telling(models.TextChoices):
    IN_APP = "in_app", _("In the inbox, live in the browser")
    EMAIL = "email", _("In the inbox, live, and an email at once")
    DAILY_DIGEST = "daily_digest", _("In the inbox, live, and in a daily digest email")
    SILENT = "silent", _("Not at all")


_EVENTS_OF_KIND = {
    Kind.NEW_COMPLAINT: ("received", "reopened", "held_email_opened"),
    Kind.ASSIGNED: ("assigned",),
    Kind.ESCALATED: ("escalated", "de_escalated", "escalation_requested"),
    Kind.DEADLINES: ("clock_warning", "clock_breached", "deadline_extended"),
    Kind.CUSTOMER: (
        "message_added",
        "survey_answered",
        "email_held",
        "held_email_accepted",
        "held_email_discarded",
    ),
    Kind.APPROVALS: ("recovery_approval_requested", "recovery_approved", "recovery_declined"),
}
KIND_OF_EVENT = {
    f"complaint.{event}": kind for kind, events in _EVENTS_OF_KIND.items() for event in events
}


def kind_of(event_type: str) -> str:
    """The kind an event type belongs to; types not listed (and future ones) are OTHER."""
    return KIND_OF_EVENT.get(event_type, Kind.OTHER)


def event_types_of(kind: str, known: frozenset[str]) -> list[str]:
    """The event types of ``kind`` among ``known`` (OTHER: all the unlisted ones)."""
    return sorted(event_type for event_type in known if kind_of(event_type) == kind)
