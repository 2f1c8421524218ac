"""Read a bounce: which of our emails it returns, to whom, and why it was not delivered.

Pure standard library, like ``inbound_parsing``. ``parse_bounce`` raises nothing: a bounce
it cannot read is None, and the message is then treated as any other automatic mail.

What counts as a bounce:

1. A delivery status notification (RFC 3464): ``multipart/report`` with
   ``report-type=delivery-status``, or any ``message/delivery-status`` part. Its per-recipient
   fields give the recipient, the action, the status code and the diagnostic.
2. The common non-standard bounces: with ``X-Failed-Recipients`` (Gmail, Exim), or from
   ``MAILER-DAEMON``/``postmaster`` and quoting the returned email's Message-ID; the status
   and the server's answer are read from the text.

Read receipts (MDNs) and spam reports (ARF) are reports too, but not bounces: None.

The returned email is named by its Message-ID, found in the returned message
(``message/rfc822``), the returned headers (``text/rfc822-headers``), or failing both a
``Message-ID:`` line in the text (bounces that quote the original as text). A bounce that
names none is still a bounce (``original_message_ids`` empty): the caller ignores it.

Permanent or transient: by the status class (RFC 3463: 5.x.x permanent, 4.x.x transient);
without a status code, by the action ("delayed" is transient), else permanent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser, HeaderParser

# A diagnostic is a server's sentence; longer than this it is a pasted transcript.
DIAGNOSTIC_MAX_CHARS = 500
_EMBEDDED_TYPES = frozenset({"message/rfc822", "message/global"})
_HEADER_TYPES = frozenset({"text/rfc822-headers", "message/rfc822-headers"})
_DAEMONS = frozenset({"mailer-daemon", "postmaster"})
_STATUS_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_MESSAGE_ID_LINE = re.compile(r"^\s*Message-ID:\s*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE)
# "550 5.1.1 ...", "552-5.2.2 ...", or "550 Recipient rejected": an SMTP reply in the text.
_SMTP_REPLY = re.compile(r"^\s*([45]\d\d[ -].{3,})$", re.MULTILINE)


@dataclass(frozen=True)
class Bounce:
    original_message_ids: tuple[str, ...]  # without angle brackets, as found
    recipient: str
    action: str  # "failed", "delayed", ... ("failed" when a non-standard bounce says none)
    status: str  # "5.1.1", or "" when the bounce gives no code
    diagnostic: str  # the remote server's answer, or ""

    @property
    def permanent(self) -> bool:
        if self.status:
            return self.status.startswith("5")
        return self.action != "delayed"

    @property
    def is_failure(self) -> bool:
        """Delivered, relayed and expanded notices say the email went on: not failures."""
        return self.action in ("failed", "delayed")

    @property
    def summary(self) -> str:
        """ "550 5.1.1 user unknown"-style: what staff need to see beside the message."""
        return self.diagnostic or self.status or self.action


def parse_bounce(raw: bytes) -> Bounce | None:
    """The bounce ``raw`` is, or None (see the module docstring)."""
    try:
        message = BytesParser(policy=policy.compat32).parsebytes(bytes(raw))
        return _read(message)
    except Exception:  # hostile MIME; the caller stores the message as automatic mail
        return None


def _read(message: Message) -> Bounce | None:
    parts = list(message.walk())
    types = [part.get_content_type() for part in parts]
    if any(t in ("message/disposition-notification", "message/feedback-report") for t in types):
        return None
    status_parts = [
        part for part, t in zip(parts, types, strict=True) if t == "message/delivery-status"
    ]
    is_report = (
        message.get_content_type() == "multipart/report"
        and (message.get_param("report-type") or "").lower() == "delivery-status"
    )
    sender = str(message.get("From", ""))
    local_part = re.split(r"[@\s<>()\"]+", sender.lower())
    from_daemon = any(word in _DAEMONS for word in local_part)
    failed_recipients = " ".join(str(message.get("X-Failed-Recipients", "")).split())
    if not (status_parts or is_report or from_daemon or failed_recipients):
        return None
    text = _text_of(message)
    ids = _returned_ids(message, parts, types, text)
    if not (status_parts or is_report or failed_recipients or ids):
        return None  # mail from a postmaster address that returns nothing: not a bounce
    if status_parts:
        recipient, action, status, diagnostic = _status_fields(status_parts)
    else:
        recipient, action, status, diagnostic = "", "", "", ""
    if not status:
        status = _first_status_code(text)
    if not diagnostic:
        diagnostic = _smtp_reply(text)
    if not action:
        delayed = "delay" in str(message.get("Subject", "")).lower() and not status.startswith("5")
        action = "delayed" if delayed else "failed"
    recipient = (recipient or failed_recipients.split(",")[0]).strip().strip("<>")
    return Bounce(
        original_message_ids=ids,
        recipient=recipient[:254],
        action=action,
        status=status,
        diagnostic=_cut(diagnostic),
    )


def _text_of(message: Message) -> str:
    """The bounce's human-readable text: its text/plain parts outside the returned email."""
    chunks = []
    stack = [message]
    while stack:
        part = stack.pop(0)
        content_type = part.get_content_type()
        if content_type in _EMBEDDED_TYPES:
            continue
        if part.is_multipart():
            stack[:0] = [p for p in part.get_payload() if isinstance(p, Message)]
        elif content_type == "text/plain":
            payload = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "latin-1"
            try:
                chunks.append(payload.decode(charset, "replace"))
            except LookupError:
                chunks.append(payload.decode("latin-1"))
    return "\n".join(chunks).replace("\r\n", "\n")


def _returned_ids(message: Message, parts, types, text: str) -> tuple[str, ...]:
    found: list[str] = []
    for part, content_type in zip(parts, types, strict=True):
        if content_type in _EMBEDDED_TYPES and part.is_multipart():
            returned = part.get_payload(0)
            found.extend(_ids(str(returned.get("Message-ID", ""))))
        elif content_type in _HEADER_TYPES:
            payload = part.get_payload(decode=True) or b""
            headers = HeaderParser().parsestr(payload.decode("utf-8", "replace"))
            found.extend(_ids(str(headers.get("Message-ID", ""))))
    if not found:
        found = _MESSAGE_ID_LINE.findall(text)
    return tuple(dict.fromkeys(found))


def _ids(value: str) -> list[str]:
    return re.findall(r"<([^<>\s]+)>", value) or value.split()[:1]


def _status_fields(status_parts: list[Message]) -> tuple[str, str, str, str]:
    """(recipient, action, status, diagnostic) of the first failed recipient, else the first."""
    blocks = []
    for part in status_parts:
        payload = part.get_payload()
        if isinstance(payload, list):
            blocks.extend(block for block in payload if isinstance(block, Message))
        else:  # a body the parser left as text: fields in blank-line separated blocks
            text = payload if isinstance(payload, str) else ""
            blocks.extend(HeaderParser().parsestr(b.strip() + "\n") for b in text.split("\n\n"))
    recipients = [b for b in blocks if b.get("Action") or b.get("Final-Recipient")]
    if not recipients:
        return "", "", "", ""
    chosen = next(
        (b for b in recipients if str(b.get("Action", "")).strip().lower() == "failed"),
        recipients[0],
    )
    recipient = str(chosen.get("Final-Recipient") or chosen.get("Original-Recipient") or "")
    status = _first_status_code(str(chosen.get("Status", "")))
    diagnostic = str(chosen.get("Diagnostic-Code", ""))
    return (
        " ".join(recipient.partition(";")[2].split()) or recipient.strip(),
        " ".join(str(chosen.get("Action", "")).lower().split()),
        status,
        " ".join(diagnostic.partition(";")[2].split()) if ";" in diagnostic else diagnostic,
    )


def _first_status_code(text: str) -> str:
    match = _STATUS_CODE.search(text)
    return ".".join(match.groups()) if match else ""


def _smtp_reply(text: str) -> str:
    match = _SMTP_REPLY.search(text)
    return match.group(1) if match else ""


def _cut(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= DIAGNOSTIC_MAX_CHARS:
        return text
    return text[: DIAGNOSTIC_MAX_CHARS - 1] + "…"
