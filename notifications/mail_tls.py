"""TLS towards our mail servers (IMAP in, SMTP out): verified, and explained when it fails.

One way to make the client context for both, so the two cannot drift apart: the server's
certificate chain must lead to a trusted CA and the certificate must name the host we asked for
(``ssl.create_default_context``). A private CA bundle *replaces* the system's CAs rather than
adding to them: a server of a private network is then trusted only through its own CA.
"""

from __future__ import annotations

import ssl

# OpenSSL's verify codes for "the certificate does not name this host / IP address"
# (X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH).
NAME_MISMATCH_CODES = {62, 64}


class MailTLSError(Exception):
    """The mail server cannot be reached safely; the message says why and what to do."""


def client_tls_context(
    *, ca_file: str | None = None, certfile: str | None = None, keyfile: str | None = None
) -> ssl.SSLContext:
    """A context that verifies the server's chain and host name.

    ``ca_file``: PEM bundle of the CAs to trust instead of the system's. ``certfile`` (and
    ``keyfile``): a client certificate, for servers that ask for one.
    """
    try:
        context = ssl.create_default_context(cafile=ca_file or None)
        if certfile:
            context.load_cert_chain(certfile, keyfile or None)
    except (OSError, ssl.SSLError) as exc:
        # OSError: missing or unreadable file; SSLError: not PEM, or a key that does not match.
        failing = ca_file if certfile is None else f"{ca_file or '-'} / {certfile}"
        raise MailTLSError(f"Cannot load the TLS certificates {failing}: {exc}") from exc
    return context


def describe_tls_failure(exc: ssl.SSLError, *, where: str, ca_hint: str) -> str:
    """A sentence a person can act on, for a failed TLS handshake with ``where``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or str(exc)
        if exc.verify_code in NAME_MISMATCH_CODES:
            return (
                f"The TLS certificate of {where} is not valid for that host name ({detail}). "
                "Connect with a name the certificate lists."
            )
        return (
            f"The TLS certificate of {where} is not trusted ({detail}). "
            f"If the server uses a private CA, trust it with {ca_hint}."
        )
    return f"TLS with {where} failed: {exc.reason or exc}"
