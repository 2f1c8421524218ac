"""Tests for ``manage.py ingest_email``: Maildir, mbox, .eml files and directories, and IMAP.

IMAP is exercised against a fake ``imaplib.IMAP4`` (``FakeIMAP`` below) that speaks the few
commands the loop uses; it tests the command's loop (what is fetched, when ``\\Seen`` is set,
what an unreachable server does), not imaplib itself. TLS against a real server (Dovecot) is
tested in ``test_ingest_imap_tls.py``.
"""

from __future__ import annotations

import csv
import imaplib
import mailbox
import os
import re
import shutil
import ssl
from email.utils import make_msgid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from notifications.management.commands import ingest_email as command_module
from notifications.models import EmailDelivery, EmailStatus, InboundEmail, InboundStatus, Outbox
from recovery.models import Complaint
from tests.conftest import acknowledge

_DATA = Path(
    os.environ.get("REDRESS_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data"
)
EMAILS = _DATA / "emails"
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not (EMAILS / "manifest.csv").is_file(),
        reason=f"shared email corpus not found at {EMAILS}; set REDRESS_SHARED_DATA",
    ),
]

# A few corpus files, one per outcome.
CUSTOMER_MAIL = "flanker/text-only.eml"  # bob@marley.com: opens a complaint
OTHER_CUSTOMER_MAIL = "django-helpdesk/quoted_printable.eml"  # opens a complaint
BOUNCE = "flanker/bounce_delayed.eml"  # ignored: a bounce of mail we never sent
NO_SENDER = "cpython-test_email/msg_11.eml"  # quarantined: no From address
SAMPLE = {CUSTOMER_MAIL: "accepted", BOUNCE: "ignored", NO_SENDER: "quarantined"}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _raw(name: str) -> bytes:
    return (EMAILS / name).read_bytes()


def _run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("ingest_email", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _summary(output: str) -> str:
    return output.strip().splitlines()[-1]


def _outcomes(output: str) -> list[str]:
    return [line.split()[0] for line in output.strip().splitlines()[:-1]]


def test_maildir_messages_are_ingested_and_a_second_run_finds_duplicates(tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for name in SAMPLE:
        box.add(_raw(name))

    output, errors = _run("--maildir", tmp_path / "Maildir")

    assert errors == ""
    assert sorted(_outcomes(output)) == sorted(SAMPLE.values())
    assert _summary(output) == (
        "3 message(s): 1 accepted, 0 held, 0 ignored, 1 quarantined, 0 duplicate, "
        "1 unknown bounce, 0 error"
    )
    accepted_line = next(line for line in output.splitlines() if line.startswith("accepted"))
    reference = Complaint.objects.get().reference
    assert re.match(rf"accepted\s+{reference}\s+maildir:.+#\S+: opened {reference}", accepted_line)
    assert all(row.source.startswith("maildir:") for row in InboundEmail.objects.all())

    again, _ = _run("--maildir", tmp_path / "Maildir")

    assert (
        _summary(again)
        == "3 message(s): 0 accepted, 0 held, 0 ignored, 0 quarantined, 3 duplicate, 0 error"
    )
    assert InboundEmail.objects.count() == 3
    assert Complaint.objects.count() == 1


def test_mbox_messages_are_ingested(tmp_path):
    path = tmp_path / "export.mbox"
    box = mailbox.mbox(path, create=True)
    for name in (*SAMPLE, OTHER_CUSTOMER_MAIL):
        box.add(_raw(name))
    box.flush()
    box.close()

    output, _ = _run("--mbox", path)

    assert _summary(output) == (
        "4 message(s): 2 accepted, 0 held, 0 ignored, 1 quarantined, 0 duplicate, "
        "1 unknown bounce, 0 error"
    )
    assert Complaint.objects.count() == 2
    assert InboundEmail.objects.filter(source__startswith=f"mbox:{path}#").count() == 4


def test_eml_files_and_directories_of_them(tmp_path):
    folder = tmp_path / "inbox"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(EMAILS / BOUNCE, folder / "bounce.eml")
    shutil.copy(EMAILS / NO_SENDER, folder / "nested" / "no-sender.eml")
    (folder / "notes.txt").write_text("not an email, and not named .eml: skipped")
    single = tmp_path / "single.eml"
    shutil.copy(EMAILS / CUSTOMER_MAIL, single)

    output, _ = _run(single, folder)

    assert _outcomes(output) == ["accepted", "ignored", "quarantined"]
    assert _summary(output) == (
        "3 message(s): 1 accepted, 0 held, 0 ignored, 1 quarantined, 0 duplicate, "
        "1 unknown bounce, 0 error"
    )
    assert InboundEmail.objects.get(status=InboundStatus.QUARANTINED).source == (
        f"file:{folder / 'nested' / 'no-sender.eml'}"
    )


def test_the_whole_corpus_directory_never_stops_the_run():
    rows = list(csv.DictReader((EMAILS / "manifest.csv").open(encoding="utf-8")))

    output, errors = _run(EMAILS)

    assert errors == ""
    assert _summary(output).startswith(f"{len(rows)} message(s): ")
    assert _summary(output).endswith(" 0 error")


def test_one_message_that_fails_does_not_stop_the_others(tmp_path, monkeypatch):
    for name in SAMPLE:
        shutil.copy(EMAILS / name, tmp_path / Path(name).name)
    real_ingest = command_module.ingest_message

    def failing_for_the_bounce(raw, *, source):
        if source.endswith(Path(BOUNCE).name):
            raise RuntimeError("database went away")
        return real_ingest(raw, source=source)

    monkeypatch.setattr(command_module, "ingest_message", failing_for_the_bounce)

    output, errors = _run(tmp_path)

    assert "database went away" in errors
    assert _summary(output) == (
        "3 message(s): 1 accepted, 0 held, 0 ignored, 1 quarantined, 0 duplicate, 1 error"
    )


def test_a_missing_source_fails_before_anything_is_ingested(tmp_path):
    shutil.copy(EMAILS / CUSTOMER_MAIL, tmp_path / "good.eml")

    with pytest.raises(CommandError, match=r"No such file or directory: .*missing.eml"):
        _run(tmp_path / "good.eml", tmp_path / "missing.eml")

    assert not InboundEmail.objects.exists()


@pytest.mark.parametrize("option", ["--maildir", "--mbox"])
def test_a_mailbox_that_is_not_one_is_a_command_error(tmp_path, option):
    with pytest.raises(CommandError, match=r"is not an? (Maildir|mbox)"):
        _run(option, tmp_path / "nothing-here")


def test_no_source_at_all_is_a_command_error():
    with pytest.raises(CommandError, match="Nothing to read"):
        _run()


# --- IMAP --------------------------------------------------------------------------------


class FakeIMAP:
    """Just enough of ``imaplib.IMAP4`` for the command: login, select, UID SEARCH/FETCH/STORE."""

    error = imaplib.IMAP4.error
    abort = imaplib.IMAP4.abort
    mailboxes: dict[str, dict[bytes, dict]] = {}
    instances: list[FakeIMAP] = []
    password = "imap-password"

    capabilities = ("IMAP4REV1", "STARTTLS")

    def __init__(self, host, port, timeout=None, ssl_context=None):
        self.host, self.port, self.timeout = host, port, timeout
        self.ssl_context = ssl_context
        self.calls: list[tuple] = []
        self.folder = None
        self.abort_on_fetch: bytes | None = None
        FakeIMAP.instances.append(self)

    def starttls(self, ssl_context=None):
        self.calls.append(("starttls",))
        self.ssl_context = ssl_context

    def login(self, user, password):
        self.calls.append(("login", user))
        if password != self.password:
            raise self.error(b"[AUTHENTICATIONFAILED] Invalid credentials")
        return "OK", [b"Logged in"]

    def select(self, folder="INBOX"):
        self.calls.append(("select", folder))
        if folder not in self.mailboxes:
            return "NO", [b"Mailbox does not exist"]
        self.folder = self.mailboxes[folder]
        return "OK", [str(len(self.folder)).encode()]

    def uid(self, command, *args):
        self.calls.append(("uid", command, *args))
        if command == "SEARCH":
            unseen = [uid for uid, m in self.folder.items() if "\\Seen" not in m["flags"]]
            return "OK", [b" ".join(unseen)]
        if command == "FETCH":
            uid, what = args
            assert what == "(BODY.PEEK[])"  # never mark as seen by fetching
            if uid == self.abort_on_fetch:
                raise self.abort("socket error: EOF")
            raw = self.folder[uid]["raw"]
            return "OK", [(b"1 (UID " + uid + b" BODY[] {%d}" % len(raw), raw), b")"]
        if command == "STORE":
            uid, operation, flags = args
            assert (operation, flags) == ("+FLAGS", "(\\Seen)")
            self.folder[uid]["flags"].add("\\Seen")
            return "OK", [b"1 (FLAGS (\\Seen))"]
        raise AssertionError(f"unexpected UID command {command}")

    def close(self):
        self.calls.append(("close",))

    def logout(self):
        self.calls.append(("logout",))

    def shutdown(self):
        self.calls.append(("shutdown",))


@pytest.fixture
def imap_server(monkeypatch):
    FakeIMAP.instances = []
    FakeIMAP.mailboxes = {
        "INBOX": {
            b"11": {"raw": _raw(CUSTOMER_MAIL), "flags": set()},
            b"12": {"raw": _raw(BOUNCE), "flags": set()},
            b"13": {"raw": _raw(OTHER_CUSTOMER_MAIL), "flags": {"\\Seen"}},  # read already
            b"14": {"raw": _raw(NO_SENDER), "flags": set()},
        }
    }
    monkeypatch.setattr(imaplib, "IMAP4", FakeIMAP)
    monkeypatch.setattr(imaplib, "IMAP4_SSL", type("FakeIMAP_SSL", (FakeIMAP,), {}))
    monkeypatch.setenv("TEST_IMAP_PASSWORD", FakeIMAP.password)
    return FakeIMAP.mailboxes["INBOX"]


IMAP_SERVER = ("--imap", "imap.example.org", "--user", "complaints")
IMAP_ARGS = (*IMAP_SERVER, "--starttls")
IMAP_PASSWORD = ("--password-env", "TEST_IMAP_PASSWORD")


def _assert_verifies(context) -> None:
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


def _seen(inbox) -> set[bytes]:
    return {uid for uid, message in inbox.items() if "\\Seen" in message["flags"]}


def test_imap_ingests_unseen_mail_and_flags_it_seen_after_commit(imap_server):
    output, errors = _run(*IMAP_ARGS, *IMAP_PASSWORD)

    assert errors == ""
    assert _summary(output) == (
        "3 message(s): 1 accepted, 0 held, 0 ignored, 1 quarantined, 0 duplicate, "
        "1 unknown bounce, 0 error"
    )
    assert _seen(imap_server) == {b"11", b"12", b"13", b"14"}
    connection = FakeIMAP.instances[0]
    assert (connection.host, connection.port) == ("imap.example.org", 143)
    assert connection.calls[:2] == [("starttls",), ("login", "complaints")]
    _assert_verifies(connection.ssl_context)
    fetched = [call[2] for call in connection.calls if call[:2] == ("uid", "FETCH")]
    assert fetched == [b"11", b"12", b"14"]  # the message already seen is left alone
    assert connection.calls[-2:] == [("close",), ("logout",)]
    assert InboundEmail.objects.filter(
        source="imap://complaints@imap.example.org:143/INBOX uid 11", status="accepted"
    ).exists()


def test_imap_over_tls_uses_port_993_and_the_named_folder(imap_server):
    FakeIMAP.mailboxes["Complaints"] = FakeIMAP.mailboxes.pop("INBOX")

    output, _ = _run(*IMAP_SERVER, *IMAP_PASSWORD, "--ssl", "--folder", "Complaints")

    connection = FakeIMAP.instances[0]
    assert type(connection).__name__ == "FakeIMAP_SSL"
    assert connection.port == 993
    assert ("starttls",) not in connection.calls
    _assert_verifies(connection.ssl_context)
    assert ("select", "Complaints") in connection.calls
    assert _summary(output).startswith("3 message(s)")


def test_imap_message_whose_ingest_fails_stays_unseen_for_the_next_run(imap_server, monkeypatch):
    real_ingest = command_module.ingest_message

    def failing_for_uid_12(raw, *, source):
        if source.endswith("uid 12"):
            raise RuntimeError("database went away")
        return real_ingest(raw, source=source)

    monkeypatch.setattr(command_module, "ingest_message", failing_for_uid_12)

    output, errors = _run(*IMAP_ARGS, *IMAP_PASSWORD)

    assert "uid 12" in errors
    assert _seen(imap_server) == {b"11", b"13", b"14"}
    assert _summary(output).endswith("1 error")

    monkeypatch.setattr(command_module, "ingest_message", real_ingest)
    output, _ = _run(*IMAP_ARGS, *IMAP_PASSWORD)

    assert _summary(output) == (
        "1 message(s): 0 accepted, 0 held, 0 ignored, 0 quarantined, 0 duplicate, "
        "1 unknown bounce, 0 error"
    )
    assert _seen(imap_server) == {b"11", b"12", b"13", b"14"}


def test_imap_connection_lost_midway_is_a_command_error_after_what_was_done(
    imap_server, monkeypatch
):
    real_init = FakeIMAP.__init__

    def init_aborting_on_12(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.abort_on_fetch = b"12"

    monkeypatch.setattr(FakeIMAP, "__init__", init_aborting_on_12)

    out = StringIO()
    with pytest.raises(CommandError, match="Lost the connection"):
        call_command("ingest_email", *IMAP_ARGS, *IMAP_PASSWORD, stdout=out, stderr=StringIO())

    assert _seen(imap_server) == {b"11", b"13"}  # the first one was committed and flagged
    assert InboundEmail.objects.count() == 1
    assert _summary(out.getvalue()).startswith("1 message(s): 1 accepted")  # what was done


def test_imap_server_unreachable_is_a_command_error(imap_server, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(imaplib, "IMAP4", refuse)

    out = StringIO()
    with pytest.raises(CommandError, match=r"Cannot connect to imap://.*Connection refused"):
        call_command("ingest_email", *IMAP_ARGS, *IMAP_PASSWORD, stdout=out, stderr=StringIO())

    assert out.getvalue() == ""  # only the error, no "0 message(s)" line before it


def test_imap_wrong_password_or_folder_is_a_command_error(imap_server, monkeypatch):
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "wrong")
    with pytest.raises(CommandError, match="AUTHENTICATIONFAILED"):
        _run(*IMAP_ARGS, *IMAP_PASSWORD)

    monkeypatch.setenv("TEST_IMAP_PASSWORD", FakeIMAP.password)
    with pytest.raises(CommandError, match="Cannot open folder 'Nope'"):
        _run(*IMAP_ARGS, *IMAP_PASSWORD, "--folder", "Nope")
    assert _seen(imap_server) == {b"13"}


def test_imap_needs_a_user_and_a_password_from_the_environment(imap_server, monkeypatch):
    with pytest.raises(CommandError, match="--imap needs --user and --password-env"):
        _run("--imap", "imap.example.org")

    monkeypatch.delenv("TEST_IMAP_PASSWORD")
    with pytest.raises(CommandError, match=r"TEST_IMAP_PASSWORD .* is not set"):
        _run(*IMAP_ARGS, *IMAP_PASSWORD)
    assert FakeIMAP.instances == []  # refused before connecting


def test_imap_login_without_tls_is_refused_before_connecting(imap_server):
    with pytest.raises(
        CommandError, match=r"Refusing to log in to imap.example.org:143 without TLS"
    ):
        _run(*IMAP_SERVER, *IMAP_PASSWORD)
    assert FakeIMAP.instances == []

    output, _ = _run(*IMAP_SERVER, *IMAP_PASSWORD, "--allow-plaintext-login")

    connection = FakeIMAP.instances[0]
    assert connection.ssl_context is None
    assert connection.calls[0] == ("login", "complaints")
    assert _summary(output).startswith("3 message(s)")


def test_imap_ca_file_that_cannot_be_read_is_refused_before_connecting(imap_server, tmp_path):
    with pytest.raises(CommandError, match=r"Cannot load the TLS certificates .*nope.pem"):
        _run(*IMAP_ARGS, *IMAP_PASSWORD, "--ca-file", tmp_path / "nope.pem")
    (tmp_path / "garbage.pem").write_text("not a certificate")
    with pytest.raises(CommandError, match=r"Cannot load the TLS certificates .*garbage.pem"):
        _run(*IMAP_ARGS, *IMAP_PASSWORD, "--ca-file", tmp_path / "garbage.pem")
    with pytest.raises(CommandError, match="--ca-file needs --ssl or --starttls"):
        _run(*IMAP_SERVER, *IMAP_PASSWORD, "--allow-plaintext-login", "--ca-file", "x.pem")
    with pytest.raises(CommandError, match="not allowed with argument"):
        _run(*IMAP_ARGS, *IMAP_PASSWORD, "--ssl")
    assert FakeIMAP.instances == []


def test_imap_server_without_starttls_is_refused_before_login(imap_server, monkeypatch):
    monkeypatch.setattr(FakeIMAP, "capabilities", ("IMAP4REV1",))

    with pytest.raises(CommandError, match="does not offer STARTTLS"):
        _run(*IMAP_ARGS, *IMAP_PASSWORD)
    assert FakeIMAP.instances[0].calls == [("shutdown",)]  # dropped before sending a password


def test_a_bounce_of_our_email_is_counted_as_a_bounce(tmp_path, make_complaint, agent):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    ours = EmailDelivery.objects.create(
        outbox=Outbox.objects.filter(complaint_id=complaint.pk).latest("id"),
        complaint_id=complaint.pk,
        recipient=complaint.customer.email,
        kind="acknowledgement",
        subject="We have your complaint",
        body_text="...",
        rfc_message_id=make_msgid(idstring=complaint.reference, domain="redress.invalid"),
        status=EmailStatus.SENT,
    )
    returned = b"20090708054735.GC7578@example.com"  # what the corpus bounce returns
    raw = (EMAILS / "flanker/bounce_zed.eml").read_bytes()
    (tmp_path / "ours.eml").write_bytes(
        raw.replace(returned, ours.rfc_message_id.strip("<>").encode())
    )
    (tmp_path / "stray.eml").write_bytes(raw)

    output, errors = _run(tmp_path / "ours.eml", tmp_path / "stray.eml")

    assert errors == ""
    assert _outcomes(output) == ["bounce", "ignored"]
    assert _summary(output) == (
        "2 message(s): 0 accepted, 0 held, 0 ignored, 0 quarantined, 0 duplicate, "
        "1 bounce, 1 unknown bounce, 0 error"
    )
    ours.refresh_from_db()
    assert ours.status == EmailStatus.FAILED
