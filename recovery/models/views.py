"""Saved views of the desk's queue: a named queue, its filters, sort and columns."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from recovery.models.complaints import Team


class QueueScope(models.TextChoices):
    """Which of the desk's queues a view filters."""

    MINE = "mine", _("My queue")
    TEAM = "team", _("Team queue")
    UNASSIGNED = "unassigned", _("Unassigned")


class QueueColumn(models.TextChoices):
    """The queue table's columns a view may show; the reference, the row's link, always is."""

    DEADLINE = "deadline", _("Deadline")
    SUBJECT = "subject", _("Subject")
    CUSTOMER = "customer", _("Customer")
    STATE = "state", _("State")
    LEVEL = "level", _("Level")
    TEAM = "team", _("Team")
    ASSIGNEE = "assignee", _("Assignee")
    RECEIVED = "received", _("Received")


class SavedView(models.Model):
    """A queue as someone likes to see it, under a name: personal, or shared with a team.

    ``parameters`` are the queue's GET parameters (filters, search, sort) as the queue's
    own form accepted them, so opening the view is opening the queue with them; the
    desk validates them with that form before the view is saved.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="saved_views",
        verbose_name=_("owner"),
    )
    # Shared with this team's members (its owner a supervisor); personal when empty.
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="saved_views",
        verbose_name=_("shared with team"),
    )
    name = models.CharField(_("name"), max_length=80)
    scope = models.CharField(
        _("queue"), max_length=20, choices=QueueScope.choices, default=QueueScope.TEAM
    )
    parameters = models.JSONField(_("filters"), default=dict, blank=True)
    columns = models.JSONField(_("columns"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # Two views of one person under one name could not be told apart in the menu.
            models.UniqueConstraint(fields=["owner", "name"], name="savedview_owner_name"),
        ]

    def __str__(self) -> str:
        return self.name
