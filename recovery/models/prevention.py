"""Corrective and preventive actions (CAPA) against root causes."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from recovery.models.complaints import Complaint, RootCause


class CorrectiveActionKind(models.TextChoices):
    CORRECTIVE = "corrective", _("Corrective")
    PREVENTIVE = "preventive", _("Preventive")


class CorrectiveActionStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    VERIFIED = "verified", _("Verified effective")
    INEFFECTIVE = "ineffective", _("Ineffective")


class CorrectiveAction(models.Model):
    """A change made so that a root cause happens less; checked afterwards against the data."""

    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(
        _("kind"),
        max_length=16,
        choices=CorrectiveActionKind.choices,
        default=CorrectiveActionKind.CORRECTIVE,
    )
    root_causes = models.ManyToManyField(RootCause, related_name="corrective_actions")
    # The complaints that revealed the problem.
    complaints = models.ManyToManyField(Complaint, related_name="corrective_actions", blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="corrective_actions"
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=CorrectiveActionStatus.choices,
        default=CorrectiveActionStatus.OPEN,
    )
    due_on = models.DateField(_("due on"), null=True, blank=True)
    # When the change took effect: the effectiveness check compares before and after it.
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    verification_note = models.TextField(_("verification note"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The CAPA list: open actions by due date.
            models.Index(fields=["status", "due_on"], name="capa_status_due_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status__in=["done", "verified", "ineffective"])
                | models.Q(done_at__isnull=False),
                name="capa_done_has_date",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def days_overdue(self, today) -> int:
        """Days past ``due_on`` while work on it is outstanding (open, in progress, or found
        ineffective and to be worked again); 0 when not due yet, done or verified."""
        if self.due_on is None or self.status in (
            CorrectiveActionStatus.DONE,
            CorrectiveActionStatus.VERIFIED,
        ):
            return 0
        return max(0, (today - self.due_on).days)


class RootCauseAlert(models.Model):
    """A root cause whose weekly count rose above its recent baseline; one per cause and week.

    The unique (cause, week) pair is what makes the periodic check idempotent: running it
    twice in a week tells the owner once.
    """

    root_cause = models.ForeignKey(RootCause, on_delete=models.CASCADE, related_name="alerts")
    week_start = models.DateField(_("week starting"))
    count = models.PositiveIntegerField(_("complaints this week"))
    baseline = models.FloatField(_("weekly baseline"))
    raised_at = models.DateTimeField(_("raised at"), default=timezone.now)

    class Meta:
        ordering = ["-week_start", "root_cause"]
        constraints = [
            models.UniqueConstraint(
                fields=["root_cause", "week_start"], name="root_cause_alert_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.root_cause} {self.week_start}"
