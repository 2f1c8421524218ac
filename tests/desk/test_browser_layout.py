"""How the pages lay out in a real browser (Debian's Chromium, Playwright, a live server):

- on a phone (390 x 844 CSS pixels, an iPhone 12 to 15) the queue, the complaint page, the
  board and the Pareto page never scroll sideways, however long the words people wrote; a
  table too wide for the screen scrolls inside its own box, and the forms take the screen's
  width;
- on a phone each queue row is a card whose link is on the first screen, the filters and
  the bulk bar folded behind their summaries;
- a long story is clamped to its first lines until "Show all" is opened (no JavaScript);
- after a form error, on the desk and on the portal, the focus is on the error summary.
"""

import re

import pytest

from recovery.models import Complaint, Customer
from tests.desk.live import (
    assert_accessible,
    new_page,
    sign_in,
    wait_until_live,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settled"),
]

PHONE = {"width": 390, "height": 844}
LONG_URL = "https://shop.example.com/orders/" + "a1b2c3d4e5" * 27  # 302 characters, no break
LONG_EMAIL = ("firstname.middlename.lastname.accounts-payable." * 2)[:-1] + (
    "@subsidiary.holding-company-with-a-long-name.example.co.uk"
)
LONG_SUBJECT = "Charged twice for order " + "ORD-2026-000000000000000000000000000000000000000000000"


def phone_page(browser, base_url):
    context = browser.new_context(
        base_url=base_url, viewport=PHONE, device_scale_factor=3, is_mobile=True, has_touch=True
    )
    return context.new_page()


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def wider_than_the_screen(page) -> list[str]:
    """The elements that stick out past the phone's right edge, outside a box of their own
    that scrolls (for the failure's message: a phone's layout widens to its content)."""
    return page.evaluate(
        """(width) => [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > width + 0.5)
          .filter((e) => !e.parentElement.closest('.table-wrap'))
          .slice(0, 8)
          .map((e) => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(
            e.getBoundingClientRect().right)}px`)""",
        PHONE["width"],
    )


def test_the_queue_and_the_complaint_page_fit_a_phone(live, browser, agent, make_complaint):
    complaint = make_complaint(
        subject=LONG_SUBJECT,
        description=f"The order page {LONG_URL} shows two payments.\nWrite to me at {LONG_EMAIL}",
        remedy_sought=f"Refund the second payment; details at {LONG_URL}",
    )
    Customer.objects.filter(pk=complaint.customer_id).update(email=LONG_EMAIL)
    assert len(LONG_URL) >= 300 and len(LONG_EMAIL) > 100
    page = phone_page(browser, live.base_url)
    sign_in(page, agent.username)

    page.goto("/desk/team/")
    wait_until_live(page)
    assert page.locator(f"tr[data-reference='{complaint.reference}']").count() == 1
    assert page_width(page) <= PHONE["width"], wider_than_the_screen(page)
    # The table scrolls inside its own box; the filters' fields take the screen's width.
    wrap = page.locator(".table-wrap")
    assert wrap.evaluate("(e) => getComputedStyle(e).overflowX") == "auto"
    assert wrap.evaluate("(e) => e.getBoundingClientRect().right") <= PHONE["width"]
    search = page.get_by_label(re.compile("^Search"))
    assert search.evaluate("(e) => e.getBoundingClientRect().right") <= PHONE["width"]

    page.goto(f"/desk/complaints/{complaint.reference}/")
    wait_until_live(page)
    assert page_width(page) <= PHONE["width"], wider_than_the_screen(page)
    # Forms take the width of the screen less the page's margins.
    message = page.get_by_label("Acknowledgement to the customer")
    box = message.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert box["width"] >= PHONE["width"] * 0.75
    assert_accessible(page, "complaint page on a phone")
    page.context.close()


# The queue's first row as a phone shows it: where its parts are, whether they show.
FIRST_ROW = """() => {
  const row = document.querySelector("#queue tbody tr");
  const part = (selector) => {
    const e = row.querySelector(selector);
    const r = e.getBoundingClientRect();
    return {text: e.innerText, left: r.left, right: r.right, bottom: r.bottom,
            visible: r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden"};
  };
  return {
    reference: row.dataset.reference,
    link: part("a[href*='/desk/complaints/']"),
    subject: part("td:not([class]):not([data-label])"),
    customer: part("td[data-label='Customer']"),
    state: part("td[data-label='State']"),
    risk: part("td.deadline .badge"),
    deadline: part("td.deadline time"),
  };
}"""


def test_the_queue_is_read_and_opened_on_a_phone_without_scrolling_sideways(
    live, browser, agent, make_complaint, default_sla
):
    """Each row is a card: its reference link, subject, customer, state and deadline on the
    screen; the filters and the bulk bar folded behind their summaries, so that the first
    row is on the first screen."""
    complaints = [make_complaint(subject=LONG_SUBJECT) for _ in range(3)]
    Complaint.objects.filter(pk=complaints[0].pk).update(assignee=agent)
    page = phone_page(browser, live.base_url)
    sign_in(page, agent.username)

    for queue in ("/desk/team/", "/desk/"):
        page.goto(queue)
        wait_until_live(page)
        # The deadlines' clocks start in the worker: the rows show them once it has.
        page.wait_for_function(
            "() => [...document.querySelectorAll('#queue tbody tr')].every("
            "(row) => row.querySelector('td.deadline time'))"
        )
        # Read at once: a live refresh may redraw the rows between two questions.
        row = page.evaluate(FIRST_ROW)
        link = row["link"]
        assert link["text"] == row["reference"]
        assert link["left"] >= 0 and link["right"] <= PHONE["width"], (queue, link)
        assert link["bottom"] <= PHONE["height"], (queue, link)  # on the first screen
        # The subject, the customer, the state and the deadline are on the screen too.
        for part in ("subject", "customer", "state", "risk", "deadline"):
            shown = row[part]
            assert shown["visible"] and shown["right"] <= PHONE["width"], (queue, part, shown)
        assert LONG_SUBJECT in row["subject"]["text"]
        assert complaints[0].customer.name in row["customer"]["text"]
        assert page_width(page) <= PHONE["width"], wider_than_the_screen(page)
        wrap = page.locator(".table-wrap")
        assert wrap.evaluate("(e) => e.scrollWidth <= e.clientWidth"), queue  # nor inside
        assert not page.get_by_role("search").is_visible()
        assert not page.locator("#bulk-form").is_visible()
        assert_accessible(page, f"{queue} on a phone")

    # The filters unfold from their summary and take the screen's width; so does "/".
    page.locator("summary", has_text="Filters").click()
    search = page.get_by_label(re.compile("^Search"))
    assert search.is_visible()
    assert search.evaluate("(e) => e.getBoundingClientRect().right") <= PHONE["width"]
    page.locator("summary", has_text="Bulk actions").click()
    assert page.get_by_role("button", name="Apply to the selected").is_visible()
    assert page_width(page) <= PHONE["width"], wider_than_the_screen(page)
    page.goto("/desk/team/")
    wait_until_live(page)
    page.keyboard.press("/")
    assert search.is_visible() and search.evaluate("(e) => e === document.activeElement")
    # Wider, the filters and the bar are open and their summaries out of sight.
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.get_by_role("search").is_visible() and page.locator("#bulk-form").is_visible()
    assert not page.locator("summary", has_text="Filters").is_visible()
    page.context.close()


def test_a_long_story_opens_with_show_all(live, browser, agent, make_complaint):
    story = "First line of a long story.\n" + "It went on and on. " * 1000 + "THE END"
    complaint = make_complaint(description=story)
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto(f"/desk/complaints/{complaint.reference}/")
    text = page.locator(".long-text > .story")
    closed = text.bounding_box()["height"]
    assert closed < 200  # six lines, not the whole story
    assert "THE END" in text.inner_text()  # there, and read out by screen readers
    assert_accessible(page, "complaint page with a long story")

    page.get_by_text("Show all").click()

    assert text.bounding_box()["height"] > 10 * closed
    assert page.get_by_text("Show less").is_visible()
    page.close()


def focused(page) -> dict:
    return page.evaluate(
        "(() => { const e = document.activeElement;"
        " return {tag: e.tagName, cls: e.className, role: e.getAttribute('role'),"
        " text: e.innerText.slice(0, 200)}; })()"
    )


def test_after_a_form_error_on_the_desk_the_focus_is_on_the_error_summary(
    live, browser, agent, make_complaint
):
    complaint = make_complaint()
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto(f"/desk/complaints/{complaint.reference}/")
    page.get_by_label("Acknowledgement to the customer").fill("Thank you for writing.")
    page.get_by_role("button", name="Acknowledge and send").click()
    page.wait_for_url(re.compile(r"/acknowledge/$"))

    now = focused(page)
    assert now["cls"] == "error-summary" and now["role"] == "alert", now
    assert "must name the complaint's reference" in now["text"]
    # From there, Tab reaches the link to the field in error.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == (
        "#id_acknowledge-message"
    )
    page.close()


def test_after_a_form_error_on_the_portal_the_focus_is_on_the_error_summary(
    live, browser, touchpoint, category
):
    page = new_page(browser, live.base_url)
    page.goto("/")
    page.get_by_label("Your name").fill("Grace Hopper")
    # The server's answer, not the browser's own check of the required fields.
    page.evaluate("document.querySelector('main form').noValidate = true")
    page.get_by_role("button", name="Send my complaint").click()
    page.wait_for_load_state("load")

    now = focused(page)
    assert now["cls"] == "error-summary" and now["role"] == "alert", now
    assert "There is a problem" in now["text"]
    assert_accessible(page, "complaint form with errors")
    page.close()


def test_the_board_fits_a_phone(live, browser, supervisor, make_complaint):
    make_complaint(subject=LONG_SUBJECT)
    page = phone_page(browser, live.base_url)
    sign_in(page, supervisor.username)
    page.goto("/desk/board/")
    wait_until_live(page)
    # Today's figures per team scroll inside their own box, reachable by keyboard.
    assert page_width(page) <= PHONE["width"], wider_than_the_screen(page)
    assert_accessible(page, "board on a phone")
    page.context.close()


def test_the_pareto_page_fits_a_phone(live, browser, manager):
    from tests.insights.insights_fixtures import at, cause, complaint

    billing = cause("billing", "Billing")
    promised = cause(
        "billing.refund-promised-by-phone",
        "Refund promised on the phone but never sent to the customer's card",
        parent=billing,
    )
    for day in (2, 3, 4):
        complaint(received=at(2026, 3, day), primary=promised, resolved_at=at(2026, 3, 20))
    complaint(received=at(2026, 3, 5), primary=billing, resolved_at=at(2026, 3, 20))
    page = phone_page(browser, live.base_url)
    sign_in(page, manager.username)
    page.goto("/insights/?start=2026-03-01&end=2026-03-31")
    # The complaints per root cause scroll inside their own box, reachable by keyboard.
    assert page.get_by_role("region", name="Complaints per root cause").count() == 1
    assert page_width(page) <= PHONE["width"], wider_than_the_screen(page)
    assert_accessible(page, "Pareto on a phone")
    page.context.close()
