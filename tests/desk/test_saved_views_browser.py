"""Saved views in a real browser (Debian's Chromium, Playwright, a live server): saving the
filtered queue as a view and sharing it on a phone's width, and saving one without
JavaScript; the form and the view's page pass axe-core and never scroll sideways.

Personas: ``supervisor`` leads ``team``; ``agent`` works it and sees the shared view.
"""

import pytest

from recovery.models import SavedView
from tests.desk.live import assert_accessible, sign_in
from tests.desk.test_browser_layout import PHONE, page_width, wider_than_the_screen

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settled"),
]


def test_a_supervisor_saves_and_shares_a_view_on_a_phone(
    live, browser, supervisor, agent, team, make_complaint
):
    critical = make_complaint(subject="Card stopped working", severity="critical")
    make_complaint(subject="Statement late", severity="low")
    context = browser.new_context(base_url=live.base_url, viewport=PHONE, is_mobile=True)
    page = context.new_page()
    sign_in(page, supervisor.username)

    page.goto("/desk/team/?severity=critical")
    page.get_by_role("link", name="Save as a view").click()
    page.wait_for_url("**/desk/views/new/?scope=team&severity=critical")
    assert page_width(page) <= PHONE["width"], wider_than_the_screen(page)
    assert_accessible(page, "save a view")
    page.get_by_label("Name of the view").fill("Critical cards")
    page.get_by_label("Subject").check()
    page.get_by_label("Assignee").check()
    page.get_by_label("Share with a team").select_option(label=team.name)
    page.get_by_role("button", name="Save the view").click()

    page.wait_for_url("**/desk/views/*/")
    view = SavedView.objects.get()
    assert page.url.endswith(f"/desk/views/{view.pk}/")
    assert (view.team_id, view.parameters, view.columns) == (
        team.pk,
        {"severity": "critical"},
        ["subject", "assignee"],
    )
    assert page.get_by_role("heading", level=1).inner_text() == "Critical cards"
    rows = page.locator("tr[data-reference]")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-reference") == critical.reference
    headers = page.locator("table.queue th").all_inner_texts()
    # The bulk bar's selection box heads every queue, whatever the view's columns.
    assert headers == ["Selected", "Reference", "Subject", "Assignee"]
    menu = page.get_by_role("navigation", name="Saved views")
    assert "Critical cards" in menu.inner_text() and "1" in menu.inner_text()
    assert page_width(page) <= PHONE["width"], wider_than_the_screen(page)
    assert_accessible(page, "a saved view on a phone")
    context.close()

    # A teammate finds it in the menu of their own queue.
    context = browser.new_context(base_url=live.base_url)
    page = context.new_page()
    sign_in(page, agent.username)
    page.goto("/desk/")
    page.get_by_role("navigation", name="Saved views").get_by_role("link").click()
    page.wait_for_url(f"**/desk/views/{view.pk}/")
    assert page.locator("tr[data-reference]").count() == 1
    context.close()


def test_a_view_is_saved_without_javascript(live, browser, agent):
    # Nothing here evaluates script in the page: with JavaScript off, Playwright's own
    # evaluation would never answer.
    context = browser.new_context(base_url=live.base_url, java_script_enabled=False)
    context.set_default_timeout(30_000)
    page = context.new_page()
    sign_in(page, agent.username)

    page.goto("/desk/team/?channel=phone")
    page.get_by_role("link", name="Save as a view").click()
    page.get_by_label("Name of the view").fill("Phone")
    page.get_by_role("button", name="Save the view").click()

    page.wait_for_url("**/desk/views/*/")
    assert page.get_by_role("heading", level=1).inner_text() == "Phone"
    assert SavedView.objects.get().parameters == {"channel": "phone"}
    context.close()


def test_a_wrong_filter_is_refused_with_the_summary_in_focus(live, browser, agent):
    context = browser.new_context(base_url=live.base_url)
    page = context.new_page()
    sign_in(page, agent.username)

    page.goto("/desk/views/new/?scope=team&channel=pigeon")
    page.get_by_label("Name of the view").fill("Pigeons")
    page.get_by_role("button", name="Save the view").click()

    summary = page.locator(".error-summary")
    assert "There is no channel called “pigeon”." in summary.inner_text()
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    assert_accessible(page, "a refused saved view")
    assert not SavedView.objects.exists()
    context.close()
