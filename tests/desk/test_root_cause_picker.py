"""The resolve form's root-cause picker (static/redress/js/root-cause-picker.js) in a real
browser: two causes chosen by typing, with the keyboard alone, the recently used cause
offered first, and no serious accessibility violation, list open or closed.

Personas: ``agent`` resolves; ``teammate``, on the same team, resolved another complaint
before, so its cause is the team's recently used one.
"""

import importlib

import pytest

from recovery.models import Complaint, ComplaintRootCause, State
from tests.conftest import acknowledge, resolve
from tests.desk.live import assert_accessible, new_page, sign_in
from tests.factories import RootCauseFactory

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


@pytest.fixture
def taxonomy(root_causes):
    """The shared three causes and a few hundred more, as a real taxonomy has."""
    delivery = RootCauseFactory(code="delivery", name="Delivery")
    for number in range(300):
        RootCauseFactory(
            code=f"delivery.depot-{number:03}", name=f"Depot {number:03}", parent=delivery
        )
    RootCauseFactory(
        code="billing.gateway-retry", name="Gateway retry", parent=root_causes["billing"]
    )
    return root_causes


def focused(page) -> dict:
    return page.evaluate(
        "(() => { const e = document.activeElement;"
        " return {tag: e.tagName, role: e.getAttribute('role') || '', name: e.name || '',"
        " text: e.textContent.trim(), label: e.getAttribute('aria-label') || ''}; })()"
    )


def tab_to(page, is_target, *, limit=80) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if is_target(focused(page)):
            return
    pytest.fail("never reached the control with the Tab key")


def test_two_causes_chosen_by_typing_with_the_keyboard_alone(
    live, browser, agent, teammate, make_complaint, taxonomy
):
    earlier = resolve(
        acknowledge(make_complaint(), teammate), teammate, causes=("billing.refund-delay",)
    )
    assert earlier.state == State.RESOLVED
    complaint = acknowledge(make_complaint(subject="Charged twice"), agent)

    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto(f"/desk/complaints/{complaint.reference}/")
    box = page.get_by_role("combobox", name="Root causes")
    box.wait_for()
    # The served fields are hidden behind the picker, not gone: they are what is sent.
    assert page.locator("select[name='resolve-primary_root_cause']").is_hidden()
    assert page.locator("select[multiple]").count() == 0

    # The outcome (a radio group: one Tab stop, Space checks), then the picker.
    tab_to(page, lambda f: f["name"] == "resolve-outcome")
    page.keyboard.press("Space")
    tab_to(page, lambda f: f["role"] == "combobox")

    # An empty box offers what the team used recently.
    page.keyboard.press("ArrowDown")
    assert box.get_attribute("aria-expanded") == "true"
    listbox = page.get_by_role("listbox", name="Root causes")
    first = listbox.get_by_role("option").first
    assert "Refund delayed" in first.inner_text() and "recently used" in first.inner_text()
    assert_accessible(page, "resolve form, list open")
    page.keyboard.press("Escape")
    assert box.get_attribute("aria-expanded") == "false"

    # Typed: a name, then a code; Enter adds the best match.
    page.keyboard.type("duplicate")
    assert (
        listbox.get_by_role("option", selected=True)
        .inner_text()
        .startswith("Billing > Duplicate charge")
    )
    page.keyboard.press("Enter")
    page.keyboard.type("billing.gate")
    page.keyboard.press("Enter")
    # One too many: Backspace in the empty box takes the last one back.
    page.keyboard.type("depot 042")
    page.keyboard.press("ArrowDown")  # already the only match: stays on it
    page.keyboard.press("Enter")
    chosen = page.locator(".chosen-cause")
    assert chosen.count() == 3
    page.keyboard.press("Backspace")
    assert chosen.count() == 2
    # The second cause's remove button, reached with Tab, removes it; typed, it is back.
    tab_to(page, lambda f: f["label"] == "Remove Billing > Gateway retry")
    page.keyboard.press("Enter")
    assert chosen.count() == 1
    assert focused(page)["role"] == "combobox"
    page.keyboard.type("gateway")
    page.keyboard.press("Enter")
    assert [item.inner_text() for item in chosen.locator(".path").all()] == [
        "Billing > Duplicate charge",
        "Billing > Gateway retry",
    ]
    assert "(primary)" in chosen.first.inner_text()
    assert_accessible(page, "resolve form, two causes chosen")

    tab_to(page, lambda f: f["name"] == "resolve-summary")
    page.keyboard.type("Refunded the duplicate charge.")
    tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "Resolve")
    page.keyboard.press("Enter")
    page.get_by_text("Resolved; the customer has been told the outcome.").wait_for()

    complaint = Complaint.objects.get(pk=complaint.pk)
    assert complaint.state == State.RESOLVED
    assert complaint.outcome == "upheld"
    recorded = ComplaintRootCause.objects.filter(complaint=complaint).order_by("-is_primary")
    assert [(link.root_cause.code, link.is_primary) for link in recorded] == [
        ("billing.duplicate-charge", True),
        ("billing.gateway-retry", False),
    ]
