"""Reads of the notifications app that pages show: held inbound email, for its review."""

from dataclasses import dataclass
from datetime import datetime

from notifications.inbound_parsing import UnparseableEmail, parse_message
from notifications.models import InboundEmail, InboundStatus

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
