"""Macros: named, shareable replies an agent sends in one step, with a few placeholders."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from recovery.models.complaints import Category, RootCause, Team
from recovery.models.remedies import RecoveryGuideline


class MacroVisibility(models.TextChoices):
    EVERYONE = "everyone", _("Everyone")
    TEAM = "team", _("One team's complaints")
    PERSONAL = "personal", _("Only its owner")


class Macro(models.Model):
    """A reply (or acknowledgement) written once and sent many times.

    Its text holds only the fixed placeholders of ``recovery.services.macros.PLACEHOLDERS``;
    using it sends the text through the ordinary message or acknowledgement service and, if
    it says so, puts the complaint on hold through the hold service. Its category and cause
    only rank it among the macros a complaint's page suggests.
    """

    name = models.CharField(_("name"), max_length=100)
    body = models.TextField(_("text"))
    next_steps = models.TextField(
        _("what happens next"),
        blank=True,
        help_text=_("Used when the macro acknowledges a complaint: the customer reads it last."),
    )
    visibility = models.CharField(
        _("shared with"),
        max_length=16,
        choices=MacroVisibility.choices,
        default=MacroVisibility.EVERYONE,
    )
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    category = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    root_cause = models.ForeignKey(
        RootCause, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    guideline = models.ForeignKey(
        RecoveryGuideline, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    puts_on_hold = models.BooleanField(_("puts the complaint on hold"), default=False)
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Agents pick a macro by its name: two live ones of one name would be a guess.
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(archived_at__isnull=True),
                name="macro_live_name_unique",
                violation_error_message=_("Another macro in use already has this name."),
            ),
            models.CheckConstraint(
                condition=~models.Q(visibility="team") | models.Q(team__isnull=False),
                name="macro_team_visibility_has_team",
            ),
            models.CheckConstraint(
                condition=~models.Q(visibility="personal") | models.Q(owner__isnull=False),
                name="macro_personal_visibility_has_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.name
