"""Open an IMAP connection on which the password can be sent safely.

Three ways to reach the server (docs/notifications.md, "From a mailbox"):
- ``tls``: TLS from the first byte (IMAPS, port 993);
- ``starttls``: a plain connection upgraded with STARTTLS before anything else (port 143);
- ``plain``: no TLS; refused unless ``allow_plaintext_login`` (local test servers only), as the
  password would cross the network in clear.

TLS verifies the certificate chain and the host name (``notifications.mail_tls``). Nothing is
sent to the server before the handshake succeeded, so a refused server learns no password.
"""

from __future__ import annotations

import contextlib
import imaplib
import ssl
from dataclasses import dataclass
from enum import StrEnum

from notifications.mail_tls import MailTLSError, client_tls_context, describe_tls_failure

IMAPError = imaplib.IMAP4.error


class Security(StrEnum):
    TLS = "tls"
    STARTTLS = "starttls"
    PLAIN = "plain"


DEFAULT_PORTS = {Security.TLS: 993, Security.STARTTLS: 143, Security.PLAIN: 143}


class ImapConnectError(Exception):
    """The server could not be reached, or not safely; the message says which and why."""


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    security: Security
    ca_file: str | None = None
    allow_plaintext_login: bool = False

    def tls_context(self) -> ssl.SSLContext | None:
        """The verifying context, or None for ``plain``; raises ImapConnectError if refused.

        Called before connecting, so a refused configuration never opens a socket.
        """
        if self.security is Security.PLAIN:
            if self.ca_file:
                raise ImapConnectError("--ca-file needs --ssl or --starttls.")
            if not self.allow_plaintext_login:
                raise ImapConnectError(
                    f"Refusing to log in to {self.host}:{self.port} without TLS: the password "
                    "would be sent in clear. Use --ssl (port 993) or --starttls (port 143); "
                    "--allow-plaintext-login is for local test servers only."
                )
            return None
        try:
            return client_tls_context(ca_file=self.ca_file)
        except MailTLSError as exc:
            raise ImapConnectError(f"{exc} (--ca-file)") from exc


def imap_connect(server: ImapServer, *, timeout: float) -> imaplib.IMAP4:
    """A connection ready for LOGIN: over verified TLS, or plain where that was allowed."""
    context = server.tls_context()
    where = f"{server.host}:{server.port}"
    try:
        if server.security is Security.TLS:
            return imaplib.IMAP4_SSL(server.host, server.port, ssl_context=context, timeout=timeout)
        connection = imaplib.IMAP4(server.host, server.port, timeout=timeout)
    except ssl.SSLError as exc:
        raise ImapConnectError(describe_tls_failure(exc, where=where, ca_hint="--ca-file")) from exc
    except (OSError, IMAPError) as exc:
        raise ImapConnectError(str(exc)) from exc
    if server.security is Security.STARTTLS:
        _starttls(connection, context, where)
    return connection


def _starttls(connection: imaplib.IMAP4, context: ssl.SSLContext | None, where: str) -> None:
    try:
        if "STARTTLS" not in connection.capabilities:
            raise ImapConnectError(
                f"{where} does not offer STARTTLS; refusing to log in without TLS. "
                "Try --ssl (port 993)."
            )
        connection.starttls(ssl_context=context)
    except ssl.SSLError as exc:
        _shut(connection)
        raise ImapConnectError(describe_tls_failure(exc, where=where, ca_hint="--ca-file")) from exc
    except ImapConnectError:
        _shut(connection)
        raise
    except (OSError, IMAPError) as exc:
        _shut(connection)
        raise ImapConnectError(f"STARTTLS with {where} failed: {exc}") from exc


def _shut(connection: imaplib.IMAP4) -> None:
    # The session never logged in: drop the socket without another word to the server.
    with contextlib.suppress(OSError):
        connection.shutdown()
