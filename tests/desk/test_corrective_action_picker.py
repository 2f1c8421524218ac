"""The corrective-action form picks its root causes with the resolve form's type-ahead
picker (static/redress/js/root-cause-picker.js), in a real browser: two causes chosen by
typing, with the keyboard alone, no multi-select, and no serious accessibility violation.

Persona: ``manager`` (a complaints manager) opens the action.
"""

import pytest

from recovery.models import CorrectiveAction
from tests.desk.live import assert_accessible, new_page, sign_in
from tests.desk.test_root_cause_picker import focused, tab_to
from tests.factories import RootCauseFactory

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settled"),
]


def test_two_causes_chosen_by_typing_with_the_keyboard_alone(live, browser, manager, root_causes):
    delivery = RootCauseFactory(code="delivery", name="Delivery")
    RootCauseFactory(code="delivery.late", name="Late delivery", parent=delivery)

    page = new_page(browser, live.base_url)
    sign_in(page, manager.username)
    page.goto("/desk/corrective-actions/new/")
    box = page.get_by_role("combobox", name="Root causes it addresses")
    box.wait_for()
    # The boxes are hidden behind the picker, not gone: they are what is sent.
    assert page.locator("select[multiple]").count() == 0
    assert page.locator(".root-cause-checklist").is_hidden()

    tab_to(page, lambda f: f["name"] == "title")
    page.keyboard.type("Stop double charging")
    tab_to(page, lambda f: f["role"] == "combobox")
    page.keyboard.type("duplicate")
    listbox = page.get_by_role("listbox", name="Root causes it addresses")
    assert (
        listbox.get_by_role("option", selected=True)
        .inner_text()
        .startswith("Billing > Duplicate charge")
    )
    assert_accessible(page, "corrective action form, list open")
    page.keyboard.press("Enter")
    page.keyboard.type("delivery.la")
    page.keyboard.press("Enter")
    chosen = page.locator(".chosen-cause")
    assert [item.inner_text() for item in chosen.locator(".path").all()] == [
        "Billing > Duplicate charge",
        "Delivery > Late delivery",
    ]
    # Every cause counts alike here: none is primary.
    assert "primary" not in page.locator(".chosen-causes").inner_text()
    assert focused(page)["role"] == "combobox"
    assert_accessible(page, "corrective action form, two causes chosen")

    tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "Open the corrective action")
    page.keyboard.press("Enter")
    page.get_by_text("Corrective action “Stop double charging” opened.").wait_for()

    action = CorrectiveAction.objects.get()
    assert sorted(cause.code for cause in action.root_causes.all()) == [
        "billing.duplicate-charge",
        "delivery.late",
    ]
