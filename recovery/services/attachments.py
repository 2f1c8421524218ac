"""Files attached to a complaint: checked, scanned, stored, recorded on the timeline.

Two steps, so that a form can refuse a file before anything is filed:

1. ``upload_check`` reads one upload and decides, from its bytes: the size limit, the type
   (``common.file_types``: an allow-list of magic numbers, never the name), and the virus
   scan when a scanner is configured (``REDRESS_CLAMD_ADDRESS``). A refusal is a
   ``ValidationFailed`` whose message names the file and says what to do.
2. ``attachments_add`` stores checked files on a complaint in one transaction: the
   complaint's row is locked (``select_for_update``) so that two uploads at once cannot
   both pass the per-complaint count and total; each file is written under a random name in
   ``REDRESS_ATTACHMENT_DIR``, its row and its timeline event inserted. If the transaction
   fails, the files it wrote are removed.

``attachment_refused`` records on the timeline a file that was not kept (a part of an email
the checks refused): it is never dropped silently.
"""

import hashlib
import math
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import transaction
from django.db.models import Count, Sum

from common import file_types, virus_scan
from common.errors import ValidationFailed
from recovery import events
from recovery.models import (
    Attachment,
    AttachmentSource,
    Complaint,
    EventType,
    Message,
    ScanStatus,
)

FIELD = "attachments"


@dataclass(frozen=True)
class CheckedFile:
    """An upload that passed ``upload_check``: its bytes and what they are."""

    filename: str  # safe to show and to send back (``file_types.safe_name``)
    content: bytes
    content_type: str
    scan_status: str


def storage() -> FileSystemStorage:
    # No base_url: these files have no public URL; only the download views read them.
    return FileSystemStorage(location=settings.REDRESS_ATTACHMENT_DIR, base_url=None)


def _megabytes(size: int) -> str:
    """A size as people read it: "480 KB", "2 MB", "10.5 MB"."""
    if size < 1024 * 1024:
        return f"{math.ceil(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, details={FIELD: [message]})


def size_problem(name: str, size: int) -> str:
    """The message for a file over the size limit, else "" (asked before reading it)."""
    limit = settings.REDRESS_ATTACHMENT_MAX_BYTES
    if size > limit:
        return (
            f"“{name}” is {_megabytes(size)}; files may be at most {_megabytes(limit)}. "
            "Send a smaller file, or a photo of the page instead of a scan."
        )
    return ""


def upload_check(*, name: str, content: bytes) -> CheckedFile:
    """Step 1 of the module's docstring; ``ValidationFailed`` with a message for the sender."""
    name = name or "file"
    problem = size_problem(name, len(content))
    if problem:
        raise _refuse(problem)
    try:
        found = file_types.sniff(content)
    except file_types.NotAllowed as refused:
        raise _refuse(_type_refusal(name, refused.message)) from refused
    return CheckedFile(
        filename=file_types.safe_name(name, found),
        content=content,
        content_type=found.mime,
        scan_status=_scan(name, content),
    )


def _type_refusal(name: str, what: str) -> str:
    allowed = "PDF, PNG, JPEG, GIF, WebP, text, email (.eml), Word (.docx) and Excel (.xlsx)"
    if what == "The file is empty.":
        return f"“{name}” is empty. Choose the file again."
    extension = file_types.extension_of(name)
    said = (
        f"“{name}” says it is a .{extension} file, but {what}"
        if extension
        else (f"“{name}” cannot be accepted: {what}")
    )
    return f"{said}. We accept {allowed} files."


def _scan(name: str, content: bytes) -> str:
    address = settings.REDRESS_CLAMD_ADDRESS
    if not address:
        return ScanStatus.NOT_SCANNED
    try:
        verdict = virus_scan.scan(content, address=address, timeout=settings.REDRESS_CLAMD_TIMEOUT)
    except virus_scan.ScannerUnavailable as error:
        # Fail closed: a file that could not be scanned is not kept (docs/security.md).
        raise _refuse(
            f"“{name}” could not be checked for viruses just now, so it was not kept. "
            "Try again in a few minutes."
        ) from error
    if not verdict.clean:
        raise _refuse(
            f"“{name}” contains a virus ({verdict.signature}) and was not kept. "
            "Please do not send it again."
        )
    return ScanStatus.CLEAN


def attachments_add(
    *,
    complaint: Complaint,
    files: list[CheckedFile],
    source: str,
    actor=None,
    message: Message | None = None,
) -> list[Attachment]:
    """Step 2 of the module's docstring. ``ValidationFailed`` if the files would take the
    complaint over its count or total size; nothing is stored then."""
    if not files:
        return []
    written: list[str] = []
    files_storage = storage()
    try:
        with transaction.atomic():
            # Serialises uploads to one complaint: the counts below cannot both pass.
            Complaint.objects.select_for_update().filter(pk=complaint.pk).values("pk").get()
            _check_room(complaint, files)
            created = []
            for checked in files:
                stored = files_storage.save(_storage_name(checked), ContentFile(checked.content))
                written.append(stored)
                attachment = Attachment.objects.create(
                    complaint=complaint,
                    message=message,
                    source=source,
                    uploaded_by=actor if getattr(actor, "is_authenticated", False) else None,
                    filename=checked.filename,
                    content_type=checked.content_type,
                    size=len(checked.content),
                    sha256=hashlib.sha256(checked.content).hexdigest(),
                    storage_name=stored,
                    scan_status=checked.scan_status,
                )
                created.append(attachment)
            events.record_many(
                [
                    _quiet_event(
                        complaint,
                        EventType.ATTACHMENT_ADDED,
                        actor,
                        {
                            "attachment_id": attachment.pk,
                            "filename": attachment.filename,
                            "size": attachment.size,
                            "content_type": attachment.content_type,
                            "source": source,
                            "scan": attachment.scan_status,
                        },
                    )
                    for attachment in created
                ]
            )
    except BaseException:
        for name in written:
            files_storage.delete(name)
        raise
    return created


def _storage_name(checked: CheckedFile) -> str:
    # 128 random bits, fanned out over 256 directories; never the sender's name.
    token = secrets.token_hex(16)
    extension = file_types.extension_of(checked.filename) or "bin"
    return f"{token[:2]}/{token}.{extension}"


def _check_room(complaint: Complaint, files: list[CheckedFile]) -> None:
    held = Attachment.objects.filter(complaint=complaint).aggregate(
        count=Count("id"), total=Sum("size")
    )
    count, total = held["count"], held["total"] or 0
    most = settings.REDRESS_ATTACHMENTS_PER_COMPLAINT
    if count + len(files) > most:
        room = max(0, most - count)
        raise _refuse(
            f"A complaint may hold at most {most} files; {complaint.reference} has {count}, "
            f"so {room} more can be added."
        )
    limit = settings.REDRESS_ATTACHMENTS_TOTAL_BYTES
    adding = sum(len(checked.content) for checked in files)
    if total + adding > limit:
        raise _refuse(
            f"The files of one complaint may take at most {_megabytes(limit)} in all; "
            f"{complaint.reference} holds {_megabytes(total)} and these are "
            f"{_megabytes(adding)}."
        )


def attachment_refused(
    *, complaint: Complaint, filename: str, reason: str, source: str = AttachmentSource.EMAIL
) -> int:
    """Record a file that was not kept (staff only), with why: in the caller's transaction."""
    entry = _quiet_event(
        complaint,
        EventType.ATTACHMENT_REFUSED,
        None,
        {"filename": filename[:200], "reason": reason[:500], "source": source},
    )
    return events.record_many([entry])[0]


def _quiet_event(complaint: Complaint, event_type: str, actor, parameters: dict):
    """On the timeline, and pinging nobody: the message or complaint the files came with
    is what staff are told of (a form with five files is one notification, not six)."""
    return events.EventEntry(
        complaint,
        event_type,
        actor if getattr(actor, "is_authenticated", False) else None,
        parameters,
        notify_staff=False,
    )


def attachment_content(attachment: Attachment):
    """The stored file, open for reading (the download views stream it)."""
    return storage().open(attachment.storage_name, "rb")
