"""What a file is, decided from its bytes (magic numbers), never from its name.

An allow-list: a file is one of ``ALLOWED`` or it is refused, and the refusal says what the
bytes turned out to be when they are something dangerous ("a Windows program"), so that a
program renamed ``invoice.pdf`` is refused with a sentence a person understands. No library
is installed for this (python-magic needs libmagic; ``puremagic`` would be the one to add,
a pure-Python table of signatures), and the allow-list is short enough to keep here.
"""

import io
import re
import zipfile
from dataclasses import dataclass


@dataclass(frozen=True)
class FileType:
    mime: str
    label: str  # what a person calls it, in messages and on the page
    extensions: tuple[str, ...]  # the first is the one a stored name is given


PDF = FileType("application/pdf", "PDF document", ("pdf",))
PNG = FileType("image/png", "PNG image", ("png",))
JPEG = FileType("image/jpeg", "JPEG image", ("jpg", "jpeg"))
GIF = FileType("image/gif", "GIF image", ("gif",))
WEBP = FileType("image/webp", "WebP image", ("webp",))
TEXT = FileType("text/plain", "text file", ("txt", "text", "log", "csv"))
EML = FileType("message/rfc822", "email message", ("eml",))
DOCX = FileType(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "Word document",
    ("docx",),
)
XLSX = FileType(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "Excel workbook",
    ("xlsx",),
)
ALLOWED = (PDF, PNG, JPEG, GIF, WEBP, TEXT, EML, DOCX, XLSX)


class NotAllowed(Exception):
    """The bytes are none of ``ALLOWED``; ``message`` says what they are when known."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Signatures at offset 0 that are allowed (WebP is checked apart: RIFF….WEBP).
_SIGNATURES = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
)
# Signatures of what must never be handed to a person to open: named in the refusal.
_DANGEROUS = (
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"\xfe\xed\xfa\xce", "a macOS program"),
    (b"\xfe\xed\xfa\xcf", "a macOS program"),
    (b"\xce\xfa\xed\xfe", "a macOS program"),
    (b"\xcf\xfa\xed\xfe", "a macOS program"),
    (b"\xca\xfe\xba\xbe", "a macOS or Java program"),
    (b"#!", "a script"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office file, which can carry macros"),
    (b"{\\rtf", "an RTF document, which can carry embedded programs"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
)
# A text file may hold tabs, line ends and form feeds; other control characters (and NUL)
# mean binary data.
_BINARY_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
# How much of a text file is looked at: enough to tell text from binary, however large.
TEXT_SAMPLE_BYTES = 64 * 1024
# An email starts with header fields; one of these among the first lines says it is one.
_EMAIL_HEADERS = re.compile(
    rb"^(received|from|return-path|message-id|mime-version|delivered-to|date|subject):",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:[ \t]")


def sniff(content: bytes) -> FileType:
    """The allowed type of ``content``, or ``NotAllowed`` saying what it is instead."""
    if not content:
        raise NotAllowed("The file is empty.")
    for signature, found in _SIGNATURES:
        if content.startswith(signature):
            return found
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return WEBP
    for signature, what in _DANGEROUS:
        if content.startswith(signature):
            raise NotAllowed(f"it is {what}")
    if content.startswith(b"PK\x03\x04"):
        return _office(content)
    sample = content[:TEXT_SAMPLE_BYTES]
    if _is_text(sample):
        return EML if _is_email(sample) else TEXT
    raise NotAllowed("its contents are of a kind we do not accept")


def _office(content: bytes) -> FileType:
    """A zip container is allowed only as a Word or Excel document (OOXML)."""
    try:
        names = set(zipfile.ZipFile(io.BytesIO(content)).namelist())
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise NotAllowed("it is a damaged zip archive") from error
    if "[Content_Types].xml" in names:
        if any(name.endswith("vbaProject.bin") for name in names):
            raise NotAllowed("it is an Office document with macros")
        if "word/document.xml" in names:
            return DOCX
        if "xl/workbook.xml" in names:
            return XLSX
    raise NotAllowed("it is a zip archive")


def _is_text(sample: bytes) -> bool:
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut by the sample's end is still text.
        if error.start < len(sample) - 3:
            return False
    return _BINARY_CONTROL.search(sample) is None


def _is_email(sample: bytes) -> bool:
    head = sample.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    lines = [line for line in head.splitlines() if line and line[:1] not in b" \t"]
    return (
        len(lines) >= 2
        and all(_HEADER_LINE.match(line) for line in lines)
        and _EMAIL_HEADERS.search(head) is not None
    )


def extension_of(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot and stem else ""


# Characters kept in a file name as shown and sent back: letters, digits and a few marks;
# the rest (path separators, quotes, control characters) become "_".
_UNSAFE_NAME = re.compile(r"[^\w.\- ()+,]", re.UNICODE)
NAME_MAX_CHARS = 120


def safe_name(name: str, found: FileType) -> str:
    """``name`` made safe to show and to offer as a download, ending as ``found`` does.

    Only the last path component is kept; a name whose extension is not one of ``found``'s
    gets the right one added ("scan.pdf" that is a PNG becomes "scan.pdf.png"), so that the
    saved file opens in the program that reads what it really is.
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = _UNSAFE_NAME.sub("_", base).strip(" .") or "file"
    if extension_of(base) not in found.extensions:
        base = f"{base}.{found.extensions[0]}"
    if len(base) > NAME_MAX_CHARS:
        extension = extension_of(base)
        base = f"{base[: NAME_MAX_CHARS - len(extension) - 1]}.{extension}"
    return base
