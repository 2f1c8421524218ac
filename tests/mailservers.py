"""Real mail servers for tests: a private CA, a standalone Dovecot IMAP server, an SMTP server.

``Dovecot`` runs Debian's dovecot with a configuration of its own in a temporary folder
(nothing under /etc is read or changed): 127.0.0.1 only, free ports for IMAP (STARTTLS
offered) and IMAPS, one user from a passwd-file, Maildir storage, and a certificate for
``localhost`` signed by a CA made for the run. Tests trust that CA through ``ca_file``.

Use it through the ``dovecot`` fixture (tests/notifications/conftest.py)::

    dovecot.deliver(raw_bytes)        # APPENDs an unseen message to the user's INBOX
    dovecot.unseen(), dovecot.all()   # UIDs still unseen, and all
    dovecot.logins()                  # the server's log lines of successful logins
    dovecot.host (the certificate's name), dovecot.address (127.0.0.1), dovecot.imaps_port,
    dovecot.imap_port, dovecot.user, dovecot.password, dovecot.ca_file

``Smtpd`` is aiosmtpd in a thread of the test process, with the same kind of certificate:
STARTTLS required before anything else (or TLS from the first byte), AUTH only over TLS.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.processes import HOST, free_port

# Where Debian puts the binary; not on every user's PATH.
DOVECOT_SEARCH_PATH = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
# Dovecot starts in well under a second; a loaded 2-core CI machine gets ample slack.
START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 10
# The name the server certificate is issued for. Tests connect by it, or by 127.0.0.1 to get
# a certificate that does not name the host.
CERT_HOSTNAME = "localhost"


def dovecot_binary() -> str | None:
    return shutil.which("dovecot", path=DOVECOT_SEARCH_PATH)


# --- certificates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateFiles:
    ca_file: Path  # the CA's certificate: what a client trusts
    cert_file: Path  # the server's certificate
    key_file: Path  # the server's private key


def make_certificates(folder: Path, *, hostname: str = CERT_HOSTNAME) -> CertificateFiles:
    """A CA and a server certificate for ``hostname`` that it signed, as PEM files.

    Extensions as a public CA would set them (key identifiers, key usage, serverAuth), so
    that strict verification (Python 3.13's VERIFY_X509_STRICT) accepts the chain.
    """
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Redress test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    files = CertificateFiles(
        ca_file=folder / "ca.pem", cert_file=folder / "server.pem", key_file=folder / "server.key"
    )
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key_file.chmod(0o600)
    return files


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


# --- Dovecot ----------------------------------------------------------------------------------

CONFIG = """\
# A standalone test instance: this file is the whole configuration.
instance_name = redress-test-{imaps_port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
listen = {address}
protocols = imap
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = 1

ssl = yes
ssl_cert = <{cert_file}
ssl_key = <{key_file}
# Logging in without TLS must be possible, so that the client's own refusal is what is tested.
disable_plaintext_auth = no
auth_mechanisms = plain login

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
mail_location = maildir:{root}/mail/%u

service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
"""


class Dovecot:
    """One running Dovecot instance; ``start()`` then ``stop()`` (which leaves no process)."""

    user = "complaints"
    password = "imap-test-password"  # a throwaway test server's

    def __init__(self) -> None:
        # A short path: Dovecot's unix sockets live under it (sun_path holds 107 bytes).
        self.root = Path(tempfile.mkdtemp(prefix="redress-dovecot-"))
        self.host = CERT_HOSTNAME  # connect by the name the certificate lists
        self.address = HOST  # where it listens: reached by this, the name does not match
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.certificates = make_certificates(self.root)
        self.ca_file = self.certificates.ca_file
        self.config_file = self.root / "dovecot.conf"
        self.process: subprocess.Popen | None = None

    def start(self) -> Dovecot:
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
        try:
            self._start(binary)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, binary: str) -> None:
        mail_uid, mail_gid, internal_user, login_user = self._accounts()
        # The mail processes run as the mail user and must reach its Maildir.
        self.root.chmod(0o755)
        mail = self.root / "mail"
        mail.mkdir()
        os.chown(mail, mail_uid, mail_gid)
        (self.root / "users").write_text(
            f"{self.user}:{{PLAIN}}{self.password}:{mail_uid}:{mail_gid}::{mail / self.user}\n"
        )
        self.config_file.write_text(
            CONFIG.format(
                root=self.root,
                address=self.address,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
                cert_file=self.certificates.cert_file,
                key_file=self.certificates.key_file,
                internal_user=internal_user,
                login_user=login_user,
            )
        )
        # -F: stay in the foreground, so this Popen is the master and stop() can end it.
        self.process = subprocess.Popen(
            [binary, "-F", "-c", str(self.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=(self.root / "dovecot.out").open("wb"),
            stderr=subprocess.STDOUT,
        )
        self._wait_until_listening()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGTERM: the master stops its children (login, auth, imap) before it exits.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    # mailbox ---------------------------------------------------------------------------------

    def deliver(self, raw: bytes, *, folder: str = "INBOX") -> None:
        """Put ``raw`` into the user's ``folder`` as an unseen message (IMAP APPEND)."""
        with self._session() as imap:
            status, data = imap.append(folder, "()", None, raw)
            if status != "OK":
                raise RuntimeError(f"APPEND answered {status}: {data!r}")

    def unseen(self, *, folder: str = "INBOX") -> list[int]:
        """UIDs of the messages of ``folder`` that are not flagged \\Seen."""
        return self._search("UNSEEN", folder)

    def all(self, *, folder: str = "INBOX") -> list[int]:
        return self._search("ALL", folder)

    def empty(self, *, folder: str = "INBOX") -> None:
        """Expunge every message of ``folder``, so a test starts from an empty mailbox."""
        with self._session() as imap:
            imap.select(folder)
            imap.uid("STORE", "1:*", "+FLAGS.SILENT", "(\\Deleted)")
            imap.expunge()

    def _search(self, criterion: str, folder: str) -> list[int]:
        with self._session() as imap:
            imap.select(folder, readonly=True)
            status, data = imap.uid("SEARCH", None, criterion)
        if status != "OK":
            raise RuntimeError(f"SEARCH answered {status}: {data!r}")
        return [int(uid) for uid in (data[0] or b"").split()]

    def _session(self) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        imap = imaplib.IMAP4_SSL(self.host, self.imaps_port, ssl_context=context, timeout=10)
        imap.login(self.user, self.password)
        return imap

    # internals -------------------------------------------------------------------------------

    def _accounts(self) -> tuple[int, int, str, str]:
        """(mail uid, mail gid, internal user, login user) for this process's privileges."""
        if os.geteuid() != 0:
            me = pwd.getpwuid(os.geteuid())
            return me.pw_uid, me.pw_gid, me.pw_name, me.pw_name
        # As root, Dovecot refuses to run mail processes as root: use unprivileged accounts,
        # the two that Debian's package creates, and "nobody" for the mailbox.
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid, "dovecot", "dovenull"

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited with {self.process.returncode}\n{self.log()}")
            if all(_port_open(self.address, port) for port in (self.imap_port, self.imaps_port)):
                return
            time.sleep(0.1)
        raise RuntimeError(f"dovecot did not listen within {START_TIMEOUT_S} s\n{self.log()}")

    def logins(self) -> list[str]:
        """The server's log lines of successful logins, oldest first ("..., TLS, ..." if so)."""
        path = self.root / "dovecot.log"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        return [line for line in lines if "Login: user=<" in line]

    def log(self) -> str:
        parts = []
        for name in ("dovecot.out", "dovecot.log"):
            path = self.root / name
            if path.exists():
                parts.append(f"--- {name} ---\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


# --- SMTP -------------------------------------------------------------------------------------


class Smtpd:
    """An SMTP server that takes mail only from an authenticated client over TLS.

    ``messages``: the envelopes received; ``auth_attempts``: how often a client sent
    credentials (zero when TLS was refused before the password left the client).
    """

    user = "redress"
    password = "smtp-test-password"  # a throwaway test server's

    def __init__(self, folder: Path, *, implicit_tls: bool = False) -> None:
        self.host = CERT_HOSTNAME  # connect by the name the certificate lists
        self.address = HOST  # where it listens: reached by this, the name does not match
        self.port = free_port()
        self.certificates = make_certificates(folder)
        self.ca_file = self.certificates.ca_file
        self.messages: list[Envelope] = []
        self.auth_attempts = 0
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(self.certificates.cert_file, self.certificates.key_file)
        if implicit_tls:
            # aiosmtpd does not count TLS from the first byte as TLS for AUTH; it is.
            tls = {"ssl_context": server_context, "auth_require_tls": False}
        else:
            tls = {"tls_context": server_context, "require_starttls": True}
        self.controller = Controller(
            self,
            hostname=self.address,
            port=self.port,
            authenticator=self._authenticate,
            auth_required=True,
            **tls,
        )

    def start(self) -> Smtpd:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    async def handle_DATA(self, server, session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        self.auth_attempts += 1
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (self.user, self.password)
        return AuthResult(success=ok)
