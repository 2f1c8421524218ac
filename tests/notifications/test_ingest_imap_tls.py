"""``manage.py ingest_email`` against a real IMAP server (Dovecot, tests/mailservers.py).

The server's certificate names ``localhost`` and is signed by a CA made for the run, which
only ``--ca-file`` makes trusted. A refused connection must leave the mailbox as it was (the
message unseen), store nothing, and never show the server the password (no login in its log).
"""

from __future__ import annotations

import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from notifications.models import InboundEmail, InboundStatus
from recovery.models import Complaint
from tests.processes import ROOT, subprocess_environment

# Starts a real server: with the other real-service tests, in one xdist process.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]

PASSWORD_VARIABLE = "TEST_IMAP_PASSWORD"
COMPLAINT_MAIL = (
    b"From: Ada Lovelace <ada@example.com>\r\n"
    b"To: complaints@redress.invalid\r\n"
    b"Subject: My refund is three weeks late\r\n"
    b"Message-ID: <refund-late-1@example.com>\r\n"
    b"Date: Mon, 07 Dec 2026 09:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"I returned the heater on 10 November and have had no refund.\r\n"
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def mailbox(dovecot, monkeypatch):
    """The Dovecot INBOX holding one unseen complaint; the password in the environment."""
    monkeypatch.setenv(PASSWORD_VARIABLE, dovecot.password)
    dovecot.deliver(COMPLAINT_MAIL)
    assert len(dovecot.unseen()) == 1
    return dovecot


def _args(dovecot, *, host=None, port, security=(), ca=True) -> list[str]:
    args = ["--imap", host or dovecot.host, "--port", str(port), *security]
    args += ["--user", dovecot.user, "--password-env", PASSWORD_VARIABLE]
    if ca:
        args += ["--ca-file", str(dovecot.ca_file)]
    return args


def _run(*args) -> str:
    out, err = StringIO(), StringIO()
    call_command("ingest_email", *args, stdout=out, stderr=err)
    assert err.getvalue() == ""
    return out.getvalue()


def _assert_ingested(dovecot, logins_before: int, *, over_tls: bool) -> None:
    complaint = Complaint.objects.get(subject="My refund is three weeks late")
    assert complaint.customer.email == "ada@example.com"
    assert InboundEmail.objects.get().status == InboundStatus.ACCEPTED
    # The command's own login, the first since the run began (the checks below log in too).
    new_logins = dovecot.logins()[logins_before:]
    assert new_logins, dovecot.log()
    assert (", TLS," in new_logins[0]) is over_tls, new_logins[0]
    assert dovecot.unseen() == []  # flagged \Seen after the commit


def _assert_untouched(mailbox, logins_before: int) -> None:
    assert mailbox.logins()[logins_before:] == []  # the password never reached the server
    assert InboundEmail.objects.count() == 0
    assert Complaint.objects.count() == 0
    assert len(mailbox.unseen()) == 1


def test_imaps_with_the_private_ca_ingests_the_message(mailbox):
    logins = len(mailbox.logins())

    output = _run(*_args(mailbox, port=mailbox.imaps_port, security=["--ssl"]))

    assert "1 accepted" in output
    _assert_ingested(mailbox, logins, over_tls=True)


def test_starttls_on_the_plain_port_with_the_private_ca_ingests_the_message(mailbox):
    logins = len(mailbox.logins())

    output = _run(*_args(mailbox, port=mailbox.imap_port, security=["--starttls"]))

    assert "1 accepted" in output
    _assert_ingested(mailbox, logins, over_tls=True)


@pytest.mark.django_db(transaction=True)
def test_imaps_with_an_untrusted_certificate_exits_non_zero_without_a_traceback(mailbox):
    # Run as an operator would, in a process of its own, on the test database.
    logins = len(mailbox.logins())
    env = {**subprocess_environment(), PASSWORD_VARIABLE: mailbox.password}
    args = _args(mailbox, port=mailbox.imaps_port, security=["--ssl"], ca=False)

    finished = subprocess.run(
        [sys.executable, "manage.py", "ingest_email", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert finished.returncode == 1
    assert "Traceback" not in finished.stderr
    assert (
        f"CommandError: Cannot connect to imap://complaints@localhost:{mailbox.imaps_port}/INBOX: "
        f"The TLS certificate of localhost:{mailbox.imaps_port} is not trusted"
    ) in finished.stderr
    assert "trust it with --ca-file" in finished.stderr
    assert finished.stdout == ""  # only the error: no "0 message(s)" line to hide it under
    _assert_untouched(mailbox, logins)


def test_starttls_with_an_untrusted_certificate_is_refused(mailbox):
    logins = len(mailbox.logins())

    with pytest.raises(CommandError, match="is not trusted"):
        _run(*_args(mailbox, port=mailbox.imap_port, security=["--starttls"], ca=False))

    _assert_untouched(mailbox, logins)


@pytest.mark.parametrize("security", ["--ssl", "--starttls"])
def test_a_certificate_that_does_not_name_the_host_is_refused(mailbox, security):
    # The certificate names "localhost"; the same server reached as 127.0.0.1 is not it.
    logins = len(mailbox.logins())
    port = mailbox.imaps_port if security == "--ssl" else mailbox.imap_port

    with pytest.raises(CommandError, match=r"is not valid for that host name \(.*127\.0\.0\.1"):
        _run(*_args(mailbox, host=mailbox.address, port=port, security=[security]))

    _assert_untouched(mailbox, logins)


def test_login_without_tls_is_refused_unless_allowed(mailbox):
    logins = len(mailbox.logins())
    plain = _args(mailbox, port=mailbox.imap_port, ca=False)

    with pytest.raises(CommandError, match=r"Refusing to log in to localhost:\d+ without TLS"):
        _run(*plain)
    _assert_untouched(mailbox, logins)

    logins = len(mailbox.logins())
    output = _run(*plain, "--allow-plaintext-login")

    assert "1 accepted" in output
    _assert_ingested(mailbox, logins, over_tls=False)
