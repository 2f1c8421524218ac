"""The desk from the keyboard, in a real browser (Debian's Chromium driven by Playwright,
against a live uvicorn and Celery worker).

- what it takes to handle a complaint from the queue to the closed loop, counted three ways
  (mouse clicks, Tab and Enter, the shortcuts) and printed: docs/web.md quotes the table;
  the shortcuts' way is keyboard only and acknowledges with a macro a supervisor wrote
  (m, Ctrl+Enter fills it in, the focus on its text, Ctrl+Enter sends it);
- the queue's current row moves with j and k, Enter opens it, and it stays current and
  focused when a live refresh redraws the queue; g q and / go where they say;
- a shortcut typed in a field types the letter, and none fires with Ctrl, Alt or Meta;
- closing the loop with c, Tab, Tab and typing: the text typed follows the pre-filled words;
- the "?" help is a modal dialog: focus moves in, Escape closes it, focus comes back; axe
  finds nothing serious in it, at desktop and phone widths.
"""

import importlib
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from escalation.models import Clock, ClockKind
from recovery.models import Complaint, EventType, MessageKind, State
from recovery.services import macros as macro_services
from recovery.services import remedies
from tests.conftest import acknowledge, resolve
from tests.desk import keystrokes
from tests.desk.live import (
    LIVE_TIMEOUT_MS,
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


@pytest.fixture(autouse=True)
def migrated_defaults(db):
    """The rows data migrations add (SLA policy, calendar, ladder, approval limits): a
    transactional test's flush empties every table, those rows included."""
    from django.apps import apps

    importlib.import_module("escalation.migrations.0002_default_policy").add_defaults(apps, None)
    importlib.import_module("recovery.migrations.0005_default_approval_limits").seed(apps, None)


@pytest.fixture
def most_urgent(make_complaint):
    """A new complaint at the top of the team queue: its acknowledgement is at risk, due in
    half an hour (the others' are days away)."""

    def make(subject: str) -> Complaint:
        complaint = make_complaint(subject=subject, description="I was charged twice.")
        soon = timezone.now() + timedelta(minutes=30)
        Clock.objects.filter(complaint=complaint, kind=ClockKind.ACKNOWLEDGE).update(
            warn_at=soon - timedelta(hours=2), due_at=soon
        )
        Complaint.objects.filter(pk=complaint.pk).update(next_deadline_at=soon)
        return complaint

    return make


MACRO_BODY = "Dear {customer_name}, we have your complaint {reference} and are on it."
MACRO_NEXT_STEPS = "We will write to you {resolve_by}."


def test_what_it_takes_from_the_queue_to_the_closed_loop(
    live,
    browser,
    agent,
    supervisor,
    root_causes,
    make_complaint,
    most_urgent,
    celery_on_redis,
    capsys,
):
    for subject in ("Card declined at the till", "Parcel left in the rain"):
        make_complaint(subject=subject)
    # The macro the shortcuts' way acknowledges with, written by a supervisor and shared
    # with everyone: the complaint page's macro panel offers it (and only it).
    macro_services.macro_save(
        actor=supervisor,
        fields=macro_services.MacroFields(
            name="We are on it", body=MACRO_BODY, next_steps=MACRO_NEXT_STEPS
        ),
    )
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)

    counts = {}
    for way, journey in (
        ("Mouse", keystrokes.with_the_mouse),
        ("Keyboard: Tab and Enter", keystrokes.with_tab_and_enter),
        ("Keyboard: shortcuts", keystrokes.with_the_shortcuts),
    ):
        complaint = most_urgent(f"Charged twice ({way})")
        page.goto("/desk/team/")
        counter = keystrokes.Counter(page)
        journey(counter, complaint.reference)
        complaint.refresh_from_db()
        assert complaint.state == State.LOOP_CLOSED, way
        assert list(complaint.root_causes.values_list("root_cause__code", flat=True)) == [
            "billing.duplicate-charge"
        ]
        counts[way] = counter
        acknowledgement = complaint.messages.get(kind="acknowledgement").body
        with_the_macro = f"we have your complaint {complaint.reference} and are on it" in (
            acknowledgement
        )
        assert with_the_macro == (way == "Keyboard: shortcuts"), (way, acknowledgement)

    # The shortcuts' acknowledgement was the macro's, filled in for the complaint (no
    # placeholder left, what happens next included) and sent by the agent.
    complaint = Complaint.objects.select_related("customer").get(
        subject="Charged twice (Keyboard: shortcuts)"
    )
    assert complaint.events.get(type=EventType.ACKNOWLEDGED).actor == agent
    sent = complaint.messages.get(kind="acknowledgement").body
    assert sent.startswith(f"Dear {complaint.customer.name}, we have your complaint"), sent
    assert "{" not in sent and "What happens next: We will write to you" in sent
    assert Complaint.objects.filter(events__type=EventType.ACKNOWLEDGED).count() == 3

    mouse = counts["Mouse"]
    tabbing = counts["Keyboard: Tab and Enter"]
    shortcuts = counts["Keyboard: shortcuts"]
    # Text typed is the same whichever way: the journeys differ in presses and clicks only.
    assert mouse.typed == tabbing.typed == shortcuts.typed
    # Keyboard only, never a click; and the shortcuts take a fraction of the Tab presses.
    assert tabbing.clicks == shortcuts.clicks == 0
    assert shortcuts.presses * 3 < tabbing.presses, (shortcuts.keys, tabbing.presses)
    with capsys.disabled():
        print("\nFrom the queue to the closed loop (text typed apart):")
        print("| way | clicks | key presses |")
        print("|---|---|---|")
        for way, counter in counts.items():
            print(f"| {way} | {counter.clicks} | {counter.presses} |")
        print(f"Text typed in every way: {mouse.typed} characters in 4 fields.")
        print("The shortcuts' presses:", " ".join(shortcuts.keys))


def focused(page) -> str:
    """What has the focus, as a short description: tag, name or text, and id."""
    return page.evaluate(
        "(() => { const e = document.activeElement; return e ? e.tagName + ' ' +"
        " (e.name || e.textContent.trim().slice(0, 40)) + ' #' + e.id : ''; })()"
    )


def test_the_queue_moves_and_opens_with_j_k_and_enter(live, browser, agent, most_urgent):
    first = most_urgent("The most urgent")
    second = most_urgent("Second")
    # The second was made last, with the later deadline: push the first ahead of it.
    Complaint.objects.filter(pk=first.pk).update(
        next_deadline_at=timezone.now() + timedelta(minutes=5)
    )
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto("/desk/team/")
    rows = page.locator("#queue tbody tr")
    assert rows.nth(0).get_attribute("data-reference") == first.reference
    assert page.locator("#queue tr[aria-current]").count() == 0

    page.keyboard.press("j")
    current = page.locator("#queue tr[aria-current='true']")
    assert current.get_attribute("data-reference") == first.reference
    assert focused(page).startswith(f"A {first.reference}")
    page.keyboard.press("j")
    assert current.get_attribute("data-reference") == second.reference
    assert page.locator("#queue tr[aria-current]").count() == 1
    page.keyboard.press("k")
    assert current.get_attribute("data-reference") == first.reference
    page.keyboard.press("k")  # at the top it stays there
    assert current.get_attribute("data-reference") == first.reference
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/desk/complaints/{second.reference}/")

    # g then q: my queue; / on a page without a search box: the team queue's search.
    page.keyboard.press("g")
    page.keyboard.press("q")
    page.wait_for_url(re.compile(r"/desk/$"))
    page.goto(f"/desk/complaints/{second.reference}/")
    page.keyboard.press("/")
    page.wait_for_url("**/desk/team/#search")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_q'")


def test_the_current_row_outlives_a_live_refresh_of_the_queue(
    live, browser, agent, supervisor, most_urgent, make_complaint, celery_on_redis
):
    other = supervisor  # a teammate, working in another tab
    first = most_urgent("First")
    second = make_complaint(subject="Second")
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto("/desk/team/")
    wait_until_live(page)
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert focused(page).startswith(f"A {second.reference}")

    # Someone acknowledges the first: the live refresh redraws the queue's rows.
    acknowledge(Complaint.objects.get(pk=first.pk), other)
    page.locator(f"tr[data-reference='{first.reference}']", has_text="Acknowledged").wait_for(
        timeout=LIVE_TIMEOUT_MS
    )

    # The rows are new elements: the same complaint is still the current one, and focused.
    current = page.locator("#queue tr[aria-current='true']")
    assert current.get_attribute("data-reference") == second.reference
    assert focused(page).startswith(f"A {second.reference}")
    # Acknowledged, the first has no near deadline left: it moved below the second.
    order = page.locator("#queue tbody tr").evaluate_all(
        "rows => rows.map(row => row.dataset.reference)"
    )
    assert order == [second.reference, first.reference]
    page.keyboard.press("j")
    assert current.get_attribute("data-reference") == first.reference
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/desk/complaints/{first.reference}/")


def test_a_shortcut_typed_in_a_field_types_the_letter(
    live, browser, agent, most_urgent, celery_on_redis
):
    complaint = most_urgent("Charged twice")
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto("/desk/team/")

    page.keyboard.press("/")
    assert focused(page).endswith("#id_q")
    page.keyboard.type("jko?gq/")
    assert page.locator("#id_q").input_value() == "jko?gq/"
    assert page.locator("#queue tr[aria-current]").count() == 0
    assert page.locator("dialog[open]").count() == 0
    assert page.url.endswith("/desk/team/")

    # With Ctrl, Alt or Meta held, a letter is the browser's, not the desk's.
    page.locator("h1").click()  # out of the field (the only click: the test's own setup)
    for chord in ("Alt+o", "Control+o", "Meta+o", "Alt+j", "Control+Shift+?"):
        page.keyboard.press(chord)
    assert page.locator("#queue tr[aria-current]").count() == 0
    assert page.locator("dialog[open]").count() == 0
    assert page.url.endswith("/desk/team/")

    page.goto(f"/desk/complaints/{complaint.reference}/")
    page.keyboard.press("n")
    assert focused(page).startswith("TEXTAREA note-body")
    page.keyboard.type("Called them: a, r, s and c.")
    assert page.locator("form[action$='/note/'] textarea").input_value() == (
        "Called them: a, r, s and c."
    )
    page.keyboard.press("Control+Enter")
    page.get_by_text("Internal note added.").wait_for()
    assert "Called them: a, r, s and c." in page.locator("#notes").inner_text()
    complaint.refresh_from_db()
    assert complaint.state == State.RECEIVED  # the a typed in the note acknowledged nothing

    # A form that is not on this page: said, not silently ignored.
    page.keyboard.press("c")
    page.locator("#live-status", has_text="Not available here: Close the loop.").wait_for()


def test_the_help_is_an_accessible_dialog(live, browser, agent, most_urgent):
    most_urgent("Charged twice")
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto("/desk/team/")
    page.keyboard.press("j")
    before = focused(page)

    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    help_dialog.wait_for()
    assert page.evaluate(
        "document.getElementById('shortcut-help').contains(document.activeElement)"
    )
    text = help_dialog.inner_text()
    for line in (
        "Next complaint",
        "Acknowledge",
        "Use a macro",
        "Reply to the customer",
        "Go to my queue",
    ):
        assert line in text
    assert_accessible(page, "shortcut help")

    page.keyboard.press("Escape")
    help_dialog.wait_for(state="hidden")
    assert focused(page) == before

    # On a phone: the dialog fits the screen and scrolls inside itself.
    page.set_viewport_size({"width": 390, "height": 844})
    page.keyboard.press("?")
    help_dialog.wait_for()
    box = help_dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(page, "shortcut help at 390 px")
    page.keyboard.press("Tab")  # the switch that turns the one-key shortcuts off
    page.keyboard.press("Tab")  # the close button
    assert focused(page).startswith("BUTTON Close")
    page.keyboard.press("Enter")
    help_dialog.wait_for(state="hidden")
    assert focused(page) == before

    # The header's button opens it too, for whoever does not know the key.
    page.get_by_role("button", name="Keyboard shortcuts").click()
    help_dialog.wait_for()
    page.keyboard.press("Escape")
    help_dialog.wait_for(state="hidden")


def test_the_one_key_shortcuts_can_be_turned_off(live, browser, agent, most_urgent):
    """Someone who speaks commands, or rests a hand on the keys, can stop single letters
    acting (WCAG 2.1.4); the choice is kept in the browser."""
    most_urgent("Charged twice")
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto("/desk/team/")
    page.keyboard.press("?")
    switch = page.get_by_label("Use the one-key shortcuts", exact=False)
    assert switch.is_checked()
    page.keyboard.press("Tab")
    assert focused(page).endswith("#shortcut-help-enabled")
    page.keyboard.press("Space")
    assert not switch.is_checked()
    page.keyboard.press("Escape")

    page.reload()
    for key in ("j", "o", "?"):
        page.keyboard.press(key)
    assert page.locator("#queue tr[aria-current]").count() == 0
    assert page.locator("dialog[open]").count() == 0
    assert page.url.endswith("/desk/team/")

    # The header's button still opens the help, where they are turned on again.
    page.get_by_role("button", name="Keyboard shortcuts").click()
    switch.check()
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    assert page.locator("#queue tr[aria-current='true']").count() == 1


def test_a_macro_is_chosen_filled_in_and_sent_from_the_keyboard(
    live, browser, agent, supervisor, make_complaint, celery_on_redis
):
    """m puts the focus on the macro chooser, the arrows choose, Ctrl+Enter fills it in; the
    page comes back with the focus on the macro's text; what happens next, which the macro
    leaves to write, is the next Tab stop; Ctrl+Enter sends it. A macro no longer offered
    is said, and the message takes the focus."""
    for name, next_steps in (("Apologies", MACRO_NEXT_STEPS), ("Bare thanks", "")):
        macro_services.macro_save(
            actor=supervisor,
            fields=macro_services.MacroFields(name=name, body=MACRO_BODY, next_steps=next_steps),
        )
    complaint = make_complaint(subject="Charged twice")
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto(f"/desk/complaints/{complaint.reference}/")

    page.keyboard.press("m")
    assert focused(page) == "SELECT macro #macro-choice"
    assert page.locator("#macro").get_attribute("open") == ""
    page.keyboard.press("ArrowDown")  # the second, by name: Bare thanks
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"**/desk/complaints/{complaint.reference}/?macro=*#macro-text")
    page.wait_for_load_state("domcontentloaded")
    assert page.locator("#macro-choice option:checked").inner_text() == "Bare thanks"
    assert focused(page) == "TEXTAREA macro-body #macro-text"
    assert_accessible(page, "a macro filled in, the focus on its text")
    page.keyboard.press("Tab")
    assert focused(page).startswith("TEXTAREA macro-next_steps")
    page.keyboard.type("We will write to you within a week.")
    page.keyboard.press("Control+Enter")
    page.get_by_text("Sent with the macro").wait_for()
    complaint.refresh_from_db()
    assert complaint.state == State.ACKNOWLEDGED
    assert "within a week" in complaint.messages.get(kind="acknowledgement").body

    # An address with a macro this complaint is not offered (none has that number).
    page.goto(f"/desk/complaints/{complaint.reference}/?macro=99999#macro-text")
    page.wait_for_load_state("domcontentloaded")
    assert focused(page).startswith("P That macro is not offered on this")


def test_text_typed_after_c_tab_tab_follows_the_pre_filled_text(
    live, browser, agent, make_complaint, root_causes
):
    """docs/web.md's way of closing the loop from the keyboard: c, Tab, Tab, type. The caret
    lands at the end of each pre-filled text box, so what is typed comes after the pre-filled
    words, a space apart, never in front of them; and what was given is said in words."""
    complaint = acknowledge(make_complaint(subject="Charged twice"), agent)
    refund = remedies.recovery_propose(
        complaint=complaint, actor=agent, type="refund", amount="20.00", currency="GBP"
    )
    remedies.recovery_deliver(action_id=refund.pk, actor=agent)
    resolve(complaint, agent)
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto(f"/desk/complaints/{complaint.reference}/")
    page.wait_for_load_state("domcontentloaded")

    page.keyboard.press("c")
    assert "what_we_found" in focused(page)
    page.keyboard.press("Tab")
    assert "what_we_did" in focused(page)
    page.keyboard.press("Tab")
    assert "what_will_change" in focused(page)
    page.keyboard.type("مرحبا")
    page.keyboard.press("Control+Enter")
    page.get_by_text(keystrokes.CLOSED).wait_for()

    sent = complaint.messages.get(kind=MessageKind.LOOP_CLOSING).body
    assert sent.endswith(
        "What will change: We have recorded the cause (Duplicate charge) so that the team "
        "responsible fixes it. مرحبا"
    ), sent
    assert "What we did for you: Upheld. Refund of 20.00 GBP, delivered.\n" in sent, sent
    page.close()
