"""Attachments in Chromium against a live Redress: a customer attaches a file on the public
form and another on the tracking page (without JavaScript), the agent sees and downloads
both from the complaint page, and an agent of another team and another customer are refused.
Every page passes axe-core, also 390 px wide."""

import importlib
import re
from pathlib import Path

import pytest

from notifications.replay import tracking_token
from recovery.models import Attachment, AttachmentSource, Complaint
from tests.desk.live import (
    LIVE_TIMEOUT_MS,
    assert_accessible,
    csp_violations,
    new_page,
    sign_in,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settled"),
]

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def migrated_defaults(db):
    from django.apps import apps

    importlib.import_module("escalation.migrations.0002_default_policy").add_defaults(apps, None)
    importlib.import_module("recovery.migrations.0005_default_approval_limits").seed(apps, None)


def fits_the_screen(page) -> bool:
    return page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


def downloaded(page, link) -> tuple[str, bytes]:
    with page.expect_download() as waiting:
        link.click()
    download = waiting.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def test_files_from_the_customer_reach_the_agent_and_no_one_else(
    live, browser, agent, other_agent, touchpoint, category, make_complaint, other_customer_user
):
    # 1. The public form, with a file.
    customer = new_page(browser, live.base_url)
    customer.goto("/")
    assert_accessible(customer, "complaint form with its file field")
    customer.get_by_label("Your name").fill("Ada Lovelace")
    customer.get_by_label("Your email address").fill("ada@example.com")
    customer.get_by_label("What happened?").fill("I was charged twice; the receipt is attached.")
    customer.get_by_label("What is it about?").select_option("card-payments")
    customer.get_by_label("Attach files").set_input_files(
        [{"name": "receipt.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    customer.get_by_role("button", name="Send my complaint").click()
    customer.wait_for_url(re.compile(r"/complaint/received/"))
    reference = customer.locator("#reference").inner_text().strip()
    tracking_url = customer.locator(".tracking-link a").get_attribute("href")
    complaint = Complaint.objects.get(reference=reference)

    # 2. The tracking page, on a phone and without JavaScript: a plain form post.
    context = browser.new_context(
        base_url=live.base_url, viewport=PHONE, java_script_enabled=False, locale="en-GB"
    )
    context.set_default_timeout(LIVE_TIMEOUT_MS)
    phone = context.new_page()
    phone.goto(tracking_url)
    phone.get_by_label("Your message").fill("And here is my bank statement.")
    phone.get_by_label("Attach files").set_input_files(
        [{"name": "statement.png", "mimeType": "image/png", "buffer": PNG}]
    )
    phone.get_by_role("button", name="Send message").click()
    phone.wait_for_load_state()
    files = phone.locator("#files li")
    assert files.count() == 2
    assert "receipt.pdf" in files.nth(0).inner_text()
    assert "statement.png" in files.nth(1).inner_text()
    assert fits_the_screen(phone)
    sources = sorted(complaint.attachments.values_list("source", flat=True))
    assert sources == sorted([AttachmentSource.FORM, AttachmentSource.TRACKING])

    # The customer downloads their file from the tracking page (JavaScript on).
    customer.goto(tracking_url)
    assert_accessible(customer, "tracking page with files")
    name, content = downloaded(customer, customer.get_by_role("link", name="receipt.pdf"))
    assert (name, content) == ("receipt.pdf", PDF)

    # 3. The agent of the complaint's team sees both, is told they are unscanned, downloads.
    desk = new_page(browser, live.base_url)
    sign_in(desk, agent.username)
    desk.goto(f"/desk/complaints/{reference}/")
    section = desk.locator("#files")
    assert "No virus scanner is configured" in section.inner_text()
    assert "Not scanned for viruses" in section.inner_text()
    assert_accessible(desk, "complaint page with files")
    assert not csp_violations(desk)
    name, content = downloaded(desk, section.get_by_role("link", name="statement.png"))
    assert (name, content) == ("statement.png", PNG)
    desk.set_viewport_size(PHONE)
    assert_accessible(desk, "complaint page with files, on a phone")

    # 4. An agent of another team, and another customer's tracking link, are refused.
    attachment = Attachment.objects.get(complaint=complaint, filename="receipt.pdf")
    outsider = new_page(browser, live.base_url)
    sign_in(outsider, other_agent.username)
    answer = outsider.request.get(f"/desk/complaints/{reference}/files/{attachment.pk}/")
    assert answer.status == 403
    assert answer.body() != PDF
    other = make_complaint(by=other_customer_user)
    answer = customer.request.get(f"/track/{tracking_token(other.pk)}/files/{attachment.pk}/")
    assert answer.status == 404
    assert answer.body() != PDF
