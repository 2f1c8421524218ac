"""The short survey sent after the loop is closed: CSAT, CES and NPS."""

import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from recovery.models.complaints import Complaint


def _new_nonce() -> str:
    return secrets.token_urlsafe(16)


class Survey(models.Model):
    """One invitation per complaint; the answers are written once, on submit.

    Opening the link records nothing (mail scanners follow links); only a POST answers it.
    """

    complaint = models.OneToOneField(Complaint, on_delete=models.PROTECT, related_name="survey")
    # Part of the signed link: a link made for one survey never opens another.
    nonce = models.CharField(_("nonce"), max_length=32, unique=True, default=_new_nonce)
    sent_at = models.DateTimeField(_("sent at"), default=timezone.now)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    csat = models.PositiveSmallIntegerField(_("satisfaction (1 to 5)"), null=True, blank=True)
    ces = models.PositiveSmallIntegerField(_("effort (1 to 7)"), null=True, blank=True)
    nps = models.PositiveSmallIntegerField(
        _("likely to recommend (0 to 10)"), null=True, blank=True
    )
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        indexes = [
            # KPIs: answered surveys in a period (CSAT, NPS, CES averages).
            models.Index(
                fields=["submitted_at"],
                condition=models.Q(submitted_at__isnull=False),
                name="survey_answered_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(csat__isnull=True) | models.Q(csat__gte=1, csat__lte=5),
                name="survey_csat_range",
            ),
            models.CheckConstraint(
                condition=models.Q(ces__isnull=True) | models.Q(ces__gte=1, ces__lte=7),
                name="survey_ces_range",
            ),
            models.CheckConstraint(
                condition=models.Q(nps__isnull=True) | models.Q(nps__gte=0, nps__lte=10),
                name="survey_nps_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.complaint_id} survey"

    @property
    def is_answered(self) -> bool:
        return self.submitted_at is not None
