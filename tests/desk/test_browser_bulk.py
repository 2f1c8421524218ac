"""Macros and bulk actions in a real browser (Debian's Chromium, driven by Playwright,
against a live uvicorn and Celery worker):

- a supervisor selects twenty complaints of a spike with one tick, assigns them to an agent
  in one go, and reads each one's result: one, withdrawn by its customer while the queue
  was open, is refused with the reason; the nineteen others are the agent's;
- a supervisor writes a macro, and an agent acknowledges a complaint with it from its page;
- every new page passes axe-core (no serious or critical violation), and the result page
  and the macro panel fit a 390 px wide screen.
"""

import importlib
import re

import pytest

from recovery.models import Complaint, ComplaintEvent, EventType, Macro, State
from recovery.services.lifecycle import complaint_withdraw
from tests.desk.live import (
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

PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def migrated_defaults(db):
    from django.apps import apps

    importlib.import_module("escalation.migrations.0002_default_policy").add_defaults(apps, None)
    importlib.import_module("recovery.migrations.0005_default_approval_limits").seed(apps, None)


def fits(page) -> bool:
    """Nothing wider than the screen: no sideways scrolling of the whole page."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_supervisor_assigns_twenty_at_once_and_reads_each_result(
    live, browser, supervisor, agent, make_complaint, customer_user
):
    spike = [make_complaint(subject=f"Charged twice, spike {n}") for n in range(20)]
    page = new_page(browser, live.base_url)
    sign_in(page, supervisor.username)
    page.goto("/desk/team/")
    assert page.locator("tr[data-reference]").count() == 20
    assert_accessible(page, "team queue with the bulk bar")
    # While the queue is open, one customer withdraws their complaint.
    withdrawn = spike[7]
    complaint_withdraw(
        complaint=Complaint.objects.get(pk=withdrawn.pk), actor=customer_user, reason="Sorted"
    )

    page.get_by_role("button", name="Select all on this page").click()
    page.get_by_text("20 selected").wait_for()
    page.get_by_label("Action").select_option("assign")
    page.get_by_label("Assign to (a username, or “me”)").fill(agent.username)
    page.get_by_label("Reason (the timeline records it)").fill("Spike of duplicate charges")
    page.get_by_role("button", name="Apply to the selected").click()

    page.wait_for_url(re.compile(r"/desk/bulk/$"))
    assert page.locator("#bulk-summary").inner_text() == "Assign: 19 done, 1 refused."
    refused = page.locator(f"tr[data-reference='{withdrawn.reference}']")
    assert "is withdrawn; only open complaints are handed out." in refused.inner_text()
    assert page.locator("tr.done").count() == 19
    assigned = Complaint.objects.filter(pk__in=[c.pk for c in spike], assignee=agent)
    assert assigned.count() == 19
    assert (
        ComplaintEvent.objects.filter(
            complaint__in=spike, type=EventType.ASSIGNED, actor=supervisor
        ).count()
        == 19
    )
    assert_accessible(page, "bulk result")
    page.set_viewport_size(PHONE)
    assert fits(page)
    assert csp_violations(page) == []
    page.close()


def test_a_supervisor_writes_a_macro_and_an_agent_acknowledges_with_it(
    live, browser, supervisor, agent, make_complaint
):
    complaint = make_complaint(subject="Parcel never came")
    page = new_page(browser, live.base_url)
    sign_in(page, supervisor.username)
    page.goto("/desk/macros/")
    assert_accessible(page, "macros, none yet")
    page.get_by_role("link", name="Write a macro").click()
    page.get_by_label("Name").fill("We are on it")
    page.get_by_label("Text sent to the customer").fill(
        "We have your complaint {reference} and are looking into it, {customer_name}."
    )
    page.get_by_label("What happens next (when it acknowledges)").fill(
        "We will write to you {resolve_by}."
    )
    assert_accessible(page, "write a macro")
    page.get_by_role("button", name="Save the macro").click()
    page.get_by_text("Macro “We are on it” saved.").wait_for()
    assert_accessible(page, "macros, one in use")
    page.close()

    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)
    page.goto(f"/desk/complaints/{complaint.reference}/")
    page.get_by_text("Use a macro").click()
    page.get_by_label("Macro", exact=True).select_option(label="We are on it")
    page.get_by_role("button", name="Fill in").click()
    body = page.get_by_label("Message to the customer")
    assert complaint.reference in body.input_value()
    assert "{" not in body.input_value()
    assert_accessible(page, "complaint page, a macro filled in")
    page.set_viewport_size(PHONE)
    assert fits(page)
    body.fill(body.input_value() + " Sorry for the wait.")
    page.get_by_role("button", name="Acknowledge with this macro").click()

    page.get_by_text("Sent with the macro").wait_for()
    complaint = Complaint.objects.get(pk=complaint.pk)
    assert complaint.state == State.ACKNOWLEDGED
    sent = complaint.messages.get(kind="acknowledgement").body
    assert "Sorry for the wait." in sent and "What happens next: We will write to you" in sent
    assert Macro.objects.get().name == "We are on it"
    assert csp_violations(page) == []
    page.close()
