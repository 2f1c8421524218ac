"""Turn raw inbound email bytes into a ``ParsedEmail`` that ingestion code can trust.

Pure standard library (no Django), so the mailbox-polling command and the inbound webhook can
share it and it can be tested without settings.

Contract: ``parse_message`` raises nothing but ``UnparseableEmail``. Mail is hostile input
(broken MIME, wrong charsets, raw 8-bit headers, parser bugs) and one bad message must not stop
a polling loop, so whatever is recoverable is parsed and the damage is reported in ``defects``
(email package defect class names, plus ``HeaderParseError``/``InvalidDateDefect`` when a
header could not be parsed at all) and ``charset_fallbacks``.

Rules:

* Unparseable: empty input; no header lines (not an RFC 822 message, e.g. a binary file); or
  no usable From address AND no body (no text and no attachments).
* ``text``: text/plain is preferred over text/html inside each multipart/alternative; text
  parts outside alternatives are concatenated in order; HTML goes through ``html_to_text``.
  Only if the message has no text of its own is an inline forwarded message's text used
  (message/rfc822 without a filename), and failing that a bare delivery report's fields.
* Attachments: parts with a filename or ``Content-Disposition: attachment``, plus unnamed
  parts that are not text/plain or text/html (images, application/*, text/calendar...).
  message/rfc822 counts only when named or disposed as attachment (kept as ``.eml`` bytes);
  report metadata and message/external-body pointers never count. Only the outer message's
  parts are attachments: a bounce's returned original is not the sender's attachment.
* ``is_automatic``: Auto-Submitted other than "no"; X-Autoreply, X-Autorespond or
  X-Auto-Response-Suppress; Precedence bulk, junk or auto_reply; multipart/report (DSN, MDN,
  ARF) or a delivery-status / disposition-notification / feedback-report part; a
  MAILER-DAEMON or postmaster sender, or a mailing list's own address (owner-*, *-request,
  *-bounces, listserv, majordomo, mailman); an empty Return-Path ``<>``; failing all of these
  (and without "Auto-Submitted: no"), an auto-responder's subject ("Out of Office",
  "Automatic reply:", "Auto:", "Autoreply", "Abwesenheitsnotiz", "Réponse automatique").
  ``Precedence: list`` is NOT automatic on purpose: shared inboxes such as Google Groups add
  it (and List-Id) to genuine customer replies, which may still join their complaint.
* ``is_list_mail`` (``list_reason`` says why): ``Precedence: list``, ``bulk`` or ``junk``, or a
  ``List-Id`` or ``List-Unsubscribe`` header: it came through a list or a mass mailer, which
  no automatic answer may go to (RFC 3834), and it opens no complaint of its own (ingestion
  adds it only to a complaint it threads onto).
* ``reply_text``: see ``split_quoted_reply``; ``reply_was_cut`` says whether anything was cut
  (ingestion then keeps the whole text for staff).
* ``fingerprint``: the Message-ID if present, else ``"sha256:" + sha256(raw bytes)``. A few
  broken mailers reuse Message-IDs, so a repeat is a duplicate only when ``content_digest``
  matches too.
* ``content_digest(raw)``: what stays the same when one message is delivered twice (From, To,
  Cc, Date, Subject and the body) and differs between two messages that share a Message-ID.
* Header values over 16 KB are cut at a space before decoding (the header parser needs ~4 s/MB).
"""

from __future__ import annotations

import binascii
import codecs
import contextlib
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.errors import InvalidBase64LengthDefect
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from common.text import single_line
from notifications.html_to_text import html_to_text

REFERENCE_PATTERN = r"RDR-\d{4}-\d{6}"

_EMBEDDED_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global", "message/news"})
_REPORT_PART_TYPES = frozenset(
    {"message/delivery-status", "message/disposition-notification", "message/feedback-report"}
)
_REPORT_METADATA_TYPES = _REPORT_PART_TYPES | {"text/rfc822-headers", "message/rfc822-headers"}
_AUTOMATIC_PRECEDENCE = frozenset({"bulk", "junk", "auto_reply"})
# The subjects auto-responders give their replies (Outlook/Exchange in English, German and
# French, Lotus Notes' "Auto:", generic "Autoreply"): the marker opens the subject and is
# followed by a colon or nothing else, so "Out of office hours support was rude" (a person's
# subject) does not match while "Automatic reply: Your complaint" does.
_AUTO_REPLY_SUBJECT = re.compile(
    r"\s*((?:out of (?:the )?office|automatic reply|auto[- ]?reply|auto|abwesenheitsnotiz"
    r"|r[ée]ponse automatique)(?:\s+auto[- ]?reply)?)\s*(?::|$)",
    re.IGNORECASE,
)
_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster"})
# Mailing-list software's own addresses (RFC 3834 section 2 names owner-*, *-request and
# list servers): a digest or a command result from one opened a complaint, and its receipt,
# sent to the list's robot, could start a mail loop with it.
_LIST_ROBOT_LOCAL_PARTS = frozenset({"listserv", "majordomo", "mailman"})
# Not "-owner" or "-admin": a shop owner or an office admin may well complain.
_LIST_ROBOT_PATTERN = re.compile(r"owner-.+|.+-(request|bounces?)")
_MAX_HEADER_CHARS = 16 * 1024
# Labels that mean a wider codec in practice (WHATWG Encoding Standard): mail labelled latin-1
# is nearly always cp1252, and gb2312 is routinely sent as gbk/gb18030.
_CHARSET_SUPERSETS = {"iso8859-1": "cp1252", "gb2312": "gb18030", "gbk": "gb18030"}
_EXTENSIONS = {
    "text/plain": ".txt", "text/html": ".html", "message/rfc822": ".eml", "message/global": ".eml",
    "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "application/pdf": ".pdf",
}  # fmt: skip
_SURROGATES = re.compile("[\udc80-\udcff]")


class UnparseableEmail(Exception):
    """The bytes cannot be turned into a usable message; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class SkippedAttachment:
    filename: str
    content_type: str
    size: int | None  # None when the part could not be decoded at all
    reason: str


@dataclass(frozen=True)
class AuthenticationResults:
    """One ``Authentication-Results`` header (RFC 8601): who checked, and what they found.

    Anyone can write such a header into a message: it says something only when its
    ``authserv_id`` is that of a server we trust (``notifications.ingest`` decides).
    """

    authserv_id: str  # "" when the header names none (a malformed one)
    results: tuple[tuple[str, str], ...]  # (method, result), lower case, in header order

    def result(self, method: str) -> str | None:
        """The result of ``method`` ("spf", "dkim", "dmarc"); a pass wins among several (one
        valid DKIM signature authenticates the message, whatever the others say)."""
        found = [result for name, result in self.results if name == method]
        if not found:
            return None
        return "pass" if "pass" in found else found[0]


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    from_name: str
    from_address: str | None
    to_addresses: tuple[str, ...]
    date: datetime | None
    text: str
    reply_text: str
    attachments: tuple[Attachment, ...]
    skipped_attachments: tuple[SkippedAttachment, ...]
    is_automatic: bool
    automatic_reason: str | None
    defects: tuple[str, ...]
    charset_fallbacks: tuple[str, ...]
    raw_sha256: str
    # Every Authentication-Results header, the topmost (the last server's) first.
    authentication_results: tuple[AuthenticationResults, ...] = ()
    list_reason: str | None = None  # why it is list mail (see the module docstring), or None

    @property
    def is_list_mail(self) -> bool:
        return self.list_reason is not None

    @property
    def reply_was_cut(self) -> bool:
        """Whether quoted history was cut from ``text`` to make ``reply_text``."""
        return self.reply_text != self.text.strip()

    @property
    def fingerprint(self) -> str:
        """Stable identity for idempotent ingestion (see module docstring)."""
        return self.message_id or f"sha256:{self.raw_sha256}"

    def references_all(self) -> tuple[str, ...]:
        """In-Reply-To then References, deduplicated: every id worth trying for threading."""
        return tuple(dict.fromkeys(filter(None, (self.in_reply_to, *self.references))))


# Headers that say what a message is; trace headers (Received, Delivered-To, X-...) differ
# between two deliveries of one message, so they stay out of the digest.
_DIGEST_HEADERS = ("from", "to", "cc", "date", "subject")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def content_digest(raw: bytes) -> str:
    """``"sha256:"`` + a digest of the message's identity headers and body (see docstring).

    Works on any bytes (no parsing that can fail): header lines are unfolded and their
    whitespace collapsed, body lines lose CRs and trailing whitespace, which relays change.
    """
    raw = bytes(raw)
    match = _HEADER_END.search(raw)
    head, body = (raw[: match.start()], raw[match.end() :]) if match else (raw, b"")
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head)
    identity = []
    for line in unfolded.splitlines():
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower().decode("ascii", "replace") in _DIGEST_HEADERS:
            identity.append(name.strip().lower() + b":" + b" ".join(value.split()))
    lines = [line.rstrip() for line in body.replace(b"\r\n", b"\n").split(b"\n")]
    digest = hashlib.sha256(b"\n".join(sorted(identity)))
    digest.update(b"\n\n" + b"\n".join(lines).rstrip(b"\n"))
    return f"sha256:{digest.hexdigest()}"


def extract_reference(subject: str, pattern: str = REFERENCE_PATTERN) -> str | None:
    """Find a complaint reference such as "RDR-2026-000123" in ``subject`` (upper-cased)."""
    match = re.search(pattern, subject or "", re.IGNORECASE)
    return match.group(0).upper() if match else None


def parse_message(
    raw: bytes, *, max_attachment_bytes: int = 10 * 1024 * 1024, max_attachments: int = 20
) -> ParsedEmail:
    """Parse one raw RFC 822 message (rules in the module docstring).

    Raises ``UnparseableEmail`` (and nothing else) when the bytes are not a usable message.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise UnparseableEmail(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        raise UnparseableEmail("empty message")
    try:
        return _Parser(raw, max_attachment_bytes, max_attachments).parse()
    except UnparseableEmail:
        raise
    except Exception as exc:
        # Last resort: the email package has had crash bugs on hostile input (RecursionError on
        # deep nesting, IndexError in the header parser); callers handle one exception type.
        raise UnparseableEmail(f"email package failed: {type(exc).__name__}: {exc}") from exc


# --- authentication results --------------------------------------------------------------

_COMMENT_OR_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\((?:[^()\\]|\\.)*\)')
_RESINFO = re.compile(r"([a-z0-9_-]+)(?:/\d+)?\s*=\s*([a-z0-9_-]+)", re.IGNORECASE)


def parse_authentication_results(value: str) -> AuthenticationResults:
    """Parse one header value: ``authserv-id [version]; method=result props; ...``.

    Comments (nested, as RFC 5322 allows) go first; quoted strings are kept, as a ``;``
    inside one is not a separator. What cannot be read is left out, never guessed.
    """
    text = value
    for _ in range(10):  # a comment inside a comment: peel one level each round
        stripped = _COMMENT_OR_QUOTED.sub(
            lambda m: m.group(0) if m.group(0).startswith('"') else " ", text
        )
        if stripped == text:
            break
        text = stripped
    pieces = [piece.strip() for piece in _split_outside_quotes(text)]
    authserv_id = ""
    if pieces and "=" not in pieces[0]:
        authserv_id = pieces.pop(0).split()[0] if pieces[0].split() else ""
    results = []
    for piece in pieces:
        match = _RESINFO.match(piece)
        if match:
            results.append((match.group(1).lower(), match.group(2).lower()))
    return AuthenticationResults(authserv_id=authserv_id.lower(), results=tuple(results))


def _split_outside_quotes(text: str) -> list[str]:
    pieces, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return pieces


# --- reply stripping ---------------------------------------------------------------------

_ATTRIBUTION_LINES = [
    # Every client puts a date in the attribution; requiring a digit avoids matching prose such
    # as "On Monday I called. The agent wrote:".
    re.compile(r"On\s(?=.*\d).{1,300}\swrote:", re.IGNORECASE),  # Gmail, Apple, Thunderbird
    re.compile(r"Dne\s(?=.*\d).{1,300}\snapsal(?:a|\(a\))?:", re.IGNORECASE),  # Czech
    re.compile(r"Am\s(?=.*\d).{1,300}\sschrieb\s.{1,300}:", re.IGNORECASE),  # German
]
# What a mail client writes into an attribution and a person rarely does: a time of day or
# an address. Only such an attribution cuts when no ">" quote follows it (HTML mail turned
# into text loses its quote marks); "On 3 March the agent wrote:" followed by the
# customer's own words is prose.
_CLIENT_ATTRIBUTION = re.compile(r"\d{1,2}:\d{2}|[^\s<>]+@[^\s<>]+")
_ORIGINAL_MESSAGE_LINE = re.compile(
    r"-{2,}\s*(?:original message|původní zpráva|ursprüngliche nachricht)\s*-{2,}",
    re.IGNORECASE,
)
_FORWARD_LINE = re.compile(
    r"-{2,}\s*(?:forwarded message|přeposlaná zpráva|weitergeleitete nachricht)\s*-{2,}"
    r"|begin forwarded message:",
    re.IGNORECASE,
)
_UNDERSCORE_LINE = re.compile(r"_{20,}")
_HEADER_BLOCK_FROM = re.compile(r"\*?(?:from|von|od):\*?\s", re.IGNORECASE)
_HEADER_BLOCK_SENT = re.compile(r"\*?(?:sent|date|gesendet|datum|odesláno):\*?\s", re.IGNORECASE)
_HEADER_BLOCK_ANY = re.compile(
    r"\*?(?:from|von|od|sent|date|gesendet|datum|odesláno|to|an|komu|cc|kopie|subject|betreff"
    r"|předmět):\*?\s",
    re.IGNORECASE,
)
_NAMED_ATTRIBUTION = re.compile(r".{1,200}\s(?:wrote|napsal(?:a|\(a\))?|schrieb):", re.IGNORECASE)


@dataclass(frozen=True)
class ReplySplit:
    """A reply's new text, and whether quoted history was cut from it to get there."""

    reply: str
    cut: bool


def _next_filled(lines: list[str], index: int) -> int:
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index


def _is_header_block(lines: list[str], index: int) -> bool:
    """An Outlook-style quoted header block starts here: "From:" then "Sent:"/"Date:" among
    the next header lines (only header lines count: a "Date:" in prose below is not one)."""
    if index >= len(lines) or not _HEADER_BLOCK_FROM.match(lines[index].strip()):
        return False
    for line in lines[index + 1 : index + 5]:
        if _HEADER_BLOCK_SENT.match(line.strip()):
            return True
        if not _HEADER_BLOCK_ANY.match(line.strip()):
            return False
    return False


def _quote_header(lines: list[str], index: int) -> tuple[int, str] | None:
    """(lines the header spans, kind) if a quote header starts at ``index``, else None.

    kind: "cut" when the quoted message really follows it (history that runs to the end),
    "quote" when ">" lines follow (they are judged with the rest), "forward" for a forward
    separator (dropped only when there is new text above it).
    """
    line = lines[index].strip()
    after = _next_filled(lines, index + 1)
    quoted_next = after < len(lines) and lines[after].lstrip().startswith(">")
    if _ORIGINAL_MESSAGE_LINE.fullmatch(line):
        # Only a real header block, or a quote, after it: "-----Original Message-----" then
        # the customer's own words is not history.
        if quoted_next:
            return 1, "quote"
        return (1, "cut") if _is_header_block(lines, after) else None
    if _FORWARD_LINE.fullmatch(line):
        return (1, "quote") if quoted_next else (1, "forward")
    if _UNDERSCORE_LINE.fullmatch(line):
        # Outlook's separator is directly followed by its From: line; elsewhere a row of
        # underscores is a rule in the customer's text (a table separator).
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        return (1, "cut") if _HEADER_BLOCK_FROM.match(following) else None
    if _is_header_block(lines, index):
        return 1, "cut"
    for span in (1, 2, 3):  # clients wrap long attributions onto two or three lines
        joined = " ".join(part.strip() for part in lines[index : index + span])
        if any(pattern.fullmatch(joined) for pattern in _ATTRIBUTION_LINES):
            after = _next_filled(lines, index + span)
            if after == len(lines):
                return span, "cut"
            if lines[after].lstrip().startswith(">"):
                return span, "quote"
            return (span, "cut") if _CLIENT_ATTRIBUTION.search(joined) else None
    # "Jane wrote:" has no date, so it only counts before a ">" quote.
    if _NAMED_ATTRIBUTION.fullmatch(line) and quoted_next:
        return 1, "quote"
    return None


def split_quoted_reply(text: str) -> ReplySplit:
    """The new part of a reply, cutting only quoted history that is certainly history.

    1. The first quote header that is really followed by the quoted message ("On <date>,
       <name> wrote:" or its Czech/German form followed by ">" lines, by nothing, or -- when
       it carries a time or an address, as clients write them -- by unquoted history;
       "-----Original Message-----" followed by a quote or an Outlook header block; an
       Outlook "From:"/"Sent:" block; a row of underscores directly followed by "From:")
       ends the reply: it and everything after it are history.
    2. In what is left, ">" lines with their attribution are cut only when they are one
       block at the top or at the bottom (top- or bottom-posting). When they are
       interleaved with the customer's own lines, the customer answered inline and the
       questions give the answers their meaning: everything is kept.
    3. A forward separator with text above it ends the reply too; a pure forward, or a
       message with no new text at all, is kept whole (its content is the complaint).
    Signatures are kept. ``cut`` says whether anything was dropped.
    """
    lines = text.split("\n")
    end = len(lines)
    quote_rows: set[int] = set()  # attribution lines that introduce a ">" quote
    index = 0
    while index < len(lines):
        found = _quote_header(lines, index)
        if found is not None:
            span, kind = found
            if kind == "cut" or (kind == "forward" and "\n".join(lines[:index]).strip()):
                end = index
                break
            if kind == "quote":
                quote_rows.update(range(index, index + span))
                index += span
                continue
        index += 1
    body = lines[:end]

    def quoted(i: int) -> bool:
        return i in quote_rows or body[i].lstrip().startswith(">")

    own = [i for i, line in enumerate(body) if line.strip() and not quoted(i)]
    quoted_rows = [i for i, line in enumerate(body) if line.strip() and quoted(i)]
    if quoted_rows and own:
        # One block above or one below the customer's lines is top- or bottom-posting;
        # anything else (between their lines, or both above and below) is inline answering.
        one_block = quoted_rows[-1] < own[0] or quoted_rows[0] > own[-1]
        if one_block:
            body = [line for i, line in enumerate(body) if not quoted(i)]
    reply = "\n".join(body).strip()
    if not reply:
        return ReplySplit(text.strip(), False)
    return ReplySplit(reply, reply != text.strip())


def strip_quoted_reply(text: str) -> str:
    """The new part of a reply (``split_quoted_reply``'s rules)."""
    return split_quoted_reply(text).reply


# --- decoding helpers --------------------------------------------------------------------


def _scrub(text: str) -> str:
    """Drop surrogate escapes (raw bytes smuggled through str) and NULs (PostgreSQL rejects them)."""
    if _SURROGATES.search(text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text.replace("\x00", "")


def _codec_name(label: str | None) -> str | None:
    try:
        return codecs.lookup(label.strip().strip('"')).name if label else None
    except (LookupError, ValueError):
        return None


def _decode_bytes(data: bytes, declared: str | None, hints=()) -> tuple[str, str | None]:
    """Decode ``data``; returns (text, note) where note describes any fallback that was needed."""
    codec = _codec_name(declared)
    if codec or not declared:
        preferred = codec or "ascii"  # RFC 2045: no charset parameter means US-ASCII
        for name in dict.fromkeys((_CHARSET_SUPERSETS.get(preferred, preferred), preferred)):
            with contextlib.suppress(UnicodeDecodeError):
                return data.decode(name), None
        if codec and codec != "ascii":
            # A real charset with a few bad bytes: stay with it and lose only those bytes.
            return data.decode(codec, "replace"), f"invalid {declared} bytes replaced"
    problem = f"unknown charset {declared!r}" if declared else "no charset declared"
    if codec:
        problem = f"8-bit bytes in a {declared} part"
    with contextlib.suppress(UnicodeDecodeError):
        return data.decode("utf-8"), f"{problem}; decoded as utf-8"
    # UTF-8 with a few broken sequences (typically a name truncated mid-character) is still
    # UTF-8, whereas text in another charset breaks on most of its non-ASCII bytes.
    lenient = data.decode("utf-8", "replace")
    invalid = lenient.count("\ufffd") - data.count("\ufffd".encode())
    if invalid * 20 <= sum(byte > 0x7F for byte in data):
        return lenient, f"{problem}; decoded as utf-8, {invalid} invalid sequence(s) replaced"
    # Then the charsets the message declares elsewhere, then cp1252; latin-1 never fails.
    hinted = (_CHARSET_SUPERSETS.get(c, c) for c in map(_codec_name, hints) if c)
    for name in dict.fromkeys((*hinted, "cp1252")):
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode(name), f"{problem}; decoded as {name}"
    return data.decode("latin-1"), f"{problem}; decoded as latin-1"


def _payload_bytes(part: Message) -> bytes:
    known_defects = len(part.defects)
    data = part.get_payload(decode=True)
    if any(isinstance(d, InvalidBase64LengthDefect) for d in part.defects[known_defects:]):
        # The stdlib then returns the still-encoded text; decode every complete 4-char group
        # instead (a dangling single character carries less than one byte anyway).
        encoded = re.sub(r"[^A-Za-z0-9+/]", "", str(part.get_payload())).encode("ascii")
        data = binascii.a2b_base64(encoded[: len(encoded) // 4 * 4])
    return data or b""


def _safe_filename(raw_name: str | None, content_type: str, number: int) -> str:
    """A display/storage-safe name: no directories, controls or leading dots; never empty."""
    name = re.split(r"[\\/]", _scrub(raw_name or ""))[-1]  # "C:\\x\\a.exe", "../../etc/passwd"
    name = " ".join("".join(ch for ch in name if ch.isprintable()).split()).lstrip(". ")
    if len(name) > 150:
        stem, dot, extension = name.rpartition(".")
        extension = extension[:16] if dot else ""
        name = f"{(stem if dot else name)[: 150 - len(extension) - 1]}{dot}{extension}"
    return name or f"attachment-{number}{_EXTENSIONS.get(content_type, '.bin')}"


class _Parser:
    def __init__(self, raw: bytes, max_attachment_bytes: int, max_attachments: int) -> None:
        self.raw = raw
        self.max_attachment_bytes = max_attachment_bytes
        self.max_attachments = max_attachments
        self.defects: list[str] = []
        self.fallbacks: list[str] = []
        self._content_types: dict[int, tuple[str, str | None]] = {}
        self.msg = BytesParser(policy=policy.default).parsebytes(raw)
        # Raw 8-bit header bytes are usually in the charset the sender used for the body.
        charsets = (self.content_type(part)[1] for part in self.msg.walk())
        self.charset_hints = tuple(dict.fromkeys(filter(None, charsets)))

    def content_type(self, part: Message) -> tuple[str, str | None]:
        """(content type, declared charset), cached: the email package re-parses on every call."""
        key = id(part)  # parts live as long as self.msg, so ids are stable
        if key not in self._content_types:
            try:  # a mangled RFC 2231 charset parameter is not worth losing the part over
                charset = part.get_content_charset()
            except Exception:
                charset = None
            self._content_types[key] = (part.get_content_type(), charset)
        return self._content_types[key]

    def leaves(
        self, part: Message, alternative: int | None = None
    ) -> Iterator[tuple[Message, int | None]]:
        """Yield (leaf, id of nearest multipart/alternative ancestor); message/* parts are leaves."""
        maintype, _, subtype = self.content_type(part)[0].partition("/")
        if maintype == "multipart" and part.is_multipart():
            group = id(part) if subtype == "alternative" else alternative
            for sub in part.get_payload():
                yield from self.leaves(sub, group)
        else:
            yield part, alternative

    # headers ------------------------------------------------------------------------------

    def header_text(self, name: str, part: Message | None = None) -> str | None:
        """The first such header, unfolded, raw 8-bit bytes decoded; RFC 2047 still encoded."""
        items = (self.msg if part is None else part).raw_items()
        raw = next((str(v) for k, v in items if k.lower() == name.lower()), None)
        if raw is None:
            return None
        value = "".join(raw.splitlines())
        if len(value) > _MAX_HEADER_CHARS:
            value = value[:_MAX_HEADER_CHARS].rpartition(" ")[0] or value[:_MAX_HEADER_CHARS]
        if _SURROGATES.search(value):
            value, note = _decode_bytes(
                value.encode("utf-8", "surrogateescape"), None, self.charset_hints
            )
            self.fallbacks.append(f"header {name}: raw 8-bit bytes, {note}")
        return value

    def header(self, name: str, part: Message | None = None) -> object | None:
        """The policy's parsed header object (RFC 2047 decoded), or the cleaned str if it fails."""
        value = self.header_text(name, part)
        if value is None:
            return None
        try:
            parsed = policy.default.header_factory(name, value)
        except Exception:  # HeaderParseError and the odd IndexError on malformed input
            self.defects.append("HeaderParseError")
            return value
        self.defects.extend(type(defect).__name__ for defect in parsed.defects)
        return parsed

    def subject(self) -> str:
        parsed = self.header("Subject")
        text = str(parsed or "")
        if isinstance(parsed, str):  # the header parser gave up: decode encoded words leniently
            with contextlib.suppress(Exception):
                text = str(make_header(decode_header(parsed)))
        return " ".join(single_line(_scrub(text)).split())

    def addresses(self, name: str) -> list[tuple[str, str]]:
        parsed = self.header(name)
        if parsed is None:
            return []
        pairs: list[tuple[str, str]] = []
        try:
            pairs = [(a.display_name or "", a.addr_spec or "") for a in parsed.addresses]
        except Exception:
            self.defects.append("HeaderParseError")
        # getaddresses() is more lenient, and reads "addr (Name)" comments as the name.
        lenient = getaddresses([str(parsed)])
        if not any(addr for _, addr in pairs):
            pairs = lenient
        elif lenient and not pairs[0][0]:
            pairs[0] = (lenient[0][0], pairs[0][1])
        # A display name ("=?utf-8?q?Eve=0D=0ABcc:...?=") may decode to line breaks: folded to
        # spaces (the sender cannot be asked to retype it), as the forms would refuse them.
        return [(" ".join(single_line(_scrub(n)).split()), _scrub(a).strip()) for n, a in pairs]

    def message_ids(self, name: str) -> tuple[str, ...]:
        """Ids without angle brackets; bare ids are accepted because some mailers omit them."""
        value = _scrub(self.header_text(name) or "")
        found = re.findall(r"<([^<>]+)>", value) or value.split()
        ids = ("".join(item.split()).strip("<>") for item in found)
        return tuple(dict.fromkeys(i for i in ids if i))

    def authentication_results(self) -> tuple[AuthenticationResults, ...]:
        values = [
            _scrub(" ".join(str(value).split()))
            for name, value in self.msg.raw_items()
            if name.lower() == "authentication-results"
        ]
        return tuple(parse_authentication_results(value[:_MAX_HEADER_CHARS]) for value in values)

    def date(self) -> datetime | None:
        value = self.header_text("Date")
        try:
            parsed = parsedate_to_datetime(value) if value else None
        except (TypeError, ValueError, IndexError, OverflowError):
            self.defects.append("InvalidDateDefect")
            return None
        # RFC 5322: "-0000" (parsed as naive) means UTC with the sender's zone unknown.
        return parsed.replace(tzinfo=UTC) if parsed and parsed.tzinfo is None else parsed

    # body -------------------------------------------------------------------------------------

    def part_text(self, part: Message) -> str:
        data = _payload_bytes(part)
        content_type, charset = self.content_type(part)
        text, note = _decode_bytes(data, charset, self.charset_hints)
        if note:
            self.fallbacks.append(f"{content_type} part: {note}")
        return _scrub(text).replace("\r\n", "\n").replace("\r", "\n")

    def filename(self, part: Message) -> str | None:
        for header, param in (("Content-Disposition", "filename"), ("Content-Type", "name")):
            # .params decodes RFC 2231 and the invalid-but-common RFC 2047 "=?...?=" names.
            if value := getattr(self.header(header, part), "params", {}).get(param):
                return value
        return None

    def classify(self, part: Message, filename: str | None) -> str:
        content_type = self.content_type(part)[0]
        maintype = content_type.partition("/")[0]
        attached = filename is not None or part.get_content_disposition() == "attachment"
        if content_type in _EMBEDDED_MESSAGE_TYPES:
            return "attachment" if attached else "embedded"
        if content_type in _REPORT_METADATA_TYPES:
            return "report"
        if maintype == "message":
            return "ignore"  # external-body pointers, partials: there is no content to keep
        if attached:
            return "attachment"
        if content_type == "text/html":
            return "html"
        # A multipart leaf is a multipart whose boundary never appeared: its raw text is the body.
        if content_type == "text/plain" or maintype == "multipart":
            return "plain"
        return "attachment"

    def body_text(
        self, message: Message, depth: int = 0
    ) -> tuple[str, list[tuple[Message, str | None]]]:
        """Return (body text, attachment candidates as (part, raw filename))."""
        groups: dict[object, dict[str, list[Message]]] = {}
        by_kind: dict[str, list[Message]] = {"embedded": [], "report": []}
        candidates: list[tuple[Message, str | None]] = []
        for index, (part, alternative) in enumerate(self.leaves(message)):
            filename = self.filename(part)
            kind = self.classify(part, filename)
            if kind in ("plain", "html"):
                group = groups.setdefault(alternative or ("leaf", index), {"plain": [], "html": []})
                group[kind].append(part)
            elif kind == "attachment":
                candidates.append((part, filename))
            elif kind in by_kind:
                by_kind[kind].append(part)
        chunks = []
        for group in groups.values():
            texts = [self.part_text(part) for part in group["plain"]]
            if not any(t.strip() for t in texts):
                texts = [html_to_text(self.part_text(part)) for part in group["html"]]
            chunks.extend(t.strip("\n") for t in texts if t.strip())
        if not chunks and depth < 3:  # e.g. a top-level message/rfc822 forward
            for part in by_kind["embedded"]:
                payload = part.get_payload()
                if isinstance(payload, list) and payload:
                    chunks.append(self.body_text(payload[0], depth + 1)[0])
        if not any(chunks):  # a bare delivery report: its fields are the only content there is
            chunks = [self.report_text(part) for part in by_kind["report"]]
        return "\n\n".join(filter(None, chunks)).strip(), candidates

    def report_text(self, part: Message) -> str:
        payload = part.get_payload()
        if not isinstance(payload, list):
            return self.part_text(part).strip()
        blocks = ("\n".join(f"{k}: {_scrub(str(v))}" for k, v in b.raw_items()) for b in payload)
        return "\n\n".join(filter(None, blocks))

    def attachments(self, candidates: list[tuple[Message, str | None]]):
        kept: list[Attachment] = []
        skipped: list[SkippedAttachment] = []
        for number, (part, raw_name) in enumerate(candidates, start=1):
            content_type = self.content_type(part)[0]
            name = _safe_filename(raw_name, content_type, number)
            try:
                if content_type in _EMBEDDED_MESSAGE_TYPES and isinstance(part.get_payload(), list):
                    content = part.get_payload(0).as_bytes()
                else:
                    content = _payload_bytes(part)
            except Exception as exc:
                skipped.append(SkippedAttachment(name, content_type, None, f"undecodable: {exc}"))
                continue
            if len(content) > self.max_attachment_bytes:
                reason = f"larger than the {self.max_attachment_bytes}-byte limit"
            elif len(kept) >= self.max_attachments:
                reason = f"more than {self.max_attachments} attachments"
            else:
                kept.append(Attachment(name, content_type, len(content), content))
                continue
            skipped.append(SkippedAttachment(name, content_type, len(content), reason))
        return tuple(kept), tuple(skipped)

    # automatic mail -----------------------------------------------------------------------

    def automatic_reason(self, sender: str) -> str | None:
        def value(name: str) -> str:
            return " ".join((self.header_text(name) or "").lower().split())

        auto_submitted = value("Auto-Submitted").split(";")[0].strip()
        if auto_submitted and auto_submitted != "no":
            return f"Auto-Submitted: {auto_submitted}"
        for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"):
            if self.header_text(name) is not None and value(name) not in ("no", "false", "0"):
                return f"{name} header present"
        if value("Precedence") in _AUTOMATIC_PRECEDENCE:
            return f"Precedence: {value('Precedence')}"
        if self.content_type(self.msg)[0] == "multipart/report":
            return f"multipart/report (report-type={self.msg.get_param('report-type')})"
        for part, _ in self.leaves(self.msg):
            if (content_type := self.content_type(part)[0]) in _REPORT_PART_TYPES:
                return f"{content_type} part"
        local_part = sender.rpartition("@")[0] if "@" in sender else sender
        if local_part.lower() in _DAEMON_LOCAL_PARTS:
            return f"sender is {local_part.upper()}"
        if local_part.lower() in _LIST_ROBOT_LOCAL_PARTS or _LIST_ROBOT_PATTERN.fullmatch(
            local_part.lower()
        ):
            return f"sender is a mailing list's own address ({local_part.lower()}, RFC 3834)"
        if re.fullmatch(r"<\s*>", value("Return-Path")):
            return "empty Return-Path (null sender)"
        # Last, and only without an explicit "Auto-Submitted: no": many out-of-office
        # replies (Outlook's among them, sent through some gateways) carry no header that
        # says so, only their subject.
        if auto_submitted != "no" and (found := _AUTO_REPLY_SUBJECT.match(self.subject())):
            return f"auto-reply subject ({found.group(1).strip()!r})"
        return None

    def list_reason(self) -> str | None:
        if self._through_our_own_group():
            return None
        precedence = " ".join((self.header_text("Precedence") or "").lower().split())
        if precedence in ("list", "bulk", "junk"):
            return f"Precedence: {precedence}"
        for name in ("List-Id", "List-Unsubscribe"):
            if self.header_text(name) is not None:
                return f"{name} header present"
        return None

    def _through_our_own_group(self) -> bool:
        """Whether the List-Id is our own inbox's (REDRESS_INBOUND_OWN_LIST_IDS)."""
        from django.conf import settings

        own = {entry.strip().lower() for entry in settings.REDRESS_INBOUND_OWN_LIST_IDS}
        found = re.search(r"<([^<>]+)>\s*$", self.header_text("List-Id") or "")
        list_id = (found.group(1) if found else self.header_text("List-Id") or "").strip()
        return bool(own) and list_id.lower() in own

    # assembly -----------------------------------------------------------------------------

    def parse(self) -> ParsedEmail:
        if not any(name.strip() for name in self.msg):
            raise UnparseableEmail("no header lines found: not an RFC 822 message")
        senders = self.addresses("From")
        from_name, sender = senders[0] if senders else ("", "")
        from_address = sender.lower() if re.fullmatch(r"[^@\s]+@[^@\s]+", sender) else None
        text, candidates = self.body_text(self.msg)
        attachments, skipped = self.attachments(candidates)
        if from_address is None and not text and not attachments and not skipped:
            has_from = self.header_text("From") is not None
            raise UnparseableEmail(
                f"{'no usable From address' if has_from else 'no From header'} and no body"
            )
        automatic_reason = self.automatic_reason(sender)
        for part in self.msg.walk():  # after decoding, which records base64 defects on parts
            self.defects.extend(type(defect).__name__ for defect in part.defects)
        to_addresses = (addr.lower() for _, addr in self.addresses("To") if "@" in addr)
        return ParsedEmail(
            message_id=next(iter(self.message_ids("Message-ID")), None),
            in_reply_to=next(iter(self.message_ids("In-Reply-To")), None),
            references=self.message_ids("References"),
            subject=self.subject(),
            from_name=from_name,
            from_address=from_address,
            to_addresses=tuple(dict.fromkeys(to_addresses)),
            date=self.date(),
            text=text,
            reply_text=strip_quoted_reply(text),
            attachments=attachments,
            skipped_attachments=skipped,
            is_automatic=automatic_reason is not None,
            automatic_reason=automatic_reason,
            defects=tuple(dict.fromkeys(self.defects)),
            charset_fallbacks=tuple(dict.fromkeys(self.fallbacks)),
            raw_sha256=hashlib.sha256(self.raw).hexdigest(),
            authentication_results=self.authentication_results(),
            list_reason=self.list_reason(),
        )
