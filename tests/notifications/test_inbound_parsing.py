"""Tests for ``notifications.inbound_parsing`` (pure stdlib: runs without Django settings).

Corpus: every .eml under ``shared/data/emails`` (see shared/data/SOURCES.md section 2), located
beside the repository checkout or via ``REDRESS_SHARED_DATA`` (path to the ``data`` folder).
"""

from __future__ import annotations

import csv
import os
import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications.html_to_text import html_to_text
from notifications.inbound_parsing import (
    ParsedEmail,
    UnparseableEmail,
    extract_reference,
    parse_authentication_results,
    parse_message,
    split_quoted_reply,
    strip_quoted_reply,
)

_DATA = Path(
    os.environ.get("REDRESS_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data"
)
EMAILS = _DATA / "emails"
MANIFEST = EMAILS / "manifest.csv"
requires_corpus = pytest.mark.skipif(
    not MANIFEST.is_file(),
    reason=f"shared email corpus not found at {EMAILS}; set REDRESS_SHARED_DATA to the shared 'data' folder",
)


def _manifest_rows() -> list[dict[str, str]]:
    if not MANIFEST.is_file():
        return []
    with MANIFEST.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


ROWS = _manifest_rows()
CORPUS = [pytest.param(row, id=row["file"]) for row in ROWS] or [pytest.param(None, id="no-corpus")]

# The only corpus files that are not messages we can use, with the reason we expect.
EXPECTED_UNPARSEABLE = {
    "cpython-test_email/msg_18.eml": "no From header and no body",  # headers only
    "cpython-test_email/msg_19.eml": "no header lines found",  # a bare digest body, no headers
}

# The manifest's ``attachments`` column counts leaf parts that have a filename and are not
# message/*. We also keep unnamed non-text parts and attached messages, so these files have
# more attachments than the manifest says; listed by the extra parts' content types.
EXTRA_ATTACHMENTS = {
    "cpython-test_email/msg_37.eml": ["text/x-one", "text/x-two", "text/x-two"],  # unnamed
    "cpython-test_email/msg_39.eml": ["application/octet-stream"] * 2,  # unnamed
    "flanker/signed.eml": ["application/plain"],  # the unnamed signed content itself
    "flanker/enclosed.eml": ["message/rfc822"],  # thanks.eml
    "flanker/enclosed-bad-encoding.eml": ["message/rfc822"],
    "flanker/enclosed-broken.eml": ["message/rfc822"],
    "flanker/enclosed-broken-body.eml": ["message/rfc822"],
    "flanker/enclosed-global.eml": ["message/global"],
    "flanker/no-filename.eml": ["message/rfc822"],  # Content-Disposition: attachment, no name
}

# Automatic mail the manifest does not tag "report/bounce": that feature marks only structural
# reports (multipart/report, message/delivery-status); these are list mail or plain-text bounces.
AUTOMATIC_WITHOUT_REPORT_FEATURE = {
    "cpython-test_email/msg_32.eml": "Precedence: bulk",
    "cpython-test_email/msg_33.eml": "Precedence: bulk",
    "flanker/apache-message-news-mime.eml": "Precedence: bulk",
    "flanker/from-encoding.eml": "Precedence: bulk",
    "flanker/message-external-body.eml": "Precedence: bulk",
    "flanker/bounce_broken-mime.eml": "sender is POSTMASTER",
    "flanker/bounce_gmail-invalid-address.eml": "sender is MAILER-DAEMON",
    "flanker/bounce_gmail-no-dns.eml": "sender is MAILER-DAEMON",
    "flanker/long-links.eml": "sender is POSTMASTER",
    # A Mailman digest, from the list's -request address.
    "cpython-test_email/msg_02.eml": "sender is a mailing list's own address (ppp-request, RFC 3834)",
}

# Manifest stand-in for subjects that are raw 8-bit bytes; checked in test_gb2312_* instead.
RAW_SUBJECT_PLACEHOLDER = "(raw 8-bit bytes in header; not RFC 2047 encoded)"
MANIFEST_SUBJECT_LIMIT = 200  # the manifest truncates subject_decoded to 200 characters


def _words(text: str) -> str:
    return " ".join(text.split())


def _non_ascii_runs_collapsed(text: str) -> str:
    # The manifest renders each undecodable header byte as U+FFFD; we decode those bytes to real
    # characters instead, so compare with every run of non-ASCII characters reduced to one mark.
    return re.sub(r"[^\x00-\x7f]+", "\ufffd", _words(text))


def _corpus_file(name: str) -> bytes:
    path = EMAILS / name
    if not path.is_file():
        pytest.skip(f"shared email corpus not found at {EMAILS}")
    return path.read_bytes()


def _mail(text: str) -> bytes:
    """A synthetic message from readable source: LF becomes CRLF, UTF-8 encoded."""
    return text.lstrip("\n").replace("\n", "\r\n").encode("utf-8")


# --- the whole corpus --------------------------------------------------------------------


@requires_corpus
@pytest.mark.parametrize("row", CORPUS)
def test_corpus_message(row: dict[str, str]) -> None:
    name = row["file"]
    features = set(filter(None, row["features"].split(";")))
    try:
        parsed = parse_message((EMAILS / name).read_bytes())
    except UnparseableEmail as exc:
        assert exc.reason.strip()
        assert name in EXPECTED_UNPARSEABLE, f"unexpectedly unparseable: {exc.reason}"
        assert exc.reason.startswith(EXPECTED_UNPARSEABLE[name])
        return
    assert name not in EXPECTED_UNPARSEABLE
    assert isinstance(parsed, ParsedEmail)

    expected_subject = row["subject_decoded"]
    if expected_subject == RAW_SUBJECT_PLACEHOLDER:
        assert parsed.subject  # decoded from raw bytes; exact values in the gb2312 tests
    elif "\ufffd" in expected_subject:
        assert _non_ascii_runs_collapsed(parsed.subject) == _non_ascii_runs_collapsed(
            expected_subject
        )
    elif len(expected_subject) == MANIFEST_SUBJECT_LIMIT:
        assert parsed.subject.startswith(_words(expected_subject))
    else:
        assert parsed.subject == _words(expected_subject)

    extra = EXTRA_ATTACHMENTS.get(name, [])
    found = Counter(a.content_type for a in (*parsed.attachments, *parsed.skipped_attachments))
    assert not Counter(extra) - found, f"expected extra attachments {extra}, found {found}"
    assert (found - Counter(extra)).total() == int(row["attachments"])

    expected_reason = AUTOMATIC_WITHOUT_REPORT_FEATURE.get(name)
    assert parsed.is_automatic == ("report/bounce" in features or expected_reason is not None)
    assert (parsed.automatic_reason is not None) == parsed.is_automatic
    if expected_reason:
        assert parsed.automatic_reason == expected_reason

    if "html-only" in features:
        assert parsed.text.strip()
        assert not re.search(r"<[A-Za-z/!?]", parsed.text), "HTML markup leaked into text"
    if "non-utf8-charset" in features:
        # Every body charset in the corpus is declared correctly: no replacement, no fallback.
        assert "\ufffd" not in parsed.text
        assert not [f for f in parsed.charset_fallbacks if not f.startswith("header ")]

    assert set(filter(None, row["parser_defects"].split(";"))) <= set(parsed.defects)
    _assert_well_formed(parsed)


def _assert_well_formed(parsed: ParsedEmail) -> None:
    for value in (parsed.subject, parsed.text, parsed.reply_text, parsed.from_name):
        assert not re.search("[\udc80-\udcff\x00]", value)
    assert "\n" not in parsed.subject
    assert parsed.from_address is None or parsed.from_address == parsed.from_address.lower()
    assert parsed.date is None or parsed.date.tzinfo is not None
    assert parsed.fingerprint
    for attachment in parsed.attachments:
        assert attachment.filename and not re.search(r"[\\/]", attachment.filename)
        assert attachment.size == len(attachment.content)


# --- headers -----------------------------------------------------------------------------


def test_rfc2047_subject_and_names_are_decoded() -> None:
    parsed = parse_message(
        _mail(
            """
From: =?utf-8?Q?Ji=C5=99=C3=AD_Nov=C3=A1k?= <Jiri.Novak@Example.CZ>
To: Complaints <complaints@example.com>, other@example.com
Subject: =?UTF-8?B?U3TDrcW+bm9zdDo=?=
 =?iso-8859-2?Q?_=BElu=BBou=E8k=FD_k=F9=F2?=   RDR-2026-000123
Message-ID: <abc@mail.example.cz>
Date: Tue, 13 Apr 2021 12:56:39 +0200

Body
"""
        )
    )
    assert parsed.subject == "Stížnost: žluťoučký kůň RDR-2026-000123"
    assert parsed.from_name == "Jiří Novák"
    assert parsed.from_address == "jiri.novak@example.cz"
    assert parsed.to_addresses == ("complaints@example.com", "other@example.com")
    assert parsed.message_id == "abc@mail.example.cz"
    assert parsed.date == datetime(2021, 4, 13, 12, 56, 39, tzinfo=timezone(timedelta(hours=2)))
    assert extract_reference(parsed.subject) == "RDR-2026-000123"


@requires_corpus
def test_corpus_rfc2047_subjects() -> None:
    assert (
        parse_message(_corpus_file("django-helpdesk/quoted_printable.eml")).subject == "Český test"
    )
    bilingual = parse_message(_corpus_file("flanker/bilingual-simple.eml"))
    assert bilingual.subject == "Simple text. How are you? Как ты поживаешь?"


def test_raw_8bit_header_bytes_do_not_crash() -> None:
    raw = b"From: Ren\xe9 <rene@example.com>\r\nSubject: caf\xc3\xa9 \xe2\x82\xac\r\n\r\nhi\r\n"
    parsed = parse_message(raw)
    assert parsed.subject == "café €"  # valid UTF-8 is read as UTF-8 ...
    assert parsed.from_name == "René"  # ... anything else falls back to cp1252
    assert parsed.from_address == "rene@example.com"
    assert any(f.startswith("header From:") for f in parsed.charset_fallbacks)


@requires_corpus
def test_gb2312_raw_subject_and_body_decode_to_chinese() -> None:
    parsed = parse_message(_corpus_file("flanker/charset-gb2312.eml"))
    # The Subject is raw GB2312 bytes; the body declares gb2312, which we use as the hint.
    assert (
        parsed.subject == "提示\uff1a您的企业成员暂时无法登录邮件客户端"
    )  # U+FF1A: fullwidth colon
    assert "尊敬的管理员" in parsed.text
    assert "腾讯企业邮箱" in parsed.text
    assert "\ufffd" not in parsed.text


def test_koi8r_body_decodes_to_cyrillic() -> None:
    # The corpus's koi8-r parts (cpython msg_08/09/12) are empty, so use a synthetic one.
    body = "Привет, мир! Жалоба на доставку.".encode("koi8-r")
    raw = b"From: a@example.com\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n" + body
    parsed = parse_message(raw)
    assert parsed.text == "Привет, мир! Жалоба на доставку."
    assert parsed.charset_fallbacks == ()


def test_unknown_or_wrong_charset_falls_back_and_is_recorded() -> None:
    unknown = parse_message(
        b"From: a@example.com\r\nContent-Type: text/plain; charset=x-bogus\r\n\r\nna\xefve\r\n"
    )
    assert unknown.text == "naïve"
    assert unknown.charset_fallbacks == (
        "text/plain part: unknown charset 'x-bogus'; decoded as cp1252",
    )
    broken_utf8 = parse_message(
        b"From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nok \xff ok\r\n"
    )
    assert broken_utf8.text == "ok \ufffd ok"
    assert broken_utf8.charset_fallbacks == ("text/plain part: invalid utf-8 bytes replaced",)


def test_dates_are_aware() -> None:
    def date_of(value: str) -> datetime | None:
        return parse_message(_mail(f"From: a@example.com\nDate: {value}\n\nx\n")).date

    assert date_of("Mon, 9 Jul 2012 23:06:08 -0000") == datetime(2012, 7, 9, 23, 6, 8, tzinfo=UTC)
    assert date_of("not a date") is None


def test_threading_ids_and_fingerprint() -> None:
    raw = _mail(
        """
From: a@example.com
Message-ID:   <m1@example.com>
In-Reply-To: <m0@example.com>
References: <r1@example.com> <m0@example.com>
 <r2@example.com>

x
"""
    )
    parsed = parse_message(raw)
    assert parsed.message_id == "m1@example.com"
    assert parsed.references == ("r1@example.com", "m0@example.com", "r2@example.com")
    assert parsed.references_all() == ("m0@example.com", "r1@example.com", "r2@example.com")
    assert parsed.fingerprint == "m1@example.com"
    without_id = parse_message(b"From: a@example.com\r\n\r\nx\r\n")
    assert without_id.message_id is None
    assert without_id.fingerprint == f"sha256:{without_id.raw_sha256}"
    assert parse_message(b"From: a@example.com\r\n\r\nx\r\n").fingerprint == without_id.fingerprint


def test_extract_reference() -> None:
    assert extract_reference("Re: [rdr-2026-000123] Refund") == "RDR-2026-000123"
    assert extract_reference("RDR-2026-12345 is too short") is None
    assert extract_reference("") is None
    assert extract_reference("Case CX-99", pattern=r"CX-\d+") == "CX-99"


# --- body ------------------------------------------------------------------------------------


def test_html_only_is_converted_and_scripts_dropped() -> None:
    html = (
        "<html><head><title>Hidden title</title><style>p {color: red}</style></head><body>"
        "<script>alert('owned')</script><p>Tom &amp; Jerry&nbsp;say &lt;b&gt;hi&lt;/b&gt;</p>"
        "<div>Second<br>line</div><ul><li>one</li><li>two</li></ul></body></html>"
    )
    parsed = parse_message(
        _mail(f"From: a@example.com\nContent-Type: text/html; charset=utf-8\n\n{html}\n")
    )
    assert "alert" not in parsed.text
    assert "Hidden title" not in parsed.text and "color" not in parsed.text
    assert "Tom & Jerry say" in parsed.text
    assert not re.search(r"<[A-Za-z/!?]", parsed.text)  # even entity-encoded tags are defused
    assert "Second\nline" in parsed.text
    assert "- one\n- two" in parsed.text


def test_html_to_text_edge_cases() -> None:
    assert html_to_text("<pre>a\n  b</pre><p>c\n   d</p>") == "a\n  b\n\nc d"
    assert html_to_text("<html><head><title>Promo<body>Hello") == "Hello"  # unclosed <head>
    assert (
        html_to_text("<noscript>Shown</noscript><table><tr><td>a<td>b</table>") == "Shown\n\na\tb"
    )


def test_plain_text_is_preferred_over_html() -> None:
    message = EmailMessage()
    message["From"] = "a@example.com"
    message.set_content("Plain version")
    message.add_alternative("<p>HTML version</p>", subtype="html")
    assert parse_message(message.as_bytes()).text == "Plain version"

    empty_plain = EmailMessage()
    empty_plain["From"] = "a@example.com"
    empty_plain.set_content("\n")
    empty_plain.add_alternative("<p>Only the HTML has words</p>", subtype="html")
    assert parse_message(empty_plain.as_bytes()).text == "Only the HTML has words"


@requires_corpus
def test_broken_base64_body_is_recovered() -> None:
    parsed = parse_message(_corpus_file("flanker/spam_broken-base64.eml"))
    assert parsed.text == "Here goes some text that should be long enough to create line break"
    assert "InvalidBase64LengthDefect" in parsed.defects


@requires_corpus
def test_top_level_forward_and_bare_report_have_text() -> None:
    forwarded = parse_message(_corpus_file("cpython-test_email/msg_11.eml"))
    assert forwarded.text  # the body of the message/rfc822 payload
    report = parse_message(_corpus_file("flanker/bounce_delayed-broken.eml"))
    assert "Status: 4.2.2" in report.text
    assert report.automatic_reason == "message/delivery-status part"


# --- reply stripping ---------------------------------------------------------------------


@requires_corpus
def test_helpdesk_forward_and_original_message() -> None:
    original = parse_message(_corpus_file("django-helpdesk/forwarded-message.eml"))
    assert "-----Original Message-----" in original.text
    assert original.reply_text == "This is email body"

    only_forward = parse_message(_corpus_file("django-helpdesk/utf-nondecodable.eml"))
    assert only_forward.text.startswith("-------- Forwarded Message --------")
    assert only_forward.reply_text == only_forward.text  # nothing new: keep the forward
    assert "Ahoj Johne" in only_forward.reply_text


@requires_corpus
def test_bottom_posted_corpus_reply() -> None:
    parsed = parse_message(_corpus_file("flanker/from-encoding.eml"))
    assert parsed.reply_text.startswith("Isn't that the case for almost every other server")
    assert "wrote:" not in parsed.reply_text and ">" not in parsed.reply_text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "Thanks, that works.\n\nOn Tue, 13 Apr 2021 at 12:56, Support <s@example.com>\n"
            "wrote:\n\n> Hello,\n> please try again.\n",
            "Thanks, that works.",
            id="gmail-wrapped-attribution",
        ),
        pytest.param(
            "> You asked about X\nAnswer to X\n> and Y?\nAnswer to Y\n\nJane",
            # Inline answers: the questions give them their meaning, so nothing is cut.
            "> You asked about X\nAnswer to X\n> and Y?\nAnswer to Y\n\nJane",
            id="interleaved",
        ),
        pytest.param(
            "Please see below.\n\nFrom: Shop <shop@example.com>\nSent: Monday, 1 March 2021\n"
            "To: me\nSubject: Your order\n\nYour order was cancelled.",
            "Please see below.",
            id="outlook-header-block",
        ),
        pytest.param(
            "Still broken.\n________________________________\nFrom: Shop\nOld text",
            "Still broken.",
            id="outlook-underscores",
        ),
        pytest.param(
            "Díky.\n\nDne 13. 4. 2021 v 12:56 Jan Novák <jan@example.cz> napsal(a):\n> Dobrý den",
            "Díky.",
            id="czech",
        ),
        pytest.param(
            "Danke!\n\nAm 01.03.2021 um 10:00 schrieb Max <max@example.de>:\n\nHallo",
            "Danke!",
            id="german-unquoted-history",
        ),
        pytest.param(
            "On Monday I called.\nThe agent wrote:\nnothing useful",
            "On Monday I called.\nThe agent wrote:\nnothing useful",
            id="prose-is-not-an-attribution",
        ),
        pytest.param("> only a quote", "> only a quote", id="nothing-new-keeps-everything"),
    ],
)
def test_strip_quoted_reply(body: str, expected: str) -> None:
    assert strip_quoted_reply(body) == expected


_TABLE = "Item      | Price\n________________________________\nShoes     | 50\nBag       | 20"
_INLINE = (
    "Hello,\n\nYou wrote:\n> We refunded 50\nNo you did not, nothing arrived.\n"
    "> and sent a voucher\nNo voucher either.\n\nJane"
)


@pytest.mark.parametrize(
    ("body", "expected", "cut"),
    [
        pytest.param(
            f"The prices were wrong:\n\n{_TABLE}\n\nPlease refund the difference.",
            f"The prices were wrong:\n\n{_TABLE}\n\nPlease refund the difference.",
            False,
            id="underscore-table-separator-is-text",
        ),
        pytest.param(
            "Still broken.\n\n________________________________\nFrom: Shop <s@example.com>\n"
            "Sent: Monday, 1 March 2021 10:00\nTo: Jane\nSubject: Order\n\nOld text",
            "Still broken.",
            True,
            id="outlook-underscores-then-from",
        ),
        pytest.param(
            "I pasted your answer here:\n-----Original Message-----\nit was not helpful at all, "
            "and I want my money back.",
            "I pasted your answer here:\n-----Original Message-----\nit was not helpful at all, "
            "and I want my money back.",
            False,
            id="original-message-then-own-text",
        ),
        pytest.param(
            "Not fixed.\n\n-----Original Message-----\nFrom: Shop [mailto:s@example.com]\n"
            "Sent: Monday, March 01, 2021 10:00 AM\nTo: Jane\nSubject: Order\n\nFixed now.",
            "Not fixed.",
            True,
            id="outlook-original-message-block",
        ),
        pytest.param(_INLINE, _INLINE, False, id="inline-answers-keep-the-questions"),
        pytest.param(
            "> Did it arrive?\nNo.\n> Shall we resend it?",
            "> Did it arrive?\nNo.\n> Shall we resend it?",
            False,
            id="one-answer-between-two-quotes",
        ),
        pytest.param(
            "Thanks, that works.\n\nOn Tue, 13 Apr 2021 at 12:56, Support <s@example.com> "
            "wrote:\n\n> Hello,\n> please try again.\n",
            "Thanks, that works.",
            True,
            id="gmail",
        ),
        pytest.param(
            "Still waiting.\n\nSent from my iPhone\n\nOn 13 Apr 2021, at 12:56, Support "
            "<s@example.com> wrote:\n\n> Hello,\n> we are on it.",
            "Still waiting.\n\nSent from my iPhone",
            True,
            id="apple-mail",
        ),
        pytest.param(
            "On 13/04/2021 12:56, Support wrote:\n> Did the parcel arrive?\n\nNo, it did not.",
            "No, it did not.",
            True,
            id="thunderbird-bottom-posted",
        ),
        pytest.param(
            "No change.\n\nFrom: Support <s@example.com>\nSent: Tuesday, 13 April 2021 12:56\n"
            "To: Jane <j@example.com>\nSubject: RE: Order\n\nWe are on it.",
            "No change.",
            True,
            id="outlook",
        ),
        pytest.param(
            "On 3 March the agent wrote:\nnothing useful, so I am writing again.",
            "On 3 March the agent wrote:\nnothing useful, so I am writing again.",
            False,
            id="dated-prose-is-not-an-attribution",
        ),
        pytest.param("Just text.", "Just text.", False, id="nothing-quoted"),
    ],
)
def test_split_quoted_reply(body: str, expected: str, cut: bool) -> None:
    split = split_quoted_reply(body)
    assert (split.reply, split.cut) == (expected, cut)


def test_reply_text_on_a_synthetic_reply() -> None:
    raw = _mail(
        """
From: Customer <customer@example.com>
Subject: Re: [RDR-2026-000042] Your complaint
In-Reply-To: <ack-42@redress.example>

Yes, the parcel is still missing.

On Mon, 2 Mar 2026 at 09:00, Redress <support@redress.example> wrote:
> We have received your complaint.
"""
    )
    parsed = parse_message(raw)
    assert parsed.reply_text == "Yes, the parcel is still missing."
    assert parsed.in_reply_to == "ack-42@redress.example"
    assert extract_reference(parsed.subject) == "RDR-2026-000042"


# --- attachments -------------------------------------------------------------------------


def _with_attachments(*files: tuple[str, bytes]) -> bytes:
    message = EmailMessage()
    message["From"] = "a@example.com"
    message.set_content("See attached.")
    for filename, content in files:
        message.add_attachment(
            content, maintype="application", subtype="octet-stream", filename=filename
        )
    return message.as_bytes()


def test_attachment_over_size_limit_is_skipped_with_reason() -> None:
    raw = _with_attachments(("small.bin", b"x" * 10), ("big.bin", b"y" * 2000))
    parsed = parse_message(raw, max_attachment_bytes=1000)
    assert [(a.filename, a.size, a.content) for a in parsed.attachments] == [
        ("small.bin", 10, b"x" * 10)
    ]
    [skipped] = parsed.skipped_attachments
    assert (skipped.filename, skipped.size) == ("big.bin", 2000)
    assert skipped.reason == "larger than the 1000-byte limit"


def test_attachment_count_limit() -> None:
    raw = _with_attachments(*((f"f{i}.bin", b"data") for i in range(4)))
    parsed = parse_message(raw, max_attachments=3)
    assert [a.filename for a in parsed.attachments] == ["f0.bin", "f1.bin", "f2.bin"]
    assert [(s.filename, s.reason) for s in parsed.skipped_attachments] == [
        ("f3.bin", "more than 3 attachments")
    ]


def test_attachment_filenames_are_sanitised_and_decoded() -> None:
    part = "--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; {}\r\n\r\nx\r\n"
    params = [
        'filename="../../etc/passwd"',
        'filename="C:\\\\Users\\\\eve\\\\evil.exe"',
        "filename*=utf-8''%C4%8Cesk%C3%BD%20doklad.pdf",
        'filename="=?utf-8?B?xI1lc2vDvS5wZGY=?="',
        'filename="..."',
    ]
    raw = (
        "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        + "".join(part.format(p) for p in params)
        + "--B--\r\n"
    ).encode()
    names = [a.filename for a in parse_message(raw).attachments]
    assert names == ["passwd", "evil.exe", "Český doklad.pdf", "český.pdf", "attachment-5.bin"]


@requires_corpus
def test_corpus_attachment_content() -> None:
    parsed = parse_message(_corpus_file("flanker/attached-pdf.eml"))
    [pdf] = parsed.attachments
    assert (pdf.filename, pdf.content_type) == ("test.pdf", "application/pdf")
    assert pdf.content.startswith(b"%PDF")
    enclosed = parse_message(_corpus_file("flanker/enclosed.eml"))
    [eml] = enclosed.attachments
    assert (eml.filename, eml.content_type) == ("thanks.eml", "message/rfc822")
    assert b"Subject:" in eml.content


# --- automatic mail ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        (
            "Auto-Submitted: auto-generated; owner-email=x@example.com",
            "Auto-Submitted: auto-generated",
        ),
        ("X-Autoreply: yes", "X-Autoreply header present"),
        ("Precedence: junk", "Precedence: junk"),
        ("Precedence: bulk", "Precedence: bulk"),
        ("Return-Path: <>", "empty Return-Path (null sender)"),
        ("Auto-Submitted: no", None),
        ("Precedence: list\nList-Id: <support.example.com>", None),  # Google Groups inboxes
        ("X-Autorespond: Away", "X-Autorespond header present"),
        ("X-Autoreply: no", None),
        ("Precedence: auto_reply", "Precedence: auto_reply"),
        ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress header present"),
        ("Return-Path: < >", "empty Return-Path (null sender)"),
    ],
)
def test_automatic_detection(headers: str, reason: str | None) -> None:
    # A subject no auto-responder writes: the headers alone decide.
    parsed = parse_message(_mail(f"From: a@example.com\n{headers}\nSubject: My parcel\n\nAway.\n"))
    assert parsed.automatic_reason == reason
    assert parsed.is_automatic is (reason is not None)


@pytest.mark.parametrize(
    ("subject", "marker"),
    [
        ("Out of Office", "Out of Office"),
        ("Out of Office: Your complaint RDR-2026-000001", "Out of Office"),
        ("Out of Office AutoReply: Your complaint", "Out of Office AutoReply"),
        ("Automatic reply: We have your complaint", "Automatic reply"),
        ("Auto: We have your complaint", "Auto"),
        ("AutoReply: We have your complaint", "AutoReply"),
        ("Auto-Reply: We have your complaint", "Auto-Reply"),
        ("Abwesenheitsnotiz: Ihre Beschwerde", "Abwesenheitsnotiz"),
        ("Réponse automatique : Votre réclamation", "Réponse automatique"),
        ("=?utf-8?q?R=C3=A9ponse_automatique=3A_Votre_r=C3=A9clamation?=", "Réponse automatique"),
    ],
)
def test_auto_reply_subjects_are_automatic_without_any_header(subject: str, marker: str) -> None:
    # Out-of-office replies relayed by some gateways lose Auto-Submitted and X-Autoreply.
    parsed = parse_message(_mail(f"From: a@example.com\nSubject: {subject}\n\nAway.\n"))
    assert parsed.automatic_reason == f"auto-reply subject ({marker!r})"
    assert parsed.is_automatic


@pytest.mark.parametrize(
    "subject",
    [
        "Out of office hours support was rude",
        "Automatic renewal charged twice",
        "Autopay took my money",
        "Re: Your complaint about the auto: parts",
        "My automatic reply to you bounced",
    ],
)
def test_peoples_subjects_that_only_look_like_auto_replies_are_not_automatic(subject) -> None:
    parsed = parse_message(_mail(f"From: a@example.com\nSubject: {subject}\n\nHello.\n"))
    assert parsed.automatic_reason is None


def test_auto_submitted_no_outweighs_an_auto_reply_subject() -> None:
    # The sender's mailer says a person wrote it (RFC 3834): believed over a subject.
    parsed = parse_message(
        _mail("From: a@example.com\nAuto-Submitted: no\nSubject: Out of office\n\nAway.\n")
    )
    assert parsed.automatic_reason is None


@pytest.mark.parametrize(
    ("sender", "automatic"),
    [
        ("ppp-request@lists.example.org", True),
        ("owner-ppp@lists.example.org", True),
        ("ppp-bounces@lists.example.org", True),
        ("LISTSERV@lists.example.org", True),
        ("majordomo@lists.example.org", True),
        # People, whatever their addresses look like.
        ("request@example.org", False),
        ("owner@example.org", False),
        ("jo.bounce@example.org", False),
    ],
)
def test_mailing_list_robot_senders_are_automatic(sender: str, automatic: bool) -> None:
    parsed = parse_message(_mail(f"From: {sender}\nSubject: Digest\n\nFive messages.\n"))
    assert parsed.is_automatic is automatic, parsed.automatic_reason


def test_mailer_daemon_sender_is_automatic() -> None:
    parsed = parse_message(_mail("From: Mail Delivery <MAILER-DAEMON@mx.example.com>\n\nbounced\n"))
    assert parsed.automatic_reason == "sender is MAILER-DAEMON"


# --- unparseable input and robustness ----------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message"),
        (b"  \r\n\r\n", "empty message"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "no header lines found"),
        (random.Random(20260301).randbytes(4096), "no header lines found"),
        (b"Subject: hello\r\n\r\n", "no From header and no body"),
        (
            b"From: not an address\r\nSubject: hello\r\n\r\n  \r\n",
            "no usable From address and no body",
        ),
    ],
    ids=["empty", "whitespace", "png", "random", "no-from-no-body", "bad-from-no-body"],
)
def test_unparseable(raw: bytes, reason: str) -> None:
    with pytest.raises(UnparseableEmail) as caught:
        parse_message(raw)
    assert caught.value.reason.startswith(reason)


def test_no_from_but_body_is_parsed() -> None:
    parsed = parse_message(b"Subject: hello\r\n\r\nThe body\r\n")
    assert (parsed.from_address, parsed.text) == (None, "The body")


_PLAUSIBLE_PREFIXES = [
    b"",
    b"From: a@example.com\r\n",
    b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n",
    b"Subject: =?utf-8?q?x?=\r\nContent-Transfer-Encoding: base64\r\nContent-Type: text/html\r\n\r\n",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_PLAUSIBLE_PREFIXES), st.binary(max_size=3000))
def test_arbitrary_bytes_raise_only_unparseable(prefix: bytes, raw: bytes) -> None:
    _parse_or_unparseable(prefix + raw)


@requires_corpus
def test_mutated_corpus_raises_only_unparseable() -> None:
    rng = random.Random(7)
    names = [row["file"] for row in ROWS if int(row["bytes"]) < 12_000]
    for name in rng.sample(names, 12):
        original = bytearray((EMAILS / name).read_bytes())
        for _ in range(6):
            mutated = bytearray(original)
            for _ in range(rng.randint(1, 40)):
                mutated[rng.randrange(len(mutated))] = rng.choice(b'\x00\xff\r\n:;<>=?"-\\ \t\x80')
            _parse_or_unparseable(bytes(mutated[: rng.randint(1, len(mutated))]))


def _parse_or_unparseable(raw: bytes) -> None:
    try:
        parsed = parse_message(raw)
    except UnparseableEmail as exc:
        assert exc.reason.strip()
    else:
        _assert_well_formed(parsed)


# --- Authentication-Results ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "authserv_id", "spf", "dkim", "dmarc"),
    [
        pytest.param(
            "mx.google.com; spf=pass (google.com: domain of bob@example.net designates "
            "173.193.210.44 as permitted sender) smtp.mail=bob@example.net; dkim=pass "
            "header.i=@example.net",
            "mx.google.com", "pass", "pass", None, id="gmail",
        ),
        pytest.param(
            "mx.example.com 1; dkim=fail header.d=\"a;b\"; dkim/1=pass header.d=example.com; "
            "dmarc=FAIL (p=reject (strict; nested) dis=none) header.from=example.com",
            "mx.example.com", None, "pass", "fail", id="version-quotes-nested-comments",
        ),
        pytest.param("example.com; none", "example.com", None, None, None, id="none"),
        # Office 365 wrote this one without an authserv-id: nobody can be trusted for it.
        pytest.param("spf=none (sender IP is ) smtp.mailfrom=<>;", "", "none", None, None,
                     id="no-authserv-id"),
        pytest.param("", "", None, None, None, id="empty"),
    ],
)  # fmt: skip
def test_authentication_results_are_read_as_rfc_8601_writes_them(
    value, authserv_id, spf, dkim, dmarc
):
    results = parse_authentication_results(value)

    assert results.authserv_id == authserv_id
    assert (results.result("spf"), results.result("dkim"), results.result("dmarc")) == (
        spf,
        dkim,
        dmarc,
    )


def test_every_authentication_results_header_is_kept_topmost_first() -> None:
    message = EmailMessage()
    message["Authentication-Results"] = "mx.ours.example; dmarc=pass header.from=example.org"
    message["Authentication-Results"] = "mx.theirs.example; dmarc=fail"
    message["From"] = "a@example.org"
    message.set_content("Hello")

    parsed = parse_message(message.as_bytes())

    assert [r.authserv_id for r in parsed.authentication_results] == [
        "mx.ours.example",
        "mx.theirs.example",
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_any_authentication_results_value_parses_without_raising(value: str) -> None:
    results = parse_authentication_results(value)

    assert all(method == method.lower() for method, _ in results.results)


@pytest.mark.parametrize(
    ("headers", "list_reason"),
    [
        ("Precedence: list\nList-Id: <support.example.com>", "Precedence: list"),
        ("Precedence: list\nList-Unsubscribe: <mailto:leave@example.com>", "Precedence: list"),
        ("List-Id: <announce.lists.example.org>", "List-Id header present"),
        ("List-Unsubscribe: <mailto:leave@example.com>", "List-Unsubscribe header present"),
        ("Precedence: list", "Precedence: list"),
        ("", None),
    ],
)
def test_list_mail_detection(headers: str, list_reason: str | None) -> None:
    parsed = parse_message(_mail(f"From: a@example.com\n{headers}\nSubject: Help\n\nHelp me.\n"))
    assert parsed.list_reason == list_reason
    assert parsed.is_list_mail is (list_reason is not None)
    assert not parsed.is_automatic


@pytest.mark.parametrize("precedence", ["bulk", "junk"])
def test_bulk_mail_is_list_mail_and_automatic(precedence: str) -> None:
    parsed = parse_message(
        _mail(f"From: a@example.com\nPrecedence: {precedence}\nSubject: News\n\nNews.\n")
    )
    assert parsed.list_reason == f"Precedence: {precedence}"
    assert parsed.is_automatic
