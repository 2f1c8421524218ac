"""Read customer email from a mailbox or files and ingest each message.

    manage.py ingest_email --imap imap.example.com --ssl --user complaints \\
        --password-env REDRESS_IMAP_PASSWORD [--folder INBOX] [--ca-file private-ca.pem]
    manage.py ingest_email --imap imap.example.com --starttls ...
    manage.py ingest_email --maildir /var/mail/complaints
    manage.py ingest_email --mbox export.mbox
    manage.py ingest_email message.eml more-messages/

Each message goes through ``notifications.ingest`` (one transaction each) and gets a line of
output; a summary follows. A bad message is stored as quarantined (or, if even that fails, counted
as an error) and the run goes on. Only a source that cannot be reached or opened stops the run,
with a ``CommandError`` (exit status 1).

IMAP: over TLS (``--ssl``) or STARTTLS (``--starttls``), with the certificate and host name
verified (``notifications.imap``); logging in without TLS needs ``--allow-plaintext-login``.
The unseen messages of the folder are fetched with ``BODY.PEEK[]`` (which leaves them
unseen) and each is flagged ``\\Seen`` only after its ingest committed, so a crash or error leaves
it for the next run; running twice is harmless either way, because ingest is idempotent.
Maildir, mbox and files are only read: every run reads them whole, and messages already stored
count as duplicates.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import mailbox
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from notifications.imap import (
    DEFAULT_PORTS,
    ImapConnectError,
    ImapServer,
    Security,
    imap_connect,
)
from notifications.ingest import IngestResult, ingest_message

logger = logging.getLogger(__name__)

# Seconds to wait on the IMAP server per network operation: long enough for a slow server
# sending a 25 MiB message, short enough that a dead one does not hang a cron job.
IMAP_TIMEOUT_SECONDS = 60
# imaplib's exceptions: ``error`` for a refused command, ``abort`` for a broken connection.
IMAPError = imaplib.IMAP4.error
IMAPAbort = imaplib.IMAP4.abort
OUTCOMES = ("accepted", "held", "ignored", "quarantined", "duplicate", "error")
# Counted after those, and only when there are any: bounces recorded on our emails, and
# bounces of mail we never sent (ignored).
BOUNCE_OUTCOMES = ("bounce", "unknown bounce")

# A message read lazily, so reading one bad message fails only that message.
Pending = tuple[str, Callable[[], bytes]]


class SourceUnreachable(Exception):
    pass


class Command(BaseCommand):
    help = "Ingest customer email from IMAP, a Maildir, an mbox, or .eml files and directories."

    def add_arguments(self, parser):
        parser.add_argument(
            "paths", nargs="*", metavar="FILE_OR_DIR", help=".eml files, or directories of them"
        )
        parser.add_argument("--imap", metavar="HOST", help="IMAP server to read unseen mail from")
        parser.add_argument("--port", type=int, help="IMAP port (default 993 with --ssl, else 143)")
        security = parser.add_mutually_exclusive_group()
        security.add_argument(
            "--ssl", action="store_true", help="IMAP over TLS from the start (IMAPS)"
        )
        security.add_argument(
            "--starttls", action="store_true", help="upgrade the plain connection with STARTTLS"
        )
        parser.add_argument(
            "--ca-file",
            metavar="PATH",
            help="PEM bundle of the CAs to trust for the server's certificate, instead of the "
            "system's (a private CA)",
        )
        parser.add_argument(
            "--allow-plaintext-login",
            action="store_true",
            help="log in without TLS, the password in clear: for local test servers only",
        )
        parser.add_argument("--user", help="IMAP user name")
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="name of the environment variable holding the IMAP password",
        )
        parser.add_argument("--folder", default="INBOX", help="IMAP folder (default INBOX)")
        parser.add_argument("--maildir", action="append", default=[], metavar="PATH")
        parser.add_argument("--mbox", action="append", default=[], metavar="PATH")

    def handle(self, *args, **options):
        if not (options["imap"] or options["maildir"] or options["mbox"] or options["paths"]):
            raise CommandError("Nothing to read: give --imap, --maildir, --mbox or .eml paths.")
        # Check every local source before ingesting anything, so a typo fails fast.
        sources: list[Iterator[Pending]] = [
            *(self._maildir(Path(path)) for path in options["maildir"]),
            *(self._mbox(Path(path)) for path in options["mbox"]),
        ]
        if options["paths"]:
            sources.append(self._files([Path(path) for path in options["paths"]]))
        imap = self._imap_settings(options) if options["imap"] else None

        tally: Counter[str] = Counter()
        try:
            for source in sources:
                for label, read in source:
                    self._ingest_one(label, read, tally)
            if imap is not None:
                self._ingest_imap(imap, tally)
        except SourceUnreachable as exc:
            # What was done before the failure is worth a count; "0 message(s)" before a
            # connection error (a TLS refusal) only hides the error under a harmless line.
            if tally:
                self._summary(tally)
            raise CommandError(str(exc)) from exc
        self._summary(tally)

    # one message -----------------------------------------------------------------------------

    def _ingest_one(self, label: str, read: Callable[[], bytes], tally: Counter) -> bool:
        """Ingest one message; True when its outcome is committed (stored or duplicate)."""
        try:
            result: IngestResult = ingest_message(read(), source=label)
        except Exception as exc:
            # ingest stores bad mail rather than raising; this is an unreadable file or the
            # database failing. Count it and go on with the next message.
            logger.exception("Could not ingest %s", label)
            tally["error"] += 1
            self.stderr.write(f"{'error':<12}{'-':<17}{label}: {type(exc).__name__}: {exc}")
            return False
        tally[result.outcome] += 1
        outcome = "duplicate" if result.duplicate else result.inbound.status
        reference = result.reference or "-"
        self.stdout.write(f"{outcome:<12}{reference:<17}{label}: {result.inbound.reason}")
        return True

    def _summary(self, tally: Counter) -> None:
        total = sum(tally.values())
        bounces = [outcome for outcome in BOUNCE_OUTCOMES if tally[outcome]]
        shown = [*OUTCOMES[:-1], *bounces, OUTCOMES[-1]]  # "error" stays last
        parts = ", ".join(f"{tally[outcome]} {outcome}" for outcome in shown)
        self.stdout.write(f"{total} message(s): {parts}")

    # local sources ---------------------------------------------------------------------------

    def _maildir(self, path: Path) -> Iterator[Pending]:
        if not (path / "cur").is_dir() or not (path / "new").is_dir():
            raise CommandError(f"{path} is not a Maildir (it needs cur/ and new/ folders).")
        box = mailbox.Maildir(path, factory=None, create=False)
        return self._mailbox_messages(box, f"maildir:{path}")

    def _mbox(self, path: Path) -> Iterator[Pending]:
        if not path.is_file():
            raise CommandError(f"{path} is not an mbox file.")
        box = mailbox.mbox(path, factory=None, create=False)
        return self._mailbox_messages(box, f"mbox:{path}")

    def _mailbox_messages(self, box: mailbox.Mailbox, prefix: str) -> Iterator[Pending]:
        try:
            keys = sorted(box.keys())  # mbox: numbers in file order; Maildir: by time
        except OSError as exc:
            raise SourceUnreachable(f"Cannot read {prefix}: {exc}") from exc
        for key in keys:
            yield f"{prefix}#{key}", lambda key=key: box.get_bytes(key)

    def _files(self, paths: list[Path]) -> Iterator[Pending]:
        missing = [str(path) for path in paths if not path.exists()]
        if missing:
            raise CommandError(f"No such file or directory: {', '.join(missing)}")
        files: list[Path] = []
        for path in paths:
            files.extend(sorted(path.rglob("*.eml")) if path.is_dir() else [path])
        return ((f"file:{file}", file.read_bytes) for file in files)

    # IMAP ------------------------------------------------------------------------------------

    def _imap_settings(self, options) -> dict:
        if not options["user"] or not options["password_env"]:
            raise CommandError("--imap needs --user and --password-env.")
        password = os.environ.get(options["password_env"])
        if not password:
            raise CommandError(
                f"The environment variable {options['password_env']} (--password-env) is not set."
            )
        if options["ssl"]:
            security = Security.TLS
        elif options["starttls"]:
            security = Security.STARTTLS
        else:
            security = Security.PLAIN
        server = ImapServer(
            host=options["imap"],
            port=options["port"] or DEFAULT_PORTS[security],
            security=security,
            ca_file=options["ca_file"],
            allow_plaintext_login=options["allow_plaintext_login"],
        )
        try:
            server.tls_context()  # refuse plaintext or a bad CA file before reading anything
        except ImapConnectError as exc:
            raise CommandError(str(exc)) from exc
        return {
            "server": server,
            "user": options["user"],
            "password": password,
            "folder": options["folder"],
        }

    def _ingest_imap(self, imap: dict, tally: Counter) -> None:
        server: ImapServer = imap["server"]
        where = f"imap://{imap['user']}@{server.host}:{server.port}/{imap['folder']}"
        try:
            connection = imap_connect(server, timeout=IMAP_TIMEOUT_SECONDS)
        except ImapConnectError as exc:
            raise SourceUnreachable(f"Cannot connect to {where}: {exc}") from exc
        try:
            uids = self._imap_unseen(connection, imap, where)
            for uid in uids:
                label = f"{where} uid {uid.decode()}"
                try:
                    raw = self._imap_fetch(connection, uid)
                except IMAPAbort as exc:
                    raise SourceUnreachable(f"Lost the connection to {where}: {exc}") from exc
                except (IMAPError, ValueError) as exc:
                    tally["error"] += 1
                    self.stderr.write(f"{'error':<12}{'-':<17}{label}: could not fetch: {exc}")
                    continue
                if self._ingest_one(label, lambda raw=raw: raw, tally):
                    try:
                        # Only now, after the commit: a message that failed stays unseen.
                        connection.uid("STORE", uid, "+FLAGS", "(\\Seen)")
                    except IMAPAbort as exc:
                        raise SourceUnreachable(f"Lost the connection to {where}: {exc}") from exc
                    except IMAPError as exc:
                        self.stderr.write(f"{label}: stored, but could not flag \\Seen: {exc}")
        finally:
            with contextlib.suppress(Exception):
                connection.close()
            with contextlib.suppress(Exception):
                connection.logout()

    def _imap_unseen(self, connection, imap: dict, where: str) -> list[bytes]:
        try:
            connection.login(imap["user"], imap["password"])
            status, _ = connection.select(imap["folder"])
            if status != "OK":
                raise SourceUnreachable(f"Cannot open folder {imap['folder']!r} on {where}.")
            status, data = connection.uid("SEARCH", None, "UNSEEN")
        except (OSError, IMAPError) as exc:
            raise SourceUnreachable(f"Cannot read {where}: {exc}") from exc
        if status != "OK":
            raise SourceUnreachable(f"Cannot search {where}: {data!r}")
        return (data[0] or b"").split() if data else []

    def _imap_fetch(self, connection, uid: bytes) -> bytes:
        # BODY.PEEK[] fetches the whole message without setting \Seen (RFC 3501 6.4.5).
        status, data = connection.uid("FETCH", uid, "(BODY.PEEK[])")
        if status != "OK":
            raise IMAPError(f"FETCH answered {status}: {data!r}")
        for item in data or []:
            if isinstance(item, tuple) and len(item) == 2:
                return bytes(item[1])
        raise ValueError("the server returned no message body")
