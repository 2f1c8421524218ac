"""Every .eml of the shared corpus, read twice from a real IMAP mailbox by ``ingest_email``.

The files are APPENDed to Dovecot (tests/mailservers.py) in manifest order and
``manage.py ingest_email`` reads them over IMAPS, verified against the test CA. Each file's
outcome is written below, read through by hand against the file. Then every file is delivered
again and read again: all are duplicates, and nothing new is stored or opened.

Outcomes are those the command counts in its summary. ``accepted`` mail here always opens a
complaint: the corpus's replies answer mail that never reached this mailbox, so nothing is
seeded for them to thread onto.
"""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command

from notifications.ingest import UNKNOWN_BOUNCE as UNKNOWN_BOUNCE_REASON
from notifications.models import InboundEmail, Outbox
from recovery.models import Complaint
from tests.notifications.test_ingest import EMAILS, FILES, requires_corpus

# Starts a real server: with the other real-service tests, in one xdist process.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]

PASSWORD_VARIABLE = "TEST_IMAP_PASSWORD"
# "<status>  <reference>  imap://…/INBOX uid <n>: <reason>", one line per message.
_LINE = re.compile(
    r"^(?P<status>\S+)\s+(?P<reference>\S+)\s+imap://\S+ uid (?P<uid>\d+): (?P<reason>.*)$"
)

OPENED = "accepted"  # a new complaint
AUTOMATIC = "ignored"  # automatic mail: no complaint, no receipt
UNKNOWN_BOUNCE = "unknown bounce"  # a bounce of no email of ours
QUARANTINED = "quarantined"  # kept for an agent: unparseable, or nobody to answer
DUPLICATE = "duplicate"  # an earlier file of this run, delivered again

EXPECTED = {
    "cpython-test_email/msg_01.eml": OPENED,
    "cpython-test_email/msg_02.eml": AUTOMATIC,  # a Mailman digest from ppp-request@
    "cpython-test_email/msg_03.eml": DUPLICATE,  # msg_01 again: same Message-ID, From, To, Subject, body
    "cpython-test_email/msg_04.eml": OPENED,
    "cpython-test_email/msg_05.eml": UNKNOWN_BOUNCE,  # a DSN that names no returned Message-ID
    "cpython-test_email/msg_06.eml": OPENED,
    "cpython-test_email/msg_07.eml": OPENED,
    "cpython-test_email/msg_08.eml": OPENED,
    "cpython-test_email/msg_09.eml": OPENED,
    "cpython-test_email/msg_10.eml": OPENED,
    "cpython-test_email/msg_11.eml": QUARANTINED,  # no From address
    "cpython-test_email/msg_12.eml": OPENED,
    "cpython-test_email/msg_12a.eml": OPENED,
    "cpython-test_email/msg_13.eml": OPENED,
    "cpython-test_email/msg_14.eml": OPENED,  # msg_01's Message-ID, other content: its own message
    "cpython-test_email/msg_15.eml": OPENED,
    "cpython-test_email/msg_16.eml": UNKNOWN_BOUNCE,
    "cpython-test_email/msg_17.eml": OPENED,
    "cpython-test_email/msg_18.eml": QUARANTINED,  # no From header and no body
    "cpython-test_email/msg_19.eml": QUARANTINED,  # no header lines at all
    "cpython-test_email/msg_20.eml": OPENED,
    "cpython-test_email/msg_21.eml": OPENED,
    "cpython-test_email/msg_22.eml": OPENED,
    "cpython-test_email/msg_23.eml": OPENED,
    "cpython-test_email/msg_24.eml": OPENED,
    "cpython-test_email/msg_25.eml": UNKNOWN_BOUNCE,
    "cpython-test_email/msg_26.eml": OPENED,
    "cpython-test_email/msg_27.eml": OPENED,
    "cpython-test_email/msg_28.eml": OPENED,
    "cpython-test_email/msg_29.eml": DUPLICATE,  # msg_01 again, only its Content-Type parameters differ
    "cpython-test_email/msg_30.eml": OPENED,
    "cpython-test_email/msg_31.eml": OPENED,
    "cpython-test_email/msg_32.eml": AUTOMATIC,  # Precedence: bulk
    "cpython-test_email/msg_33.eml": AUTOMATIC,
    "cpython-test_email/msg_34.eml": OPENED,
    "cpython-test_email/msg_35.eml": OPENED,
    "cpython-test_email/msg_36.eml": OPENED,
    "cpython-test_email/msg_37.eml": QUARANTINED,
    "cpython-test_email/msg_38.eml": QUARANTINED,
    "cpython-test_email/msg_39.eml": QUARANTINED,
    "cpython-test_email/msg_40.eml": QUARANTINED,
    "cpython-test_email/msg_41.eml": OPENED,
    "cpython-test_email/msg_42.eml": OPENED,
    "cpython-test_email/msg_43.eml": UNKNOWN_BOUNCE,
    "cpython-test_email/msg_44.eml": OPENED,
    "cpython-test_email/msg_45.eml": OPENED,
    "cpython-test_email/msg_46.eml": OPENED,
    "cpython-test_email/msg_47.eml": OPENED,
    "django-helpdesk/all-special-chars.eml": OPENED,
    "django-helpdesk/blank-body-with-attachment.eml": OPENED,
    "django-helpdesk/forwarded-message.eml": OPENED,
    "django-helpdesk/pgp.eml": OPENED,
    "django-helpdesk/quoted_printable.eml": OPENED,
    "django-helpdesk/utf-nondecodable.eml": OPENED,
    "flanker/8bitmime.eml": OPENED,
    "flanker/apache-message-news-mime.eml": AUTOMATIC,
    "flanker/attached-pdf.eml": QUARANTINED,
    "flanker/bilingual-simple.eml": OPENED,
    "flanker/bounce_broken-mime.eml": AUTOMATIC,  # a plain-text bounce from postmaster naming no Message-ID
    "flanker/bounce_delayed-broken.eml": UNKNOWN_BOUNCE,
    "flanker/bounce_delayed.eml": UNKNOWN_BOUNCE,
    "flanker/bounce_gmail-invalid-address.eml": UNKNOWN_BOUNCE,
    "flanker/bounce_gmail-no-dns.eml": UNKNOWN_BOUNCE,
    "flanker/bounce_gmail-spam-mail.eml": UNKNOWN_BOUNCE,
    "flanker/bounce_mailbox-full.eml": UNKNOWN_BOUNCE,
    "flanker/bounce_no-mx.eml": UNKNOWN_BOUNCE,
    "flanker/bounce_office365.eml": UNKNOWN_BOUNCE,
    "flanker/bounce_zed.eml": UNKNOWN_BOUNCE,
    "flanker/bz2-attachment.eml": OPENED,
    "flanker/charset-gb2312-1.eml": OPENED,
    "flanker/charset-gb2312.eml": OPENED,
    "flanker/complaints_aol.eml": AUTOMATIC,  # an abuse report (ARF)
    "flanker/complaints_yahoo.eml": AUTOMATIC,
    "flanker/dashed-boundaries.eml": OPENED,
    "flanker/disposition-notification.eml": AUTOMATIC,  # a read receipt (MDN)
    "flanker/enclosed-bad-encoding.eml": OPENED,
    "flanker/enclosed-broken-body.eml": OPENED,  # four files share one Message-ID, each its own message
    "flanker/enclosed-broken.eml": OPENED,
    "flanker/enclosed-global.eml": OPENED,
    "flanker/enclosed.eml": OPENED,
    "flanker/encoded-header.eml": OPENED,
    "flanker/false-multipart.eml": OPENED,
    "flanker/from-encoding.eml": AUTOMATIC,
    "flanker/iphone.eml": OPENED,
    "flanker/long-header.eml": OPENED,
    "flanker/long-links.eml": AUTOMATIC,  # from a postmaster address
    "flanker/mailformed-headers.eml": OPENED,
    "flanker/mailgun-pic.eml": OPENED,
    "flanker/message-external-body.eml": AUTOMATIC,
    "flanker/missing-boundaries.eml": OPENED,
    "flanker/missing-final-boundary.eml": OPENED,
    "flanker/multi-received-headers.eml": OPENED,
    "flanker/multipart.eml": OPENED,
    "flanker/no-break-space.eml": QUARANTINED,
    "flanker/no-ctype.eml": OPENED,
    "flanker/no-filename.eml": OPENED,
    "flanker/outlook-express.eml": OPENED,
    "flanker/quoted-printable.eml": OPENED,
    "flanker/relative.eml": OPENED,
    "flanker/russian-attachment-yahoo.eml": OPENED,
    "flanker/signed.eml": OPENED,
    "flanker/spam_broken-base64.eml": OPENED,  # spam is a person's mail as far as ingest can tell
    "flanker/spam_broken-ctype.eml": OPENED,
    "flanker/spam_broken-headers.eml": OPENED,
    "flanker/text-long-line-no-line-breaks.eml": OPENED,
    "flanker/text-only.eml": DUPLICATE,  # no-ctype.eml again, without its Content-Type header
    "flanker/torture-part.eml": OPENED,
}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _deliver_all(dovecot) -> dict[int, str]:
    """APPEND every corpus file in order; the file behind each new UID."""
    before = set(dovecot.all())
    for name in FILES:
        dovecot.deliver((EMAILS / name).read_bytes())
    uids = sorted(set(dovecot.all()) - before)
    return dict(zip(uids, FILES, strict=True))


def _ingest(dovecot, files: dict[int, str]) -> tuple[dict[str, tuple[str, str]], str]:
    """Run the command over IMAPS; (outcome, reason) by file, and the summary line."""
    out = StringIO()
    call_command(
        "ingest_email",
        "--imap", dovecot.host, "--ssl", "--port", str(dovecot.imaps_port),
        "--ca-file", str(dovecot.ca_file),
        "--user", dovecot.user, "--password-env", PASSWORD_VARIABLE,
        stdout=out,
        stderr=StringIO(),
    )  # fmt: skip
    *lines, summary = out.getvalue().splitlines()
    outcomes = {}
    for line in lines:
        match = _LINE.match(line)
        assert match, line
        # A line shows the stored status; the summary counts a bounce of nothing of ours apart.
        outcome = match["status"]
        if outcome == "ignored" and match["reason"].startswith(UNKNOWN_BOUNCE_REASON):
            outcome = UNKNOWN_BOUNCE
        outcomes[files[int(match["uid"])]] = (outcome, match["reason"])
    return outcomes, summary


def _summary(outcomes: list[str]) -> str:
    count = outcomes.count
    return (
        f"{len(outcomes)} message(s): {count(OPENED)} accepted, 0 held, {count(AUTOMATIC)} "
        f"ignored, {count(QUARANTINED)} quarantined, {count(DUPLICATE)} duplicate, "
        + (f"{count(UNKNOWN_BOUNCE)} unknown bounce, " if UNKNOWN_BOUNCE in outcomes else "")
        + "0 error"
    )


@requires_corpus
def test_the_corpus_read_twice_over_imaps_has_the_outcomes_written_and_no_duplicates(
    dovecot, monkeypatch
):
    monkeypatch.setenv(PASSWORD_VARIABLE, dovecot.password)
    assert sorted(EXPECTED) == sorted(FILES)

    outcomes, summary = _ingest(dovecot, _deliver_all(dovecot))

    assert {name: outcome for name, (outcome, _) in outcomes.items()} == EXPECTED
    assert summary == _summary(list(EXPECTED.values()))
    for name, (outcome, reason) in outcomes.items():
        if outcome == OPENED:
            assert reason.startswith("opened RDR-"), (name, reason)
    opened = Complaint.objects.count()
    assert opened == list(EXPECTED.values()).count(OPENED)
    # A receipt for each complaint opened, and for nothing else.
    receipts = Outbox.objects.filter(event_type="complaint.received")
    assert receipts.count() == opened
    assert dovecot.unseen() == []
    stored = InboundEmail.objects.count()

    again, summary = _ingest(dovecot, _deliver_all(dovecot))

    assert {outcome for outcome, _ in again.values()} == {DUPLICATE}
    assert sorted(again) == sorted(FILES)
    assert summary == _summary([DUPLICATE] * len(FILES))
    assert Complaint.objects.count() == opened
    assert InboundEmail.objects.count() == stored
    assert Outbox.objects.filter(event_type="complaint.received").count() == opened
