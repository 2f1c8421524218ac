"""Attaching files to a complaint (recovery.services.attachments): the checks from the bytes,
the virus scan over a real socket, storage under random names, the per-complaint limits
under the row lock, and the timeline."""

import tempfile
import threading
from pathlib import Path

import pytest
from django.db import close_old_connections

from common.errors import ValidationFailed
from recovery.models import (
    STAFF_ONLY_EVENT_TYPES,
    Attachment,
    AttachmentSource,
    ComplaintEvent,
    EventType,
    ScanStatus,
)
from recovery.services import attachments
from tests.fake_clamd import EICAR, FakeClamd

# The storage, the checks and the row lock are the same on the embedded mode's SQLite.
pytestmark = pytest.mark.sqlite

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"


@pytest.fixture(autouse=True)
def attachment_dir(settings, tmp_path):
    settings.REDRESS_ATTACHMENT_DIR = tmp_path / "attachments"
    settings.REDRESS_CLAMD_ADDRESS = ""
    return settings.REDRESS_ATTACHMENT_DIR


@pytest.fixture
def clamd(settings):
    # A short path: a Unix socket's name is limited to about 100 bytes.
    folder = Path(tempfile.mkdtemp(prefix="clamd-", dir="/tmp"))
    server = FakeClamd(folder / "clamd.sock")
    settings.REDRESS_CLAMD_ADDRESS = server.address
    yield server
    server.close()


def stored_files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


# -- checking one upload -------------------------------------------------------------------


def test_without_a_scanner_a_file_is_accepted_and_marked_not_scanned():
    checked = attachments.upload_check(name="receipt.pdf", content=PDF)

    assert checked.content_type == "application/pdf"
    assert checked.filename == "receipt.pdf"
    assert checked.scan_status == ScanStatus.NOT_SCANNED


def test_a_program_named_as_a_pdf_is_refused_saying_so():
    with pytest.raises(ValidationFailed) as refused:
        attachments.upload_check(name="invoice.pdf", content=EXE)

    assert "“invoice.pdf” says it is a .pdf file, but it is a Windows program" in (
        refused.value.message
    )
    assert refused.value.details == {"attachments": [refused.value.message]}


def test_a_file_over_the_size_limit_is_refused_with_both_sizes(settings):
    settings.REDRESS_ATTACHMENT_MAX_BYTES = 1024 * 1024

    with pytest.raises(ValidationFailed) as refused:
        attachments.upload_check(name="scan.pdf", content=PDF + b"0" * (2 * 1024 * 1024))

    assert "“scan.pdf” is 2 MB; files may be at most 1 MB" in refused.value.message


def test_a_clean_file_is_scanned_over_the_clamd_socket(clamd):
    checked = attachments.upload_check(name="receipt.pdf", content=PDF)

    assert checked.scan_status == ScanStatus.CLEAN
    assert clamd.scanned == [PDF]


def test_an_infected_file_is_refused_naming_the_virus(clamd):
    with pytest.raises(ValidationFailed) as refused:
        attachments.upload_check(name="notes.txt", content=b"see: " + EICAR)

    assert "contains a virus (Eicar-Signature)" in refused.value.message
    assert len(clamd.scanned) == 1


def test_a_configured_scanner_that_cannot_be_reached_refuses_the_file(settings, tmp_path):
    settings.REDRESS_CLAMD_ADDRESS = f"unix:{tmp_path}/nobody-listens.sock"

    with pytest.raises(ValidationFailed) as refused:
        attachments.upload_check(name="receipt.pdf", content=PDF)

    assert "could not be checked for viruses just now" in refused.value.message


# -- storing files on a complaint ----------------------------------------------------------


@pytest.mark.django_db
def test_files_are_stored_under_random_names_and_recorded(make_complaint, agent, attachment_dir):
    complaint = make_complaint()
    checked = attachments.upload_check(name="../../my receipt.pdf", content=PDF)

    [attachment] = attachments.attachments_add(
        complaint=complaint, files=[checked], source=AttachmentSource.AGENT, actor=agent
    )

    [path] = stored_files(attachment_dir)
    assert path.read_bytes() == PDF
    assert "receipt" not in path.name and path.suffix == ".pdf"
    assert attachment.filename == "my receipt.pdf"
    assert attachment.size == len(PDF) and attachment.uploaded_by == agent
    event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.ATTACHMENT_ADDED)
    assert event.parameters["attachment_id"] == attachment.pk
    assert event.parameters["scan"] == ScanStatus.NOT_SCANNED
    assert EventType.ATTACHMENT_ADDED in STAFF_ONLY_EVENT_TYPES


@pytest.mark.django_db
def test_the_per_complaint_count_and_total_are_kept(
    make_complaint, agent, settings, attachment_dir
):
    settings.REDRESS_ATTACHMENTS_PER_COMPLAINT = 2
    complaint = make_complaint()
    one = attachments.upload_check(name="a.pdf", content=PDF)
    attachments.attachments_add(complaint=complaint, files=[one], source=AttachmentSource.FORM)

    with pytest.raises(ValidationFailed) as refused:
        attachments.attachments_add(
            complaint=complaint, files=[one, one], source=AttachmentSource.FORM
        )
    assert f"{complaint.reference} has 1, so 1 more can be added" in refused.value.message

    settings.REDRESS_ATTACHMENTS_TOTAL_BYTES = len(PDF) + 10
    with pytest.raises(ValidationFailed, match="may take at most"):
        attachments.attachments_add(complaint=complaint, files=[one], source=AttachmentSource.FORM)

    # Nothing of the refused calls is left behind: no row, no file, no event.
    assert Attachment.objects.filter(complaint=complaint).count() == 1
    assert len(stored_files(attachment_dir)) == 1
    assert complaint.events.filter(type=EventType.ATTACHMENT_ADDED).count() == 1


@pytest.mark.django_db
def test_a_refused_part_is_recorded_for_staff(make_complaint):
    complaint = make_complaint()

    attachments.attachment_refused(
        complaint=complaint, filename="setup.exe", reason="it is a Windows program"
    )

    event = complaint.events.get(type=EventType.ATTACHMENT_REFUSED)
    assert event.parameters == {
        "filename": "setup.exe",
        "reason": "it is a Windows program",
        "source": "email",
    }
    assert EventType.ATTACHMENT_REFUSED in STAFF_ONLY_EVENT_TYPES


@pytest.mark.django_db(transaction=True)
def test_two_uploads_at_once_cannot_both_take_the_last_place(
    make_complaint, settings, attachment_dir
):
    settings.REDRESS_ATTACHMENTS_PER_COMPLAINT = 1
    complaint = make_complaint()
    checked = attachments.upload_check(name="a.pdf", content=PDF)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def upload():
        try:
            barrier.wait()
            attachments.attachments_add(
                complaint=complaint, files=[checked], source=AttachmentSource.TRACKING
            )
            outcomes.append("stored")
        except ValidationFailed:
            outcomes.append("refused")
        finally:
            close_old_connections()

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["refused", "stored"]
    assert Attachment.objects.filter(complaint=complaint).count() == 1
    assert len(stored_files(attachment_dir)) == 1
