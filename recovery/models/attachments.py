"""Files attached to a complaint: from the public form, the tracking page, an email, or an
agent's reply (``recovery.services.attachments`` writes them)."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from recovery.models.complaints import Complaint, Message


class AttachmentSource(models.TextChoices):
    FORM = "form", _("Complaint form")
    TRACKING = "tracking", _("Tracking page")
    EMAIL = "email", _("Email from the customer")
    AGENT = "agent", _("Staff reply")


class ScanStatus(models.TextChoices):
    # No scanner is configured (REDRESS_CLAMD_ADDRESS): the page says so beside the file.
    NOT_SCANNED = "not_scanned", _("Not scanned for viruses (no scanner configured)")
    CLEAN = "clean", _("Scanned: no virus found")


class Attachment(models.Model):
    """One stored file. The bytes are under ``REDRESS_ATTACHMENT_DIR``, named
    ``storage_name`` (random), never by what the sender called it; ``content_type`` is what
    the bytes are (``common.file_types.sniff``), not what the sender said."""

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="attachments")
    # The message it came with (an email, a tracking-page or agent reply); None for the form.
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="attachments"
    )
    source = models.CharField(_("source"), max_length=16, choices=AttachmentSource.choices)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    filename = models.CharField(_("file name"), max_length=128)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveIntegerField(_("size in bytes"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    storage_name = models.CharField(_("stored as"), max_length=80, unique=True)
    scan_status = models.CharField(_("virus scan"), max_length=16, choices=ScanStatus.choices)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # A complaint's files in order (its page), and their count and total size
            # (the per-complaint limits, counted under the complaint's row lock).
            models.Index(fields=["complaint", "created_at"], name="attachment_complaint_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.complaint_id}: {self.filename}"
