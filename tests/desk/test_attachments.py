"""Files on the web pages: the public form, the tracking page, the agent's reply, and who
may download what (the customer through their tracking link, staff as the complaint page's
access rule says)."""

import re
from email import message_from_bytes
from email.policy import default as email_policy

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.signals import template_rendered

from notifications import emailing
from notifications.models import EmailDelivery
from notifications.replay import tracking_token
from recovery.models import Attachment, AttachmentSource, Complaint, EventType, ScanStatus
from tests.conftest import acknowledge
from tests.desk.conftest import signed_in
from tests.desk.test_portal import form_data
from tests.notifications.shipped_templates import ensure_default_templates
from tests.notifications.test_delivery import deliver_pending

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"


@pytest.fixture(autouse=True)
def attachment_dir(settings, tmp_path):
    settings.REDRESS_ATTACHMENT_DIR = tmp_path / "attachments"
    settings.REDRESS_CLAMD_ADDRESS = ""
    return settings.REDRESS_ATTACHMENT_DIR


@pytest.fixture
def portal(groups, touchpoint, category):
    return Client()


def upload(name: str, content: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def token_of(complaint: Complaint) -> str:
    return tracking_token(complaint.pk)


# -- the public form -----------------------------------------------------------------------


def test_a_file_sent_with_the_form_is_kept_with_the_complaint(portal):
    answer = portal.post("/", {**form_data(), "attachments": [upload("receipt.pdf", PDF)]})

    assert answer.status_code == 302
    complaint = Complaint.objects.get()
    [attachment] = complaint.attachments.all()
    assert (attachment.filename, attachment.content_type, attachment.source) == (
        "receipt.pdf",
        "application/pdf",
        AttachmentSource.FORM,
    )
    assert attachment.scan_status == ScanStatus.NOT_SCANNED
    assert complaint.events.filter(type=EventType.ATTACHMENT_ADDED).count() == 1


def test_a_disguised_program_is_refused_and_the_complaint_text_kept(portal):
    answer = portal.post(
        "/",
        {
            **form_data(description="The fee was taken twice & nobody answers."),
            "attachments": [upload("invoice.pdf", EXE, "application/pdf")],
        },
    )

    assert answer.status_code == 400
    page = answer.content.decode()
    assert "invoice.pdf” says it is a .pdf file, but it is a Windows program" in page
    assert "What you wrote is kept" in page
    assert "The fee was taken twice &amp; nobody answers." in page
    assert 'enctype="multipart/form-data"' in page
    assert not Complaint.objects.exists()
    assert not Attachment.objects.exists()


def test_too_many_or_too_large_files_are_refused_before_they_are_read(portal, settings):
    settings.REDRESS_ATTACHMENT_MAX_BYTES = 100
    answer = portal.post("/", {**form_data(), "attachments": [upload("big.pdf", PDF * 10)]})
    assert answer.status_code == 400
    assert "files may be at most" in answer.content.decode()

    settings.REDRESS_ATTACHMENT_MAX_BYTES = 10_000
    settings.REDRESS_ATTACHMENTS_PER_COMPLAINT = 2
    answer = portal.post(
        "/", {**form_data(), "attachments": [upload(f"{n}.pdf", PDF) for n in range(3)]}
    )
    assert answer.status_code == 400
    assert "Choose at most 2 files at once." in answer.content.decode()
    assert not Complaint.objects.exists()


def test_the_form_sent_twice_keeps_its_files_once(portal):
    data = {**form_data(), "submission": "one-token"}
    portal.post("/", {**data, "attachments": [upload("receipt.pdf", PDF)]})
    again = portal.post("/", {**data, "attachments": [upload("receipt.pdf", PDF)]})

    assert again.status_code == 302
    assert Complaint.objects.count() == 1
    assert Attachment.objects.count() == 1


# -- the tracking page ---------------------------------------------------------------------


def test_the_customer_attaches_a_file_to_a_reply_and_downloads_it(make_complaint):
    complaint = make_complaint()
    token = token_of(complaint)
    client = Client()

    answer = client.post(
        f"/track/{token}/reply/",
        {"body": "Here is the bank statement.", "attachments": [upload("statement.png", PNG)]},
    )

    assert answer.status_code == 302
    [attachment] = complaint.attachments.all()
    assert attachment.source == AttachmentSource.TRACKING
    assert attachment.message.body == "Here is the bank statement."
    page = client.get(f"/track/{token}/").content.decode()
    link = f"/track/{token}/files/{attachment.pk}/"
    assert f'href="{link}"' in page
    download = client.get(link)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PNG
    assert download["Content-Type"] == "image/png"
    assert download["Content-Disposition"] == 'attachment; filename="statement.png"'
    assert download["X-Content-Type-Options"] == "nosniff"


def test_another_customers_link_does_not_open_the_file(make_complaint, other_customer_user):
    complaint = make_complaint()
    other = make_complaint(by=other_customer_user)
    Client().post(
        f"/track/{token_of(complaint)}/reply/",
        {"body": "Statement attached.", "attachments": [upload("statement.pdf", PDF)]},
    )
    attachment = complaint.attachments.get()

    answer = Client().get(f"/track/{token_of(other)}/files/{attachment.pk}/")

    assert answer.status_code == 404
    assert PDF not in answer.content
    assert Client().get(f"/track/not-a-token/files/{attachment.pk}/").status_code == 404


def test_a_refused_file_on_the_tracking_page_keeps_the_message(make_complaint):
    complaint = make_complaint()
    answer = Client().post(
        f"/track/{token_of(complaint)}/reply/",
        {"body": "My words stay here.", "attachments": [upload("run.pdf", EXE)]},
    )

    assert answer.status_code == 400
    assert "My words stay here." in answer.content.decode()
    assert not complaint.messages.filter(body="My words stay here.").exists()


# -- the desk ------------------------------------------------------------------------------


@pytest.fixture
def with_file(make_complaint):
    complaint = make_complaint()
    Client().post(
        f"/track/{token_of(complaint)}/reply/",
        {"body": "Statement attached.", "attachments": [upload("statement.pdf", PDF)]},
    )
    return complaint, complaint.attachments.get()


def test_the_agent_sees_the_file_says_it_is_unscanned_and_downloads_it(with_file, agent):
    complaint, attachment = with_file
    client = signed_in(agent)

    page = client.get(f"/desk/complaints/{complaint.reference}/").content.decode()

    link = f"/desk/complaints/{complaint.reference}/files/{attachment.pk}/"
    assert f'href="{link}"' in page
    assert "No virus scanner is configured" in page
    assert "File attached: statement.pdf (Tracking page)" in re.sub(r"\s+", " ", page)
    download = client.get(link)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    assert download["Content-Disposition"] == 'attachment; filename="statement.pdf"'
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Cache-Control"] == "private, no-store"


def test_staff_outside_the_team_and_others_are_refused_the_file(
    with_file, other_agent, customer_user, outsider
):
    complaint, attachment = with_file
    link = f"/desk/complaints/{complaint.reference}/files/{attachment.pk}/"

    assert signed_in(other_agent).get(link).status_code == 403
    assert signed_in(customer_user).get(link).status_code == 403
    assert signed_in(outsider).get(link).status_code == 403
    assert Client().get(link).status_code == 302  # to sign in
    # A file number of another complaint is no file of this one.
    missing = f"/desk/complaints/{complaint.reference}/files/{attachment.pk + 1000}/"
    assert signed_in(other_agent).get(missing).status_code == 403
    assert signed_in(outsider).get(missing).status_code == 403


def test_a_file_of_another_complaint_is_not_found_under_this_one(with_file, make_complaint, agent):
    _, attachment = with_file
    other = make_complaint()

    answer = signed_in(agent).get(f"/desk/complaints/{other.reference}/files/{attachment.pk}/")

    assert answer.status_code == 404


def test_the_agents_reply_carries_its_file_in_the_email(make_complaint, agent, settings):
    ensure_default_templates()
    complaint = acknowledge(make_complaint(), agent)
    deliver_pending()
    mail.outbox.clear()
    EmailDelivery.objects.all().delete()

    answer = signed_in(agent).post(
        f"/desk/complaints/{complaint.reference}/reply/",
        {
            "reply-body": "Our refund letter is attached.",
            "reply-attachments": [upload("r.pdf", PDF)],
        },
    )

    assert answer.status_code == 302
    [attachment] = complaint.attachments.all()
    assert attachment.source == AttachmentSource.AGENT and attachment.uploaded_by == agent
    deliver_pending()
    [delivery] = EmailDelivery.objects.filter(message_id=attachment.message_id)
    assert emailing.send(delivery.pk)
    [sent] = mail.outbox
    parsed = message_from_bytes(sent.message().as_bytes(), policy=email_policy)
    [part] = list(parsed.iter_attachments())
    assert part.get_filename() == "r.pdf"
    assert part.get_content_type() == "application/pdf"
    assert part.get_content() == PDF


def test_a_refused_file_on_the_agents_reply_sends_nothing(make_complaint, agent):
    complaint = make_complaint()

    answer = signed_in(agent).post(
        f"/desk/complaints/{complaint.reference}/reply/",
        {"reply-body": "Attached.", "reply-attachments": [upload("tool.pdf", EXE)]},
    )

    assert answer.status_code == 400
    assert "it is a Windows program" in answer.content.decode()
    assert not complaint.messages.filter(body="Attached.").exists()


def test_an_oversized_upload_is_dropped_past_the_limit_not_kept(portal, settings):
    settings.REDRESS_ATTACHMENT_MAX_BYTES = 1024
    shown = []

    def on_render(sender, template, context, **kwargs):
        if context.get("form") is not None:
            shown.extend(
                (upload, upload.read()) for upload in context["form"].files.getlist("attachments")
            )

    template_rendered.connect(on_render)
    try:
        answer = portal.post(
            "/", {**form_data(), "attachments": [upload("huge.pdf", PDF * 10_000)]}
        )
    finally:
        template_rendered.disconnect(on_render)

    assert answer.status_code == 400
    assert "“huge.pdf” is 469 KB; files may be at most 1 KB" in answer.content.decode()
    # What reached the form is a stand-in with the real size and none of the bytes.
    stand_in, kept = shown[0]
    assert stand_in.size == len(PDF) * 10_000
    assert kept == b""
    assert not Complaint.objects.exists()
