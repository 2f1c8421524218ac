"""Django's SMTP backend, with TLS that verifies against a private CA when one is given.

Django 5.2's backend already verifies the server's certificate and host name with the
system's CAs, but (a) it cannot be told to trust a private CA, and (b) once a client
certificate is set (``EMAIL_SSL_CERTFILE``) it builds a context that loads no CA at all, so
no server can be verified. This subclass makes the one context of ``notifications.mail_tls``:
the system's CAs or ``REDRESS_EMAIL_CA_FILE``, plus the client certificate if any. A failed
handshake is raised as a ``MailTLSError`` saying what is wrong, which the delivery records.

Sending a password in clear (a user name without ``EMAIL_USE_TLS``/``EMAIL_USE_SSL``) is
refused when the settings load (``config/settings.py``).
"""

from __future__ import annotations

import ssl

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend
from django.utils.functional import cached_property

from notifications.mail_tls import MailTLSError, client_tls_context, describe_tls_failure


class EmailBackend(DjangoSMTPBackend):
    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        return client_tls_context(
            ca_file=settings.REDRESS_EMAIL_CA_FILE,
            certfile=self.ssl_certfile,
            keyfile=self.ssl_keyfile,
        )

    def open(self) -> bool | None:
        try:
            return super().open()
        except ssl.SSLError as exc:
            where = f"the SMTP server {self.host}:{self.port}"
            raise MailTLSError(
                describe_tls_failure(exc, where=where, ca_hint="REDRESS_EMAIL_CA_FILE")
            ) from exc
