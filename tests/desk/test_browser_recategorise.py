"""Changing a complaint's category from its page in a real browser (Debian's Chromium,
driven by Playwright, against a live server): the form opened and sent with the keyboard
alone, a refusal said on the form, axe-core at 1280 and 390 pixels wide.

Personas: ``supervisor`` (of Billing) may change it.
"""

import importlib

import pytest

from recovery.models import Category, Complaint
from tests.desk.live import assert_accessible, new_page, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settled"),
]


# The live server, the browser and the data migrations' rows, as in test_browser.py.
@pytest.fixture(autouse=True)
def migrated_defaults(db):
    from django.apps import apps

    importlib.import_module("escalation.migrations.0002_default_policy").add_defaults(apps, None)


def test_a_supervisor_changes_the_category_with_the_keyboard(
    live, browser, supervisor, make_complaint
):
    cards = Category.objects.create(name="Card payments", slug="card-payments")
    Category.objects.create(name="Fees", slug="fees")
    complaint = make_complaint(subject="Charged a fee twice")
    Complaint.objects.filter(pk=complaint.pk).update(category=cards)

    page = new_page(browser, live.base_url)
    sign_in(page, supervisor.username)
    page.goto(f"/desk/complaints/{complaint.reference}/")
    page.locator("#recategorise summary").focus()
    page.keyboard.press("Enter")
    form = page.locator("#recategorise")
    assert_accessible(page, "category form open")

    # The category it is in already: the service's refusal, said on the form.
    form.get_by_label("New category").select_option(label="Card payments")
    form.get_by_role("button", name="Change category").click()
    page.wait_for_selector("#recategorise .error-summary")
    assert f"{complaint.reference} is already in Card payments." in form.inner_text()
    assert_accessible(page, "category form with an error")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(page, "category form at 390 px")
    page.set_viewport_size({"width": 1280, "height": 900})

    form.get_by_label("New category").select_option(label="Fees")
    form.get_by_label("Reason").fill("A fee, not a card payment")
    form.get_by_label("Reason").press("Enter")
    page.wait_for_selector(".flash-success")

    assert Complaint.objects.get(pk=complaint.pk).category.name == "Fees"
    timeline = page.locator("#timeline").inner_text()
    assert "Category changed: Card payments → Fees" in timeline
