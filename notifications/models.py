"""The outbox and what is delivered from it: inbox rows, staff and customer emails, presence."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Outbox(models.Model):
    """One event to deliver (sockets, inbox, email), in commit order by rising id.

    Written by ``notifications.outbox.outbox_add_many`` inside the caller's transaction, so an
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
    # When the transaction that wrote the row committed, as the fast path saw it (its
    # on-commit hook); empty for rows the redelivery sweep delivered. created_at is taken
    # earlier, inside that transaction.
    committed_at = models.DateTimeField(_("committed at"), null=True, blank=True)
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


class Notification(models.Model):
    """One user's copy of an outbox event: the inbox, and the socket replay log.

    Keyed by (outbox event, user), so redelivering an event never duplicates it.
    """

    # No index of their own on user or outbox: the (user, outbox) index and the unique
    # (outbox, user) key serve each as a prefix. A team event writes hundreds of rows at once,
    # and each index more cost every one of them a second B-tree insertion.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
    )
    outbox = models.ForeignKey(
        Outbox, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    event_type = models.CharField(_("event type"), max_length=64)
    complaint_id = models.BigIntegerField(_("complaint id"), null=True, blank=True)
    reference = models.CharField(_("reference"), max_length=32, blank=True)
    summary = models.CharField(_("summary"), max_length=300)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    # When this may be emailed to the user (their digest and quiet hours decide); null when
    # they do not want email. ``staff_email`` is the email that told them, set exactly once.
    email_due_at = models.DateTimeField(_("email due at"), null=True, blank=True)
    staff_email = models.ForeignKey(
        "StaffEmail",
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("email"),
        db_index=False,
    )

    class Meta:
        ordering = ["-outbox_id"]
        constraints = [
            models.UniqueConstraint(fields=["outbox", "user"], name="notification_once_per_user")
        ]
        indexes = [
            # Socket replay and the inbox page: a user's notifications after an event id.
            models.Index(fields=["user", "outbox"], name="notification_user_outbox_idx"),
            # The bell's unread count.
            models.Index(
                fields=["user"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread_idx",
            ),
            # The staff email tick: notifications whose email is due and not yet composed
            # (WHERE email_due_at <= now AND staff_email_id IS NULL), and a preference change
            # rescheduling one user's pending emails.
            models.Index(
                fields=["email_due_at", "user"],
                condition=models.Q(email_due_at__isnull=False, staff_email__isnull=True),
                name="notification_email_due_idx",
            ),
            # An email's notifications (and the check before an email is deleted): only the
            # rows already emailed, not the many that never will be.
            models.Index(
                fields=["staff_email"],
                condition=models.Q(staff_email__isnull=False),
                name="notification_staff_email_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.summary}"

    @property
    def link(self) -> str:
        return f"/api/complaints/{self.reference}/" if self.reference else ""


class EmailDigest(models.TextChoices):
    NONE = "none", _("No digest: send each email")
    HOURLY = "hourly", _("Hourly digest")
    DAILY = "daily", _("Daily digest")


class NotificationPreference(models.Model):
    """How one user wants to be told: which events, by socket and/or email, and when."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    muted_events = models.JSONField(_("muted event types"), default=list, blank=True)
    via_websocket = models.BooleanField(_("live in the browser"), default=True)
    via_email = models.BooleanField(_("by email"), default=False)
    quiet_hours_start = models.TimeField(_("quiet hours start"), null=True, blank=True)
    quiet_hours_end = models.TimeField(_("quiet hours end"), null=True, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    email_digest = models.CharField(
        _("email digest"), max_length=16, choices=EmailDigest.choices, default=EmailDigest.NONE
    )
    # Kind of notification → how to be told ({"escalated": "email"}; notifications.kinds).
    # A kind not here follows the general switches above.
    by_kind = models.JSONField(_("how to be told, by kind"), default=dict, blank=True)

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


class EmailStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    # Customer emails only: claimed by a worker, handed to the mail server (notifications.emailing).
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class StaffEmail(models.Model):
    """An email to a member of staff: one notification, or a digest of several.

    Composed from due notifications (each is linked to exactly one ``StaffEmail``), then sent
    once under a row lock, like a customer's ``EmailDelivery``.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    recipient = models.EmailField(_("recipient"))
    subject = models.CharField(_("subject"), max_length=300)
    body_text = models.TextField(_("text body"))
    rfc_message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    status = models.CharField(
        _("status"), max_length=16, choices=EmailStatus.choices, default=EmailStatus.QUEUED
    )
    failure_reason = models.TextField(_("failure reason"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("staff email")
        verbose_name_plural = _("staff emails")
        indexes = [
            # The staff email tick retrying what is still queued.
            models.Index(
                fields=["created_at"],
                condition=models.Q(status="queued"),
                name="staff_email_queued_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient}: {self.subject}"


class MessageTemplateKind(models.TextChoices):
    RECEIPT = "receipt", _("Receipt (sent automatically on arrival)")
    ACKNOWLEDGEMENT = "acknowledgement", _("Acknowledgement")
    HOLDING = "holding", _("Holding response")
    WRITTEN_RESPONSE = "written_response", _("Written response (no final response yet)")
    DELAY_NOTIFICATION = "delay_notification", _("Delay notification")
    RESOLUTION = "resolution", _("Resolution")
    LOOP_CLOSING = "loop_closing", _("Loop-closing message")
    REPLY = "reply", _("Reply")
    SURVEY_INVITATION = "survey_invitation", _("Survey invitation")
    TRACKING_LINK = "tracking_link", _("New tracking link")
    RECOVERY_DECISION = "recovery_decision", _("Recovery decided after closing")
    COMPLAINTS_MERGED = "complaints_merged", _("Two complaints merged into one")


class MessageTemplate(models.Model):
    """An editable customer email, per kind, language and (optionally) regulatory profile.

    The most specific template wins: profile and language, then language, then the
    default language. The subject and the text are Django templates; the email's HTML part
    is made from the rendered text, so there is one wording to edit. See
    docs/notifications.md.
    """

    kind = models.CharField(_("kind"), max_length=32, choices=MessageTemplateKind.choices)
    language = models.CharField(_("language"), max_length=16, default="en")
    regulatory_profile = models.CharField(_("regulatory profile"), max_length=50, blank=True)
    subject = models.CharField(
        _("subject"),
        max_length=200,
        # A new template starts with the subject every template must begin with.
        default="{{ thread_subject }}",
        help_text=_(
            "Begins with {{ thread_subject }}, the one subject of every email about a "
            "complaint, so that mail programs keep them in one conversation."
        ),
    )
    body_text = models.TextField(_("text body"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["kind", "language", "regulatory_profile"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "language", "regulatory_profile"], name="message_template_unique"
            )
        ]

    def __str__(self) -> str:
        profile = f" [{self.regulatory_profile}]" if self.regulatory_profile else ""
        return f"{self.get_kind_display()} ({self.language}){profile}"


class EmailDelivery(models.Model):
    """An email to a customer: what was rendered, to whom, and what became of it.

    Keyed by (outbox event, recipient): redelivery of the event finds this row and never
    sends twice. ``rfc_message_id`` is the Message-ID header replies will thread on.
    """

    outbox = models.ForeignKey(Outbox, on_delete=models.PROTECT, related_name="emails")
    complaint_id = models.BigIntegerField(_("complaint id"))
    message_id = models.BigIntegerField(_("complaint message id"), null=True, blank=True)
    recipient = models.EmailField(_("recipient"))
    kind = models.CharField(_("kind"), max_length=32, choices=MessageTemplateKind.choices)
    subject = models.CharField(_("subject"), max_length=300)
    body_text = models.TextField(_("text body"))
    body_html = models.TextField(_("HTML body"), blank=True)
    rfc_message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    status = models.CharField(
        _("status"), max_length=16, choices=EmailStatus.choices, default=EmailStatus.QUEUED
    )
    failure_reason = models.TextField(_("failure reason"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # When a worker claimed it to send it (status "sending"); a claim left behind by a worker
    # that died is taken over once it is older than REDRESS_EMAIL_CLAIM_TIMEOUT.
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # When the redelivery sweep tries again an email our mail server could not take for a
    # reason that may pass (notifications.send_failures); None for an email not tried yet,
    # sent, or failed for good.
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    # A bounce (delivery status notification) that came back for this email: when, its
    # status code ("5.1.1"; "" when it gave none), whether it is permanent (5.x.x) or
    # transient (4.x.x); the server's diagnostic goes to ``failure_reason``.
    bounced_at = models.DateTimeField(_("bounced at"), null=True, blank=True)
    bounce_status = models.CharField(_("bounce status code"), max_length=16, blank=True)
    bounce_permanent = models.BooleanField(_("permanent failure"), null=True, blank=True)
    bounce_email_id = models.BigIntegerField(_("bounce (inbound email id)"), null=True, blank=True)
    # The failed email this one sends again (``notifications.undelivered.email_resend``): a
    # new attempt with a Message-ID of its own, so the failed one stays as it was recorded.
    # One-to-one: an email is resent once; a resend that fails is resent in its turn.
    resent_from = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="resend",
        verbose_name=_("resend of"),
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = _("email deliveries")
        constraints = [
            # Redelivering an event never sends its email twice; a resend asked for by staff
            # is a row of its own for the same event and recipient.
            models.UniqueConstraint(
                fields=["outbox", "recipient"],
                condition=models.Q(resent_from__isnull=True),
                name="email_once_per_recipient",
            )
        ]
        indexes = [
            # The redelivery sweep: emails still queued.
            models.Index(
                fields=["created_at"],
                condition=models.Q(status="queued"),
                name="email_queued_idx",
            ),
            # The complaint page's emails that did not reach the customer (yet)
            # (WHERE complaint_id = %s AND (status = 'failed' OR bounced_at IS NOT NULL
            # OR next_attempt_at IS NOT NULL)).
            models.Index(
                fields=["complaint_id"],
                condition=models.Q(status="failed")
                | models.Q(bounced_at__isnull=False)
                | models.Q(next_attempt_at__isnull=False),
                name="email_not_arrived_idx",
            ),
            # The redelivery sweep: emails waiting to be tried again, when due
            # (WHERE status = 'queued' AND next_attempt_at <= %s).
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="queued", next_attempt_at__isnull=False),
                name="email_retry_due_idx",
            ),
            # The redelivery sweep: claims left behind by a worker that died mid-send
            # (WHERE status = 'sending' AND claimed_at < %s).
            models.Index(
                fields=["claimed_at"],
                condition=models.Q(status="sending"),
                name="email_sending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient}: {self.subject}"


class InboundStatus(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    IGNORED = "ignored", _("Ignored (automatic)")
    QUARANTINED = "quarantined", _("Quarantined")
    # Threaded onto a complaint by a sender who is not its customer (or who failed DMARC):
    # kept out of the complaint until staff review it.
    HELD = "held", _("Held for review")
    DISCARDED = "discarded", _("Discarded after review")
    # A delivery status notification about one of our emails, recorded on that email.
    BOUNCE = "bounce", _("Bounce recorded")


class InboundEmail(models.Model):
    """Every email that came in, kept whatever became of it: nothing is dropped."""

    # The Message-ID (else a hash of the bytes) and a digest of the content: a message is
    # stored once per pair, so a re-delivery is a duplicate while a different message that
    # reuses a Message-ID (some broken mailers do) is kept (notifications.inbound_parsing).
    fingerprint = models.CharField(_("fingerprint"), max_length=300)
    content_digest = models.CharField(_("content digest"), max_length=80, blank=True)
    raw = models.BinaryField(_("raw message"))
    status = models.CharField(_("status"), max_length=16, choices=InboundStatus.choices)
    reason = models.TextField(_("reason"), blank=True)
    sender = models.CharField(_("sender"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    complaint_id = models.BigIntegerField(_("complaint id"), null=True, blank=True)
    message_id = models.BigIntegerField(_("complaint message id"), null=True, blank=True)
    # The sender's Message-ID without angle brackets, what our answers' In-Reply-To names;
    # empty when it had none we could repeat in a header (over 255 characters, not ASCII).
    rfc_message_id = models.CharField(_("Message-ID"), max_length=255, blank=True)
    source = models.CharField(_("source"), max_length=200, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    # SPF, DKIM and DMARC as a receiving server we trust found them
    # ({"authserv_id", "spf", "dkim", "dmarc"}); empty when no such server said.
    authentication = models.JSONField(_("authentication results"), default=dict, blank=True)
    # The complaint a held email claimed to belong to; kept after review, when
    # ``complaint_id`` names the complaint it was added to or opened, if any.
    held_complaint_id = models.BigIntegerField(_("held on complaint id"), null=True, blank=True)
    # The email's whole text when quoted history was cut from the reply that went onto the
    # complaint ("" when nothing was cut): staff can still read what the customer quoted,
    # and see that it was cut (the desk's "Show quoted text").
    full_text = models.TextField(_("full text"), blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            # Its index also serves threading by the customer's Message-ID
            # (WHERE fingerprint IN (...)), as its prefix.
            models.UniqueConstraint(
                fields=["fingerprint", "content_digest"], name="inbound_email_once"
            ),
        ]
        indexes = [
            # Threading a customer email: the customer's emails on one complaint
            # (WHERE complaint_id = %s AND status = 'accepted').
            models.Index(
                fields=["complaint_id", "received_at"],
                condition=models.Q(complaint_id__isnull=False),
                name="inbound_email_complaint_idx",
            ),
            # The complaint page's held emails (WHERE status = 'held' AND
            # held_complaint_id = %s); holding only those, it serves the admin's list too.
            models.Index(
                fields=["held_complaint_id", "received_at"],
                condition=models.Q(status="held"),
                name="inbound_email_held_idx",
            ),
            # The desk's Held mail queue, quarantined part (WHERE status = 'quarantined'
            # ORDER BY received_at), and its count in the desk's navigation.
            models.Index(
                fields=["received_at"],
                condition=models.Q(status="quarantined"),
                name="inbound_email_quarantined_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status}: {self.subject or self.fingerprint}"


class InboundAttachment(models.Model):
    email = models.ForeignKey(InboundEmail, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("content type"), max_length=255)
    size = models.PositiveIntegerField(_("size"))
    content = models.FileField(_("file"), upload_to="attachments/%Y/%m/")

    def __str__(self) -> str:
        return self.filename


class Presence(models.Model):
    """Who has a complaint open right now, per socket connection (cleared on disconnect)."""

    complaint_id = models.BigIntegerField(_("complaint id"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel_name = models.CharField(_("channel"), max_length=200)
    mode = models.CharField(_("mode"), max_length=16, default="viewing")
    seen_at = models.DateTimeField(_("seen at"), default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["complaint_id", "channel_name"], name="presence_once_per_socket"
            )
        ]
        indexes = [models.Index(fields=["complaint_id", "seen_at"], name="presence_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.mode} {self.complaint_id}"
