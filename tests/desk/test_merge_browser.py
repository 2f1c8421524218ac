"""Merging a duplicate from the agent's complaint page in a real browser (Debian's Chromium,
driven by Playwright, against a live server): the duplicate chosen by its reference, the
confirmation, both timelines and the link between them; each page passes axe-core, and the
confirmation works at a phone's width too.

Personas: ``agent`` works the Billing team's complaints; ``customer_user`` filed both; a
note on the survivor mentions ``supervisor``.
"""

import importlib

import pytest

from recovery.models import Complaint, State
from tests.desk.live import assert_accessible, new_page, sign_in

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settled"),
]


# The live server, the browser and the data migrations' rows, as in test_browser.py.
@pytest.fixture(autouse=True)
def migrated_defaults(db):
    from django.apps import apps

    importlib.import_module("escalation.migrations.0002_default_policy").add_defaults(apps, None)
    importlib.import_module("recovery.migrations.0005_default_approval_limits").seed(apps, None)


def test_merging_a_duplicate_from_the_complaint_page(
    live, browser, agent, supervisor, make_complaint
):
    survivor = make_complaint(subject="Charged twice for order 4411")
    duplicate = make_complaint(subject="Second charge on my card", description="Charged again!")

    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto(f"/desk/complaints/{survivor.reference}/")
    page.get_by_text("Merge a duplicate into this complaint").click()
    page.get_by_label("Reference of the duplicate").fill(duplicate.reference.lower())
    page.get_by_label("Why they are one complaint").fill("Same order, written in twice.")
    page.get_by_role("button", name="Check and merge").click()

    # The confirmation: both complaints side by side, nothing merged yet.
    page.wait_for_selector("h1")
    title = f"Merge {duplicate.reference} into {survivor.reference}?"
    assert page.locator("h1").inner_text() == title
    assert page.get_by_text("Second charge on my card").is_visible()
    assert Complaint.objects.get(pk=duplicate.pk).state == State.RECEIVED
    assert_accessible(page, "merge confirmation")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(page, "merge confirmation at 390 px")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role(
        "button", name=f"Merge {duplicate.reference} into {survivor.reference}"
    ).click()
    page.wait_for_url(f"**/desk/complaints/{survivor.reference}/")

    timeline = page.locator("#timeline")
    assert "merged into this complaint" in timeline.inner_text()
    assert page.get_by_text("Charged again!").is_visible()
    assert_accessible(page, "the survivor after the merge")

    page.locator("#timeline").get_by_role("link", name=duplicate.reference).click()
    page.wait_for_url(f"**/desk/complaints/{duplicate.reference}/")
    assert "as a duplicate of" in page.locator("#timeline").inner_text()
    assert page.locator("#status .state").inner_text() == "Withdrawn"
    assert_accessible(page, "the duplicate after the merge")
    page.locator("#merged-into").get_by_role("link", name=survivor.reference).click()
    page.wait_for_url(f"**/desk/complaints/{survivor.reference}/")

    merged = Complaint.objects.get(pk=duplicate.pk)
    assert (merged.state, merged.duplicate_of_id) == (State.WITHDRAWN, survivor.pk)


def test_a_note_mentioning_a_colleague_highlights_them(
    live, browser, agent, supervisor, make_complaint
):
    complaint = make_complaint()
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto(f"/desk/complaints/{complaint.reference}/")
    page.get_by_text("Add an internal note").click()
    page.get_by_role("textbox", name="Internal note").fill(
        "@supervisor can you approve? @nobody too"
    )
    page.get_by_role("button", name="Add note").click()
    page.wait_for_selector("mark.mention")

    assert page.locator("#notes mark.mention").first.inner_text() == "@supervisor"
    assert "@nobody was not told" in page.locator("#notes").inner_text()
    assert_accessible(page, "a note with mentions")
