"""The files of an email that becomes a complaint or a reply go through the upload's checks
(notifications.ingest.attach_to_complaint): kept as the complaint's files, or recorded on its
timeline as refused, with why; never dropped silently."""

import tempfile
from pathlib import Path

import pytest

from notifications.ingest import ingest
from recovery.models import AttachmentSource, Complaint, EventType
from tests.fake_clamd import EICAR, FakeClamd
from tests.notifications.test_ingest import _mail

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"


@pytest.fixture(autouse=True)
def attachment_dir(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.REDRESS_ATTACHMENT_DIR = tmp_path / "attachments"
    settings.REDRESS_CLAMD_ADDRESS = ""


def test_a_new_complaints_files_are_kept_and_a_program_is_recorded_as_refused():
    inbound = ingest(
        _mail(
            attachments=(
                ("receipt.pdf", "application/pdf", PDF),
                ("invoice.pdf", "application/pdf", EXE),
            )
        ),
        source="test",
    )

    complaint = Complaint.objects.get(pk=inbound.complaint_id)
    [kept] = complaint.attachments.all()
    assert (kept.filename, kept.source, kept.content_type) == (
        "receipt.pdf",
        AttachmentSource.EMAIL,
        "application/pdf",
    )
    assert kept.message_id == inbound.message_id
    [refused] = complaint.events.filter(type=EventType.ATTACHMENT_REFUSED)
    assert refused.parameters["filename"] == "invoice.pdf"
    assert "it is a Windows program" in refused.parameters["reason"]
    assert "attachment 'invoice.pdf' refused" in inbound.reason


def test_a_reply_over_the_complaints_limit_records_each_file_refused(
    make_complaint, customer_user, settings
):
    settings.REDRESS_ATTACHMENTS_PER_COMPLAINT = 1
    complaint = make_complaint()
    inbound = ingest(
        _mail(
            sender=f"Customer <{customer_user.customer.email}>",
            subject=f"Re: [{complaint.reference}] your complaint",
            attachments=(
                ("one.pdf", "application/pdf", PDF),
                ("two.txt", "text/plain", b"Second page."),
            ),
        ),
        source="test",
    )

    assert inbound.status == "accepted", inbound.reason
    assert not complaint.attachments.exists()
    refused = complaint.events.filter(type=EventType.ATTACHMENT_REFUSED)
    assert sorted(event.parameters["filename"] for event in refused) == ["one.pdf", "two.txt"]
    assert all("at most 1 files" in event.parameters["reason"] for event in refused)


def test_a_virus_in_an_email_is_refused_when_a_scanner_is_configured(settings, tmp_path):
    server = FakeClamd(Path(tempfile.mkdtemp(prefix="clamd-", dir="/tmp")) / "clamd.sock")
    settings.REDRESS_CLAMD_ADDRESS = server.address
    try:
        inbound = ingest(_mail(attachments=(("eicar.txt", "text/plain", EICAR),)), source="test")
    finally:
        server.close()

    complaint = Complaint.objects.get(pk=inbound.complaint_id)
    assert not complaint.attachments.exists()
    [refused] = complaint.events.filter(type=EventType.ATTACHMENT_REFUSED)
    assert "contains a virus (Eicar-Signature)" in refused.parameters["reason"]
