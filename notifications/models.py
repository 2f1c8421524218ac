"""The outbox: what must be told, written in the same transaction as the change."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Outbox(models.Model):
    """One event to deliver (sockets, inbox, email), in commit order by rising id.

    Written by ``notifications.services.outbox_add`` inside the caller's transaction, so an
    event exists exactly when the change that caused it was committed.
    """

    id = models.BigAutoField(primary_key=True)
    event_type = models.CharField(_("event type"), max_length=64)
    complaint_id = models.BigIntegerField(_("complaint id"), null=True, blank=True)
    audience = models.JSONField(_("audience"), default=dict, blank=True)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("delivery attempts"), default=0)

    class Meta:
        ordering = ["id"]
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox")
        indexes = [
            # The redelivery sweep: undelivered rows, oldest first.
            models.Index(
                fields=["created_at"],
                condition=models.Q(delivered_at__isnull=True),
                name="outbox_undelivered_idx",
            ),
            # Socket replay: events of one complaint after a given id.
            models.Index(fields=["complaint_id", "id"], name="outbox_complaint_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.event_type}"
