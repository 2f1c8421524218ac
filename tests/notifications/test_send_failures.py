"""Why a send failed, as staff read it, and whether it is tried again (no server needed:
the exceptions are those smtplib and the socket layer raise; test_smtp_retry.py has the
real server)."""

import smtplib
import socket

import pytest

from notifications.mail_tls import MailTLSError
from notifications.send_failures import classify

ENCODED = "=?utf-8?b?Wm/DqyBSZWZ1c8Op?= <refuse.me@example.org>"


@pytest.mark.parametrize(
    ("exc", "reason", "permanent"),
    [
        (
            smtplib.SMTPRecipientsRefused({ENCODED: (550, b"5.1.1 User unknown")}),
            "550 5.1.1 <refuse.me@example.org>: User unknown",
            True,
        ),
        # The server named the address itself: not named twice.
        (
            smtplib.SMTPRecipientsRefused(
                {ENCODED: (550, b"5.1.1 <refuse.me@example.org>: Recipient address rejected")}
            ),
            "550 5.1.1 <refuse.me@example.org>: Recipient address rejected",
            True,
        ),
        # Greylisting, a full mailbox for now: 4xx passes.
        (
            smtplib.SMTPRecipientsRefused({ENCODED: (450, b"4.2.0 Greylisted, try again")}),
            "450 4.2.0 <refuse.me@example.org>: Greylisted, try again",
            False,
        ),
        (
            smtplib.SMTPDataError(554, b"5.6.0 Message content rejected"),
            "554 5.6.0 Message content rejected",
            True,
        ),
        (smtplib.SMTPDataError(451, b"4.3.0 Try later"), "451 4.3.0 Try later", False),
        # Our sender address is our settings' fault, which an operator can fix: retried.
        (
            smtplib.SMTPSenderRefused(553, b"5.7.1 Sender not allowed", "complaints@x.test"),
            "Sender refused: 553 5.7.1 <complaints@x.test>: Sender not allowed",
            False,
        ),
        (
            smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication failed"),
            "Mail server refused the session: 535 5.7.8 Authentication failed",
            False,
        ),
        (ConnectionRefusedError(111, "Connection refused"), None, False),
        (TimeoutError("timed out"), "Mail server unreachable: timed out", False),
        (
            socket.gaierror(-2, "Name or service not known"),
            "Mail server unreachable: host name not found (Name or service not known)",
            False,
        ),
        (
            smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
            "Mail server disconnected: Connection unexpectedly closed",
            False,
        ),
        (
            MailTLSError("The TLS certificate of the SMTP server is not trusted."),
            "Mail server TLS failed: The TLS certificate of the SMTP server is not trusted.",
            False,
        ),
    ],
)
def test_a_failure_is_worded_like_a_bounce_and_only_a_refusal_of_the_email_is_final(
    exc, reason, permanent
):
    failure = classify(exc)

    assert failure.reason == (reason or "Mail server unreachable: connection refused")
    assert failure.permanent is permanent
