"""The web pages in a real browser: Debian's Chromium, driven by Playwright, against a live
uvicorn and a real Celery worker.

- the journey: a customer files a complaint, the agent sees it arrive in the team queue
  without reloading, acknowledges, resolves with a root cause, closes the loop; the
  customer's open tracking page shows the loop-closing message as it is sent;
- the supervisor's board shows a complaint the moment its clock is breached, and a card
  is taken from it;
- the customer form and the agent's complaint page work with the keyboard alone;
- the main pages (portal form, desk, board, insights) raise no Content-Security-Policy
  violation;
- every main page passes axe-core with no serious or critical violation, and is
  photographed (into REDRESS_SCREENSHOTS_DIR, docs/screenshots to refresh the docs).
"""

import importlib
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from escalation.models import Clock, ClockKind
from escalation.services.sweeper import sweep
from recovery.models import Complaint, RecoveryAction, State, Survey
from recovery.models.remedies import RecoveryStatus
from recovery.services import remedies
from recovery.services.messages import customer_message_add
from tests.conftest import acknowledge, resolve
from tests.desk.live import (
    LIVE_TIMEOUT_MS,
    assert_accessible,
    csp_violations,
    new_page,
    screenshot,
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
def on_redis(celery_on_redis):
    """What this test process commits is delivered by the live worker (over Redis)."""
    return celery_on_redis


def file_complaint(page, *, name="Ada Lovelace", email="ada@example.com", story=None) -> str:
    page.goto("/")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Your email address").fill(email)
    page.get_by_label("What happened?").fill(
        story or "I was charged twice for one order. <script>alert('x')</script>"
    )
    page.get_by_label("When did it happen?").fill("2026-01-15")
    page.get_by_label("Where did it happen?").select_option("website")
    page.get_by_label("What is it about?").select_option("card-payments")
    page.get_by_label("What would you like us to do?").fill("Refund the second charge.")
    page.get_by_role("button", name="Send my complaint").click()
    page.wait_for_url(re.compile(r"/complaint/received/"))
    return page.locator("#reference").inner_text().strip()


def test_a_complaint_from_the_form_to_the_closed_loop(
    live, browser, agent, touchpoint, category, root_causes, make_complaint, on_redis
):
    # Two complaints already in the team's queue: one near its deadline, one calm.
    near = make_complaint(subject="Refund promised last week never came")
    soon = timezone.now() + timedelta(hours=1)
    Clock.objects.filter(complaint=near, kind=ClockKind.ACKNOWLEDGE).update(
        warn_at=soon - timedelta(hours=2), due_at=soon
    )
    Complaint.objects.filter(pk=near.pk).update(next_deadline_at=soon)
    make_complaint(subject="Card declined at the till")

    agent_page = new_page(browser, live.base_url)
    sign_in(agent_page, agent.username)
    agent_page.goto("/desk/team/")
    wait_until_live(agent_page)
    agent_page.evaluate("window.__notReloaded = true")

    customer_page = new_page(browser, live.base_url)
    customer_page.goto("/")
    assert_accessible(customer_page, "complaint form")
    screenshot(customer_page, "customer-complaint-form")
    reference = file_complaint(customer_page)
    assert re.fullmatch(r"RDR-\d{4}-\d{6}", reference)
    assert_accessible(customer_page, "confirmation")
    screenshot(customer_page, "customer-confirmation")
    tracking_url = customer_page.locator(".tracking-link a").get_attribute("href")

    # The agent's queue shows the new complaint without a reload.
    row = agent_page.locator(f"tr[data-reference='{reference}']")
    row.wait_for(timeout=LIVE_TIMEOUT_MS)
    assert agent_page.evaluate("window.__notReloaded") is True
    assert "Ada Lovelace" in row.inner_text()
    assert "At risk" in agent_page.locator(f"tr[data-reference='{near.reference}']").inner_text()
    assert_accessible(agent_page, "team queue")
    screenshot(agent_page, "agent-team-queue")

    # The complaint page: the story is shown as text, never run.
    agent_page.get_by_role("link", name=reference).click()
    agent_page.wait_for_url(f"**/desk/complaints/{reference}/")
    story = agent_page.locator(".story").first.inner_text()
    assert "<script>alert('x')</script>" in story
    assert agent_page.locator("main script").count() == 0
    assert_accessible(agent_page, "complaint page")

    # Acknowledge with the pre-filled message.
    assert reference in agent_page.get_by_label("Acknowledgement to the customer").input_value()
    agent_page.get_by_role("button", name="Acknowledge and send").click()
    agent_page.get_by_text("Acknowledged; the customer has been sent your message.").wait_for()

    # Resolve with an outcome and a root cause from the taxonomy.
    agent_page.get_by_label("Upheld", exact=True).check()
    causes = agent_page.get_by_role("combobox", name="Root causes")
    causes.fill("duplicate charge")
    causes.press("Enter")
    agent_page.get_by_label("Resolution summary").fill("Refunded the duplicate charge.")
    agent_page.locator("form[action$='/resolve/'] button[type=submit]").click()
    agent_page.get_by_text("Resolved; the customer has been told the outcome.").wait_for()

    # Offer a recovery within the agent's authority, and record it delivered.
    agent_page.get_by_label("Remedy").select_option("refund")
    agent_page.get_by_label("Amount").fill("20.00")
    agent_page.get_by_label("Currency").fill("GBP")
    agent_page.get_by_label("What you offer, in words").fill("The second charge, refunded.")
    agent_page.locator("form[action$='/recovery/'] button[type=submit]").click()
    agent_page.get_by_text("Refund 20.00 GBP offered.").wait_for()
    agent_page.get_by_role("button", name="Mark “Refund 20.00 GBP” delivered").click()
    agent_page.get_by_text("Recorded as delivered.").wait_for()
    assert "Refund of 20.00 GBP" in agent_page.get_by_label("What we did for you").input_value()
    screenshot(agent_page, "agent-complaint")

    # The customer follows along on the tracking page while the loop is closed.
    customer_page.goto(tracking_url)
    wait_until_live(customer_page)
    customer_page.evaluate("window.__notReloaded = true")
    assert_accessible(customer_page, "tracking page")

    agent_page.get_by_label("What will change").fill(
        "The payment gateway no longer retries settled payments."
    )
    agent_page.get_by_role("button", name="Close the loop and send").click()
    agent_page.get_by_text("Loop closed; the customer has been sent your message.").wait_for()

    closing = customer_page.locator("#conversation .message", has_text="What will change")
    closing.wait_for(timeout=LIVE_TIMEOUT_MS)
    assert "no longer retries settled payments" in closing.inner_text()
    assert customer_page.evaluate("window.__notReloaded") is True
    assert "Loop closed" in customer_page.locator("#status").inner_text()
    screenshot(customer_page, "customer-tracking")

    # The survey, linked from the tracking page once the loop is closed.
    customer_page.get_by_role("link", name=re.compile("Tell us how we handled")).click()
    customer_page.wait_for_url(re.compile(r"/survey/"))
    assert_accessible(customer_page, "survey")
    screenshot(customer_page, "customer-survey")
    survey = Survey.objects.get(complaint__reference=reference)
    assert survey.submitted_at is None  # opening the link recorded nothing
    customer_page.locator("input[name=csat][value='4']").check()
    customer_page.locator("input[name=ces][value='6']").check()
    customer_page.locator("input[name=nps][value='9']").check()
    customer_page.get_by_label("Anything else you want to tell us?").fill("Quick and fair.")
    customer_page.get_by_role("button", name="Send my answers").click()
    customer_page.get_by_text("Your answers are recorded.").wait_for()
    survey.refresh_from_db()
    assert (survey.csat, survey.ces, survey.nps, survey.comment) == (4, 6, 9, "Quick and fair.")

    complaint = Complaint.objects.get(reference=reference)
    assert complaint.state == State.LOOP_CLOSED
    assert RecoveryAction.objects.get(complaint=complaint).status == RecoveryStatus.DELIVERED
    assert list(complaint.root_causes.values_list("root_cause__code", flat=True)) == [
        "billing.duplicate-charge"
    ]


def test_a_breached_complaint_appears_on_the_board_live(
    live, browser, supervisor, make_complaint, on_redis
):
    calm = make_complaint(subject="Calm one")
    page = new_page(browser, live.base_url)
    sign_in(page, supervisor.username)
    page.goto("/desk/board/")
    wait_until_live(page)
    page.evaluate("window.__notReloaded = true")
    assert page.locator(f"[data-reference='{calm.reference}']").count() == 0

    late = make_complaint(subject="Late one")
    risky = make_complaint(subject="Close to its deadline")
    # The first's acknowledgement was due a minute ago, the second's is due within the hour;
    # the sweep that notices is the one the beat runs, here run by the test.
    now = timezone.now()
    Clock.objects.filter(complaint=late, kind=ClockKind.ACKNOWLEDGE).update(
        started_at=now - timedelta(hours=2),
        warn_at=now - timedelta(minutes=10),
        due_at=now - timedelta(minutes=1),
    )
    Clock.objects.filter(complaint=risky, kind=ClockKind.ACKNOWLEDGE).update(
        warn_at=now - timedelta(minutes=5), due_at=now + timedelta(minutes=50)
    )
    result = sweep(now=now)
    assert result.breached == 1 and result.warned >= 1, result

    card = page.locator(f".board-section.breached [data-reference='{late.reference}']")
    card.wait_for(timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.__notReloaded") is True
    assert "Late one" in card.inner_text()
    page.locator(f".board-section.at_risk [data-reference='{risky.reference}']").wait_for()
    assert page.locator(f"[data-reference='{calm.reference}']").count() == 0
    assert_accessible(page, "escalation board")
    screenshot(page, "supervisor-board")


def test_a_supervisor_takes_a_card_from_the_board(
    live, browser, supervisor, make_complaint, on_redis
):
    late = make_complaint(subject="Late one")
    now = timezone.now()
    Clock.objects.filter(complaint=late, kind=ClockKind.ACKNOWLEDGE).update(
        started_at=now - timedelta(days=1),
        warn_at=now - timedelta(hours=4),
        due_at=now - timedelta(hours=3, minutes=5),
    )
    assert sweep(now=now).breached == 1
    page = new_page(browser, live.base_url)
    sign_in(page, supervisor.username)
    page.goto("/desk/board/")
    card = page.locator(f"[data-reference='{late.reference}']")
    assert "Acknowledge — internal — overdue by 3 h" in card.inner_text()
    assert "unassigned" in card.inner_text()

    card.get_by_role("button", name=re.compile("Take it")).click()

    page.get_by_text(f"{late.reference} is yours.").wait_for()
    assert page.url.endswith("/desk/board/")
    card = page.locator(f"[data-reference='{late.reference}']")
    assert "unassigned" not in card.inner_text()
    assert card.get_by_role("button", name=re.compile("Take it")).count() == 0
    assert Complaint.objects.get(pk=late.pk).assignee_id == supervisor.pk
    card.get_by_text("Assign, move, escalate").click()  # the card's other actions unfold
    assert card.get_by_label("Why escalate").is_visible()
    assert_accessible(page, "escalation board, a card's actions open")
    page.close()


def test_a_complaint_page_answered_to_a_form_error_stays_live(
    live, browser, agent, make_complaint, on_redis
):
    """The page a failed form answers keeps the action's URL in the address bar, which
    takes POSTs only: the live refresh fetches the complaint's own page instead."""
    complaint = make_complaint()
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto(f"/desk/complaints/{complaint.reference}/")
    page.get_by_label("Acknowledgement to the customer").fill("Thank you for writing.")
    page.get_by_role("button", name="Acknowledge and send").click()
    page.wait_for_url(re.compile(r"/acknowledge/$"))
    assert "must name the complaint's reference" in page.content()
    wait_until_live(page)
    page.evaluate("window.__notReloaded = true")
    refetched = []
    page.on(
        "request",
        lambda request: (
            refetched.append(request.url)
            if request.headers.get("x-requested-with") == "fetch"
            else None
        ),
    )

    customer_message_add(
        complaint=Complaint.objects.get(pk=complaint.pk), body="Any news on my refund?"
    )

    page.locator("#conversation", has_text="Any news on my refund?").wait_for(
        timeout=LIVE_TIMEOUT_MS
    )
    assert page.evaluate("window.__notReloaded") is True
    # Straight from the complaint's own address (data-refresh-url), not via the action's.
    assert refetched
    assert all(url.endswith(f"/desk/complaints/{complaint.reference}/") for url in refetched)
    page.goto(page.url)  # the action's URL opened again: the complaint page, not a 405
    page.wait_for_url(re.compile(rf"/desk/complaints/{complaint.reference}/$"))
    page.close()


def test_the_approvals_queue(live, browser, agent, supervisor, make_complaint, root_causes):
    complaint = acknowledge(make_complaint(subject="Order never arrived"), agent)
    action = remedies.recovery_propose(
        complaint=complaint,
        actor=agent,
        type="goodwill",
        amount="120.00",
        currency="GBP",
        description="A voucher for the trouble.",
    )
    assert action.status == RecoveryStatus.AWAITING_APPROVAL
    page = new_page(browser, live.base_url)
    sign_in(page, supervisor.username)
    page.goto("/desk/approvals/")
    assert complaint.reference in page.locator("main").inner_text()
    assert_accessible(page, "approvals")
    screenshot(page, "supervisor-approvals")

    page.get_by_label("Reason").fill("Fair for a lost order.")
    page.get_by_role("button", name="Approve").click()
    page.get_by_text(f"on {complaint.reference}: approved.").wait_for()
    assert RecoveryAction.objects.get(pk=action.pk).status == RecoveryStatus.APPROVED


def test_the_complaint_form_works_with_the_keyboard_alone(live, browser, touchpoint, category):
    page = new_page(browser, live.base_url)
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    typed = {
        "id_name": "Grace Hopper",
        "id_email": "grace@example.com",
        "id_description": "The courier left my parcel in the rain.",
        "id_remedy_sought": "A replacement.",
    }
    visited = []
    for _ in range(30):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const e = document.activeElement;"
            " return {id: e.id, tag: e.tagName, type: e.type || '', text: e.textContent,"
            " label: e.labels && e.labels.length ? e.labels[0].textContent.trim() : ''}; })()"
        )
        if focused["tag"] == "BUTTON":
            assert focused["text"].strip() == "Send my complaint"
            break
        if not visited or visited[-1] != focused["id"]:
            visited.append(focused["id"])
        # Every control reached by Tab has a visible label.
        assert focused["label"], focused
        if focused["id"] in typed:
            page.keyboard.type(typed[focused["id"]])
        elif focused["id"] == "id_touchpoint":
            page.keyboard.press("ArrowDown")
    else:
        pytest.fail(f"never reached the submit button; visited {visited}")

    # Tab order follows the order on screen, and skips the hidden trap for robots.
    assert visited == [
        "id_name",
        "id_email",
        "id_description",
        "id_occurred_on",
        "id_touchpoint",
        "id_category",
        "id_remedy_sought",
        "id_attachments",
    ]
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/complaint/received/"))
    reference = page.locator("#reference").inner_text().strip()
    complaint = Complaint.objects.get(reference=reference)
    assert complaint.customer.name == "Grace Hopper"
    assert complaint.touchpoint.slug == "website"
    assert complaint.remedy_sought == "A replacement."


def test_a_double_click_on_the_complaint_form_files_one_complaint(live, browser):
    page = new_page(browser, live.base_url)
    page.goto("/")
    page.fill("#id_name", "Grace Hopper")
    page.fill("#id_email", "grace@example.com")
    page.fill("#id_description", "Charged twice.")
    before = Complaint.objects.count()

    page.locator("button[type=submit]").dblclick()

    page.wait_for_url(re.compile(r"/complaint/received/"))
    assert Complaint.objects.count() == before + 1


def test_the_complaint_page_works_with_the_keyboard_alone(live, browser, agent, make_complaint):
    complaint = make_complaint()
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto(f"/desk/complaints/{complaint.reference}/")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the skip link
    assert page.evaluate("document.activeElement.id") == "main"

    reached = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const e = document.activeElement;"
            " return {name: e.name || '', tag: e.tagName, text: e.textContent.trim(),"
            " label: e.labels && e.labels.length ? e.labels[0].textContent.trim() : ''}; })()"
        )
        reached.append(focused)
        if focused["tag"] in ("INPUT", "TEXTAREA", "SELECT"):
            assert focused["label"], focused
        if focused["tag"] == "BUTTON" and focused["text"] == "Acknowledge and send":
            break
    else:
        pytest.fail(f"never reached the acknowledge button: {reached}")
    names = [item["name"] for item in reached if item["name"]]
    # The first form on the page is "take it", then the acknowledgement, in reading order.
    assert names.index("acknowledge-message") < names.index("acknowledge-next_steps")
    page.keyboard.press("Enter")
    page.get_by_text("Acknowledged; the customer has been sent your message.").wait_for()
    complaint.refresh_from_db()
    assert complaint.state == State.ACKNOWLEDGED


def test_the_main_pages_raise_no_content_security_policy_violation(
    live, browser, agent, supervisor, manager, make_complaint, root_causes, touchpoint, category
):
    complaint = make_complaint(subject="Charged twice")
    # Resolved with a root cause, so the insight pages draw their charts.
    resolve(acknowledge(complaint, agent), agent)
    visits = {
        None: ["/"],
        agent: ["/desk/", f"/desk/complaints/{complaint.reference}/"],
        supervisor: ["/desk/board/"],
        manager: ["/insights/", "/insights/trends/", "/insights/repeats/", "/insights/kpis/"],
    }
    refused = {}
    for user, urls in visits.items():
        page = new_page(browser, live.base_url)
        if user is not None:
            sign_in(page, user.username)
        for url in urls:
            response = page.goto(url)
            assert response.status == 200, url
            assert "'unsafe-inline'" not in response.headers["content-security-policy"]
            page.wait_for_load_state("load")
            if url.startswith("/desk/"):
                wait_until_live(page)  # the socket is allowed to connect
            if url == "/insights/":
                # The charts' styles come from redress.css, not an inline <style>.
                font_size = "getComputedStyle(document.querySelector('svg.chart text')).fontSize"
                assert page.evaluate(font_size) == "11px"
            refused[url] = csp_violations(page)
        if user is manager:
            # The recorder hears a violation: an inline <style> added now is refused.
            page.evaluate(
                "document.head.append(Object.assign(document.createElement('style'), "
                "{textContent: 'body { color: red; }'}))"
            )
            page.wait_for_function("window.__cspViolations.length > 0")
            assert csp_violations(page)[0].startswith("style-src-elem refused inline")
        page.context.close()

    assert refused == {url: [] for urls in visits.values() for url in urls}


def test_a_socket_refused_for_good_is_not_retried(live, browser, agent):
    """4401/4403/4404 (docs/security.md) cannot change on a retry: the page says why, once,
    and stops reconnecting instead of knocking every 1-30 s for as long as it is open."""
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    attempts = []

    def refuse(socket):
        attempts.append(socket.url)
        socket.close(code=4401, reason="signed out")

    page.route_web_socket(re.compile(r"/ws/"), refuse)
    page.goto("/desk/team/")
    page.wait_for_selector("body[data-live-refused='4401']", timeout=LIVE_TIMEOUT_MS)
    page.wait_for_timeout(3000)  # a retry comes after 1 s, the next after 2 s
    assert len(attempts) == 1
    assert "Sign in again" in page.locator("#live-status").inner_text()
    page.close()


def test_a_manager_lands_on_the_dashboard_and_starts_a_corrective_action_from_the_pareto(
    live, browser, agent, supervisor, manager, make_complaint, root_causes, touchpoint, category
):
    from recovery.models import CorrectiveAction

    complaint = make_complaint(subject="Charged twice")
    resolve(acknowledge(complaint, agent), agent)
    page = new_page(browser, live.base_url)

    sign_in(page, manager.username)
    page.wait_for_url("**/insights/dashboard/")
    page.get_by_role("heading", name="Complaints at a glance").wait_for()
    assert page.locator("#tile-complaints .figure").inner_text() == "1"
    assert_accessible(page, "manager dashboard")
    screenshot(page, "manager-dashboard")

    page.goto("/insights/")
    start = page.locator('a[href$="?root_cause=billing.duplicate-charge"]').first
    assert start.inner_text().startswith("Start a corrective action for this cause")
    start.click()
    page.wait_for_url("**/desk/corrective-actions/new/?root_cause=billing.duplicate-charge")
    # The cause comes chosen, and a title proposed from its name.
    assert page.get_by_label("Title").input_value() == "Reduce “Duplicate charge”"
    chosen = page.locator(".chosen-cause .path")
    assert [item.inner_text() for item in chosen.all()] == ["Billing > Duplicate charge"]
    assert_accessible(page, "corrective action form")
    page.get_by_label("Owner").select_option("supervisor")
    page.get_by_label("Complaints that revealed the problem").fill(complaint.reference)
    page.get_by_role("button", name="Open the corrective action").click()

    page.wait_for_url("**/desk/corrective-actions/")
    page.get_by_text("Corrective action “Reduce “Duplicate charge”” opened.").wait_for()
    assert_accessible(page, "corrective actions")
    screenshot(page, "corrective-actions")
    action = CorrectiveAction.objects.get()
    assert (action.owner, action.created_by) == (supervisor, manager)
    assert [c.code for c in action.root_causes.all()] == ["billing.duplicate-charge"]
    assert list(action.complaints.all()) == [complaint]
    assert csp_violations(page) == []
    page.context.close()
