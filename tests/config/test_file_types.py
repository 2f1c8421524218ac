"""What a file is, from its bytes (common.file_types): the allow-list, the refusals that
name what a disguised file really is, and the names files are shown and sent back under."""

import io
import zipfile

import pytest

from common import file_types
from common.file_types import NotAllowed, safe_name, sniff

pytestmark = pytest.mark.sqlite

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def _zip(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            # A fixed date: the bytes (and so the test ids) are the same in every process.
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), "<x/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", file_types.PDF),
        (PNG_BYTES, file_types.PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", file_types.JPEG),
        (b"GIF89a\x01\x00", file_types.GIF),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", file_types.WEBP),
        ("Le reçu montre deux débits.\r\n".encode(), file_types.TEXT),
        (
            b"From: Ada <ada@example.com>\r\nSubject: receipt\r\nDate: Mon, 1 Jun 2026\r\n\r\nHi",
            file_types.EML,
        ),
        (_zip(["[Content_Types].xml", "word/document.xml"]), file_types.DOCX),
        (_zip(["[Content_Types].xml", "xl/workbook.xml"]), file_types.XLSX),
    ],
)
def test_allowed_types_are_known_by_their_bytes(content, expected):
    assert sniff(content) is expected


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00", "a Windows program"),
        (b"\x7fELF\x02\x01\x01", "a Linux program"),
        (b"#!/bin/sh\nrm -rf ~\n", "a script"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\0\0", "an old Office file"),
        (_zip(["evil.exe"]), "a zip archive"),
        (
            _zip(["[Content_Types].xml", "word/document.xml", "word/vbaProject.bin"]),
            "macros",
        ),
        (b"PK\x03\x04not really a zip", "a damaged zip archive"),
        (b"\x00\x01\x02\x03binary", "of a kind we do not accept"),
    ],
)
def test_what_is_not_allowed_is_refused_saying_what_it_is(content, said):
    with pytest.raises(NotAllowed) as refused:
        sniff(content)
    assert said in refused.value.message


def test_an_empty_file_is_refused():
    with pytest.raises(NotAllowed, match="empty"):
        sniff(b"")


def test_the_name_plays_no_part_and_gets_the_right_extension():
    assert safe_name("scan.pdf", file_types.PNG) == "scan.pdf.png"
    assert safe_name("photo.JPEG", file_types.JPEG) == "photo.JPEG"
    assert safe_name("../../etc/passwd", file_types.TEXT) == "passwd.txt"
    assert safe_name('C:\\Users\\a\\"bad";name.pdf', file_types.PDF) == "_bad__name.pdf"
    assert safe_name("", file_types.PDF) == "file.pdf"
    long = safe_name("x" * 500 + ".pdf", file_types.PDF)
    assert len(long) <= file_types.NAME_MAX_CHARS and long.endswith(".pdf")
