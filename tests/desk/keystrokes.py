"""Counting what it takes to handle a complaint from the queue to the closed loop.

One journey, done three ways by a counting driver around Playwright's page: with the mouse
(clicks), with the keyboard as any web page allows it (Tab, Shift+Tab, Enter, Space, arrows)
and with the desk's shortcuts (static/redress/js/shortcuts.js). The journey, from the team
queue, on its most urgent complaint:

1. open it;
2. acknowledge it: with the pre-filled message, or (the shortcuts' way) with the macro a
   supervisor wrote, chosen from the page's macro panel;
3. reply to the customer;
4. resolve it: outcome, a root cause picked by typing part of its name, a summary;
5. close the loop, writing what will change.

Neither way of acknowledging types anything: the message is pre-filled, or the macro's.
Text is typed the same way in all three (the same words into the same fields): it is counted
apart from the presses and clicks that move around the page and act, which are what differ.
``test_keyboard_shortcuts.py`` runs the journeys and prints the table docs/web.md quotes.
"""

from dataclasses import dataclass, field

# Far more than any journey needs: a Tab loop that never reaches its target fails here.
MAX_TABS = 300

REPLY = "We are looking into the second charge now."
CAUSE = "duplicate"
SUMMARY = "Refunded the duplicate charge."
WHAT_WILL_CHANGE = "The payment gateway no longer retries settled payments."

ACKNOWLEDGED = "Acknowledged; the customer has been sent your message."
SENT_WITH_THE_MACRO = "Sent with the macro; what else it does is done too (see the timeline)."
REPLIED = "Reply sent to the customer."
RESOLVED = "Resolved; the customer has been told the outcome."
CLOSED = "Loop closed; the customer has been sent your message."


@dataclass
class Counter:
    """A page whose keys and clicks are counted: every key press and click of a journey goes
    through here (typed text is counted apart, in characters)."""

    page: object
    presses: int = 0
    clicks: int = 0
    typed: int = 0
    keys: list[str] = field(default_factory=list)

    def press(self, key: str, times: int = 1) -> None:
        for _ in range(times):
            self.page.keyboard.press(key)
            self.presses += 1
            self.keys.append(key)

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)
        self.typed += len(text)

    def click(self, locator) -> None:
        locator.click()
        self.clicks += 1

    def focused(self, selector: str) -> bool:
        return self.page.evaluate(
            "(selector) => !!document.activeElement && document.activeElement.matches(selector)",
            selector,
        )

    def tab_to(self, selector: str) -> None:
        """Tab forward until the focused element matches ``selector``."""
        for _ in range(MAX_TABS):
            if self.focused(selector):
                return
            self.press("Tab")
        raise AssertionError(f"Tab never reached {selector} in {MAX_TABS} presses")

    def skip_to_content(self) -> None:
        """A new page: the skip link first, as a keyboard user does, past the navigation."""
        self.press("Tab")
        assert self.focused("a.skip-link"), "the skip link is not the first stop"
        self.press("Enter")

    def wait_for_text(self, text: str) -> None:
        """The page a form answered with, its deferred scripts run (the shortcuts' among
        them): a key pressed before would reach a page without them."""
        self.page.get_by_text(text).wait_for()
        self.page.wait_for_load_state("domcontentloaded")


def row_link(reference: str) -> str:
    return f"tr[data-reference='{reference}'] a[href$='/complaints/{reference}/']"


def with_the_mouse(counter: Counter, reference: str) -> None:
    page = counter.page
    counter.click(page.locator(row_link(reference)))
    page.wait_for_url(f"**/desk/complaints/{reference}/")
    counter.click(page.get_by_role("button", name="Acknowledge and send"))
    counter.wait_for_text(ACKNOWLEDGED)
    counter.click(page.get_by_text("Reply to the customer", exact=True))
    counter.click(page.locator("form[action$='/reply/'] textarea"))
    counter.type(REPLY)
    counter.click(page.get_by_role("button", name="Send reply"))
    counter.wait_for_text(REPLIED)
    counter.click(page.get_by_label("Upheld", exact=True))
    counter.click(page.get_by_role("combobox", name="Root causes"))
    counter.type(CAUSE)
    counter.click(page.get_by_role("option", name="Duplicate charge"))
    counter.click(page.get_by_label("Resolution summary"))
    counter.type(SUMMARY)
    counter.click(page.locator("form[action$='/resolve/'] button[type=submit]"))
    counter.wait_for_text(RESOLVED)
    counter.click(page.get_by_label("What will change"))
    counter.type(WHAT_WILL_CHANGE)
    counter.click(page.get_by_role("button", name="Close the loop and send"))
    counter.wait_for_text(CLOSED)


def with_tab_and_enter(counter: Counter, reference: str) -> None:
    """The keyboard as any page allows it: Tab to a control, Enter or Space to use it."""
    page = counter.page
    counter.skip_to_content()
    counter.tab_to(row_link(reference))
    counter.press("Enter")
    page.wait_for_url(f"**/desk/complaints/{reference}/")

    counter.skip_to_content()
    counter.tab_to("form[action$='/acknowledge/'] button[type=submit]")
    counter.press("Enter")
    counter.wait_for_text(ACKNOWLEDGED)

    counter.skip_to_content()
    counter.tab_to("details:has(form[action$='/reply/']) > summary")
    counter.press("Enter")  # unfolds the reply form
    counter.tab_to("form[action$='/reply/'] textarea")
    counter.type(REPLY)
    counter.tab_to("form[action$='/reply/'] button[type=submit]")
    counter.press("Enter")
    counter.wait_for_text(REPLIED)

    counter.skip_to_content()
    counter.tab_to("form[action$='/resolve/'] input[type=radio]")
    counter.press("Space")  # the first outcome, Upheld
    counter.tab_to("form[action$='/resolve/'] [role=combobox]")
    counter.type(CAUSE)
    counter.press("Enter")  # adds the highlighted cause
    counter.tab_to("form[action$='/resolve/'] textarea")
    counter.type(SUMMARY)
    counter.tab_to("form[action$='/resolve/'] button[type=submit]")
    counter.press("Enter")
    counter.wait_for_text(RESOLVED)

    counter.skip_to_content()
    counter.tab_to("form[action$='/close-loop/'] textarea[name$='what_will_change']")
    counter.type(WHAT_WILL_CHANGE)
    counter.tab_to("form[action$='/close-loop/'] button[type=submit]")
    counter.press("Enter")
    counter.wait_for_text(CLOSED)


def with_the_shortcuts(counter: Counter, reference: str) -> None:
    """The desk's shortcuts: a letter opens an action's form with the cursor in its first
    empty field; Ctrl+Enter sends it. It acknowledges with a macro: the page's only one, the
    one a supervisor wrote, is the chooser's first choice."""
    page = counter.page
    counter.press("o")  # no row chosen: the first, the most urgent
    page.wait_for_url(f"**/desk/complaints/{reference}/")
    page.wait_for_load_state("domcontentloaded")

    counter.press("m")  # the macro panel unfolds, the focus on its chooser
    assert counter.focused("form[data-shortcut='macro'] select")
    counter.press("Control+Enter")  # Fill in: the page again, the macro's text filled in
    page.wait_for_url(f"**/desk/complaints/{reference}/?macro=*#macro-text")
    page.wait_for_load_state("domcontentloaded")
    # The focus on the macro's text, filled in for the complaint, the cursor at its end.
    assert counter.focused("form[action$='/macro/'] textarea[name='macro-body']")
    assert page.evaluate("document.activeElement.selectionStart") == len(
        page.locator("#macro-text").input_value()
    )
    counter.press("Control+Enter")  # Acknowledge with this macro
    counter.wait_for_text(SENT_WITH_THE_MACRO)

    counter.press("r")
    assert counter.focused("form[action$='/reply/'] textarea")
    counter.type(REPLY)
    counter.press("Control+Enter")
    counter.wait_for_text(REPLIED)

    counter.press("s")  # the first field still empty: the outcome
    assert counter.focused("form[action$='/resolve/'] input[type=radio]")
    counter.press("Space")  # the first outcome, Upheld
    counter.tab_to("form[action$='/resolve/'] [role=combobox]")
    counter.type(CAUSE)
    counter.press("Enter")  # adds the highlighted cause
    counter.tab_to("form[action$='/resolve/'] textarea")
    counter.type(SUMMARY)
    counter.press("Control+Enter")
    counter.wait_for_text(RESOLVED)

    counter.press("c")  # every field pre-filled: the cursor in the first
    assert counter.focused("form[action$='/close-loop/'] textarea")
    counter.tab_to("form[action$='/close-loop/'] textarea[name$='what_will_change']")
    counter.type(WHAT_WILL_CHANGE)
    counter.press("Control+Enter")
    counter.wait_for_text(CLOSED)
