"""Reads of a complaint's attached files: the desk's list, the downloads, an email's files.

Apart from ``recovery.selectors`` (which is at its size limit); the same access policy
(``recovery.access``) decides who reads them.
"""

from django.db import connection
from django.db.models import OuterRef

from common.errors import NotFound
from common.json_rows import instance, json_rows
from recovery import selectors
from recovery.models import Attachment, AttachmentSource, Complaint

_COLUMNS = (
    "id",
    "complaint_id",
    "message_id",
    "source",
    "uploaded_by_id",
    "filename",
    "content_type",
    "size",
    "scan_status",
    "created_at",
)

# The complaint page's files, brought along in the complaint's own read (PostgreSQL).
ATTACHMENT_ROWS = "attachment_rows"


def attachments_annotation() -> dict:
    """The complaint's files as JSON rows of its read: no statement of their own."""
    if connection.vendor != "postgresql":
        return {}
    rows = Attachment.objects.filter(complaint_id=OuterRef("pk")).order_by("created_at", "id")
    return {ATTACHMENT_ROWS: json_rows(rows, **{name: name for name in _COLUMNS})}


def complaint_attachments(complaint: Complaint) -> list[Attachment]:
    """The complaint's files, oldest first: from its read's rows when it brought them."""
    rows = getattr(complaint, ATTACHMENT_ROWS, None)
    if rows is not None:
        return [instance(Attachment, row) for row in rows]
    return list(Attachment.objects.filter(complaint=complaint).order_by("created_at", "id"))


def staff_attachment(*, reference: str, attachment_id: int, user) -> Attachment:
    """One file of the complaint ``reference``, for staff who may see it.

    ``NotFound`` when the complaint has no such file; the complaint itself is refused as its
    page is (``OutsideYourQueue`` for staff it is kept from, else ``NotFound``).
    """
    complaint = selectors.complaint_to_change(reference=reference, user=user)
    return _of_complaint(complaint, attachment_id)


def complaint_attachment(*, complaint: Complaint, attachment_id: int) -> Attachment:
    """One file of ``complaint`` (the tracking page's, whose link names the complaint)."""
    return _of_complaint(complaint, attachment_id)


def _of_complaint(complaint: Complaint, attachment_id: int) -> Attachment:
    found = Attachment.objects.filter(complaint=complaint, pk=attachment_id).first()
    if found is None:
        raise NotFound(f"{complaint.reference} has no file number {attachment_id}.")
    found.complaint = complaint
    return found


def reply_attachments(message_id: int | None) -> list[Attachment]:
    """The files staff attached to one of their messages: what its email carries."""
    if message_id is None:
        return []
    return list(
        Attachment.objects.filter(message_id=message_id, source=AttachmentSource.AGENT).order_by(
            "created_at", "id"
        )
    )


def message_has_attachments(message_id: int) -> bool:
    return Attachment.objects.filter(message_id=message_id).exists()
