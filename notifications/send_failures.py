"""Why sending a customer email failed, in words staff can read, and whether to try again.

Like a mail server's queue (RFC 5321, 4.5.4.1), an email our relay could not take is kept
and tried again while the failure may pass: the relay unreachable (connection refused,
timed out, host name not found), a dropped connection, a TLS handshake that failed, a 4xx
answer, or a refusal of our own settings (sender, login) that an operator can put right.
Only the relay's 5xx answer about this email (the recipient refused, the message refused)
fails it at once: sending it again would get the same answer.

``classify`` turns the exception the backend raised into a ``SendFailure``: a reason like a
bounce's ("550 5.1.1 <zoe@example.org>: User unknown"), never a Python repr.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.utils import parseaddr

from notifications.mail_tls import MailTLSError

# "5.1.1 " at the start of a reply's text: its enhanced status code (RFC 3463).
ENHANCED_CODE = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\s+")


@dataclass(frozen=True)
class SendFailure:
    reason: str
    permanent: bool  # True: the server refused this email for good; no retry


def classify(exc: BaseException) -> SendFailure:
    """The reason and permanence of a failed send (rules in the module docstring)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _recipients_refused(exc)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        sender = _address(exc.sender)
        reason = _reply(exc.smtp_code, exc.smtp_error, address=sender)
        # Our sender address is our configuration, not this email's fault: retried.
        return SendFailure(f"Sender refused: {reason}", permanent=False)
    if isinstance(exc, smtplib.SMTPDataError):
        return SendFailure(_reply(exc.smtp_code, exc.smtp_error), permanent=_is_5xx(exc.smtp_code))
    if isinstance(exc, smtplib.SMTPResponseException):
        # Greeting, HELO, AUTH: about the relay or our settings, not this email.
        return SendFailure(
            f"Mail server refused the session: {_reply(exc.smtp_code, exc.smtp_error)}",
            permanent=False,
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        detail = str(exc) or "connection closed"
        return SendFailure(f"Mail server disconnected: {detail}", permanent=False)
    if isinstance(exc, MailTLSError):
        return SendFailure(f"Mail server TLS failed: {exc}", permanent=False)
    if isinstance(exc, ssl.SSLError):
        return SendFailure(f"Mail server TLS failed: {exc.reason or exc}", permanent=False)
    if isinstance(exc, ConnectionRefusedError):
        return SendFailure("Mail server unreachable: connection refused", permanent=False)
    if isinstance(exc, TimeoutError | socket.timeout):
        return SendFailure("Mail server unreachable: timed out", permanent=False)
    if isinstance(exc, socket.gaierror):
        return SendFailure(
            f"Mail server unreachable: host name not found ({exc.strerror or exc})",
            permanent=False,
        )
    if isinstance(exc, OSError):
        return SendFailure(
            f"Mail server unreachable: {(exc.strerror or str(exc) or type(exc).__name__)}",
            permanent=False,
        )
    # Anything else (a bug, a backend of another kind): kept and retried, with its type so
    # support can find it.
    return SendFailure(f"{type(exc).__name__}: {exc}", permanent=False)


def _recipients_refused(exc: smtplib.SMTPRecipientsRefused) -> SendFailure:
    # {'"Zoë" <zoe@example.org>': (550, b'5.1.1 User unknown')}: one entry per address; a
    # customer email has one.
    reasons, permanent = [], True
    for recipient, (code, text) in exc.recipients.items():
        reasons.append(_reply(code, text, address=_address(recipient)))
        permanent = permanent and _is_5xx(code)
    if not reasons:
        return SendFailure("Recipient refused", permanent=False)
    return SendFailure("; ".join(reasons), permanent=permanent)


def _reply(code: int, text: bytes | str, *, address: str = "") -> str:
    """``550 5.1.1 <zoe@example.org>: User unknown`` from a reply's code and text."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = " ".join(str(text).split())
    enhanced = ""
    if match := ENHANCED_CODE.match(text):
        enhanced, text = match.group(1), text[match.end() :]
    if address and address.lower() not in text.lower():
        text = f"<{address}>: {text}" if text else f"<{address}>"
    return " ".join(part for part in (str(code), enhanced, text) if part)


def _address(value: str | bytes) -> str:
    """The bare address of ``"=?utf-8?b?...?= <zoe@example.org>"``: the encoded name is
    noise to staff."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return parseaddr(value)[1] or value


def _is_5xx(code) -> bool:
    return isinstance(code, int) and 500 <= code < 600
