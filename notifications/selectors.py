"""Reads of the notifications app that pages show: held inbound email, for its review, and
customer emails that did not arrive."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from notifications.inbound_parsing import UnparseableEmail, parse_message
from notifications.models import EmailDelivery, EmailStatus, InboundEmail, InboundStatus
from recovery import rules

# What the complaint page shows of a held email's text: enough to judge it by; the whole
# message stays in the admin (Inbound emails).
HELD_TEXT_MAX_CHARS = 5000


@dataclass(frozen=True)
class HeldEmail:
    id: int
    sender: str
    sender_name: str
    subject: str
    received_at: datetime
    reason: str
    text: str
    authentication: dict
    attachments: list[str]  # file names


def held_emails(complaint_id: int) -> list[HeldEmail]:
    """The emails held on a complaint and not reviewed yet, oldest first (two queries)."""
    rows = list(
        InboundEmail.objects.filter(status=InboundStatus.HELD, held_complaint_id=complaint_id)
        .prefetch_related("attachments")
        .order_by("received_at", "id")
    )
    return [_held(row) for row in rows]


def complaint_held_on(inbound_id: int) -> int | None:
    """The id of the complaint an email was held on (reviewed since or not), or None."""
    return (
        InboundEmail.objects.filter(pk=inbound_id)
        .values_list("held_complaint_id", flat=True)
        .first()
    )


def _held(row: InboundEmail) -> HeldEmail:
    try:
        parsed = parse_message(bytes(row.raw))
    except UnparseableEmail:  # it parsed when it came in; this only guards the page
        name, text = "", ""
    else:
        name, text = parsed.from_name, parsed.reply_text
    if len(text) > HELD_TEXT_MAX_CHARS:
        text = text[:HELD_TEXT_MAX_CHARS].rstrip() + "…"
    return HeldEmail(
        id=row.pk,
        sender=row.sender,
        sender_name=name,
        subject=row.subject,
        received_at=row.received_at,
        reason=row.reason,
        text=text,
        authentication=row.authentication,
        attachments=[attachment.filename for attachment in row.attachments.all()],
    )


@dataclass(frozen=True)
class UndeliveredEmail:
    """An email to the customer that bounced or could not be sent."""

    id: int
    message_id: int | None  # the complaint message it carried, if any
    kind: str
    kind_label: str
    recipient: str
    subject: str
    failed: bool  # False for a delay the sending server is still retrying
    permanent: bool | None  # None when it failed on our side (no bounce)
    status_code: str
    reason: str
    at: datetime | None
    regulatory_letter: bool

    @property
    def resendable(self) -> bool:
        """Only a failed email is sent again; a delayed one may still arrive."""
        return self.failed

    @property
    def summary(self) -> str:
        """ "Not delivered: 550 5.1.1 user unknown" - the headline the desk shows."""
        what = "Not delivered" if self.failed else "Delivery delayed"
        reason = self.reason or self.status_code
        return f"{what}: {reason}" if reason else what

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "message_id": self.message_id,
            "kind": self.kind,
            "recipient": self.recipient,
            "subject": self.subject,
            "failed": self.failed,
            "permanent": self.permanent,
            "status_code": self.status_code,
            "reason": self.reason,
            "at": self.at.isoformat() if self.at else None,
            "regulatory_letter": self.regulatory_letter,
            "resendable": self.resendable,
        }


def undelivered_emails(complaint) -> list[UndeliveredEmail]:
    """The complaint's customer emails that bounced or failed, oldest first (one query).

    An email staff resent is left out: its new attempt stands for it (and is listed in turn
    if it fails too); the timeline keeps both."""
    rows = EmailDelivery.objects.filter(
        Q(status=EmailStatus.FAILED) | Q(bounced_at__isnull=False),
        complaint_id=complaint.pk,
        resend__isnull=True,
    ).order_by("created_at", "id")
    return [
        UndeliveredEmail(
            id=row.pk,
            message_id=row.message_id,
            kind=row.kind,
            kind_label=row.get_kind_display(),
            recipient=row.recipient,
            subject=row.subject,
            failed=row.status == EmailStatus.FAILED,
            permanent=row.bounce_permanent,
            status_code=row.bounce_status,
            reason=row.failure_reason,
            at=row.bounced_at or row.sent_at or row.created_at,
            regulatory_letter=rules.is_regulatory_letter(complaint, row.kind),
        )
        for row in rows
    ]
