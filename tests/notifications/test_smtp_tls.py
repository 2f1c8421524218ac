"""Outbound mail over TLS (``notifications.smtp.EmailBackend``) against a real SMTP server.

The server (aiosmtpd, tests/mailservers.py) has a certificate for ``localhost`` signed by a CA
made for the run: trusted only through ``REDRESS_EMAIL_CA_FILE``. It takes mail only after
STARTTLS (or over TLS from the first byte) and a login, so a message received proves both.
"""

from __future__ import annotations

import pytest
from django.core.mail import EmailMessage, get_connection

from notifications.mail_tls import MailTLSError
from notifications.smtp import EmailBackend
from tests.mailservers import Smtpd

BACKEND = "notifications.smtp.EmailBackend"
# aiosmtpd warns when AUTH does not require STARTTLS; with TLS from the first byte it need not.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@pytest.fixture
def smtpd(tmp_path):
    server = Smtpd(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def smtps(tmp_path):
    server = Smtpd(tmp_path, implicit_tls=True).start()
    yield server
    server.stop()


@pytest.fixture
def smtp_settings(settings):
    settings.EMAIL_BACKEND = BACKEND
    settings.EMAIL_TIMEOUT = 10
    settings.EMAIL_SSL_CERTFILE = None
    settings.EMAIL_SSL_KEYFILE = None
    settings.REDRESS_EMAIL_CA_FILE = None
    return settings


def _send(server: Smtpd, *, host: str | None = None, use_tls=True, use_ssl=False) -> int:
    connection = get_connection(
        BACKEND,
        host=host or server.host,
        port=server.port,
        username=server.user,
        password=server.password,
        use_tls=use_tls,
        use_ssl=use_ssl,
        fail_silently=False,
    )
    message = EmailMessage(
        subject="We have your complaint",
        body="Your reference is RDR-2026-000001.",
        from_email="complaints@redress.invalid",
        to=["ada@example.com"],
        connection=connection,
    )
    return message.send()


def test_starttls_with_the_private_ca_sends(smtpd, smtp_settings):
    smtp_settings.REDRESS_EMAIL_CA_FILE = str(smtpd.ca_file)

    assert _send(smtpd) == 1

    [envelope] = smtpd.messages
    assert envelope.rcpt_tos == ["ada@example.com"]
    assert b"RDR-2026-000001" in envelope.content
    assert smtpd.auth_attempts == 1


def test_tls_from_the_first_byte_with_the_private_ca_sends(smtps, smtp_settings):
    smtp_settings.REDRESS_EMAIL_CA_FILE = str(smtps.ca_file)

    assert _send(smtps, use_tls=False, use_ssl=True) == 1

    assert len(smtps.messages) == 1


def test_a_client_certificate_does_not_switch_verification_off(smtpd, smtp_settings):
    # Django's own backend, given a client certificate, loads no CA and so trusts no server;
    # ours still verifies against the CA file. (Any certificate serves as the client's here:
    # the server does not ask for one.)
    smtp_settings.REDRESS_EMAIL_CA_FILE = str(smtpd.ca_file)
    smtp_settings.EMAIL_SSL_CERTFILE = str(smtpd.certificates.cert_file)
    smtp_settings.EMAIL_SSL_KEYFILE = str(smtpd.certificates.key_file)

    assert _send(smtpd) == 1

    context = EmailBackend().ssl_context
    assert context.check_hostname is True
    assert len(smtpd.messages) == 1


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "tls"])
def test_an_untrusted_certificate_is_refused_before_the_password_is_sent(
    tmp_path, smtp_settings, implicit
):
    server = Smtpd(tmp_path, implicit_tls=implicit).start()
    try:
        with pytest.raises(
            MailTLSError,
            match=rf"certificate of the SMTP server localhost:{server.port} is not trusted "
            r"\(.*\)\. If the server uses a private CA, trust it with REDRESS_EMAIL_CA_FILE",
        ):
            _send(server, use_tls=not implicit, use_ssl=implicit)
    finally:
        server.stop()

    assert server.messages == []
    assert server.auth_attempts == 0


def test_a_certificate_that_does_not_name_the_host_is_refused(smtpd, smtp_settings):
    smtp_settings.REDRESS_EMAIL_CA_FILE = str(smtpd.ca_file)

    with pytest.raises(MailTLSError, match=r"not valid for that host name \(.*127\.0\.0\.1"):
        _send(smtpd, host=smtpd.address)

    assert smtpd.messages == []
    assert smtpd.auth_attempts == 0
