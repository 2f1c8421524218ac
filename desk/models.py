"""What the desk keeps of its own: the one-time tokens of the forms it was sent."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from recovery.models import Complaint


class FormSubmission(models.Model):
    """A desk form that did what it asks, under its one-time token (``desk.submissions``).

    Written in the transaction of what the form did, so the two commit, or roll back,
    together: a form refused (a validation error, a conflict) can be sent again as it is.
    """

    # "<form>:<token>"; unique, so the same form posted twice at the same moment inserts
    # one row, and the other post waits for it, then finds it (``submissions.once``).
    key = models.CharField(_("key"), max_length=100, unique=True)
    # What the form said (``submissions.fingerprint``): the same token sent with other
    # words is a different message, refused rather than taken for the first.
    fingerprint = models.CharField(_("fingerprint"), max_length=64)
    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("form submission")
        indexes = [
            # submissions.expire: the rows older than the retention, oldest first.
            models.Index(fields=["created_at"], name="desk_formsubmission_created"),
        ]

    def __str__(self) -> str:
        return self.key
