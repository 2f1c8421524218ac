"""Two supervisors on one board, in a real browser (Chromium, a live uvicorn and Celery
worker): each card action taken on one board — take, assign, move team, escalate — shows on
the other's open board without a reload, and acting on a card the other has just changed is
refused with what they did, not done over it.

Personas: ``supervisor`` and ``second_supervisor`` both supervise Billing (``team``), whose
agent is ``agent``; ``other_team`` (Delivery) is where a card is moved, off both boards'
teams.
"""

import re

import pytest

from escalation.models import Escalation
from recovery import roles
from recovery.models import Complaint
from tests.desk.live import (
    LIVE_TIMEOUT_MS,
    assert_accessible,
    csp_violations,
    new_page,
    sign_in,
    wait_until_live,
)
from tests.desk.test_board import breach
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settled"),
]


@pytest.fixture(autouse=True)
def migrated_defaults(db):
    """The rows data migrations add (the SLA policy and the ladder): a transactional test's
    flush empties every table, those rows included."""
    import importlib

    from django.apps import apps

    importlib.import_module("escalation.migrations.0002_default_policy").add_defaults(apps, None)
    importlib.import_module("recovery.migrations.0005_default_approval_limits").seed(apps, None)


@pytest.fixture
def second_supervisor(groups, team):
    user = UserFactory(username="second_supervisor")
    user.groups.add(groups[roles.SUPERVISOR])
    team.members.add(user)
    return user


def open_board(browser, base_url, user):
    page = new_page(browser, base_url)
    sign_in(page, user.username)
    page.goto("/desk/board/")
    wait_until_live(page)
    page.evaluate("window.__notReloaded = true")
    return page


def card_of(page, reference: str):
    return page.locator(f"#card-{reference}")


def meta_of(page, reference: str):
    """The card's line naming the customer and the assignee."""
    return card_of(page, reference).locator(".meta")


def open_actions(card):
    card.get_by_text("Assign, move, escalate").click()


def level_heading(page, reference: str) -> str:
    """The escalation level heading the card is listed under."""
    return card_of(page, reference).evaluate(
        "card => { let node = card.closest('ul');"
        " while (node && node.tagName !== 'H3') { node = node.previousElementSibling; }"
        " return node ? node.textContent.trim() : ''; }"
    )


def test_card_actions_on_one_board_show_live_on_the_others(
    live,
    browser,
    supervisor,
    second_supervisor,
    agent,
    other_team,
    make_complaint,
    celery_on_redis,
):
    taken, handed, moved, raised = (
        breach(make_complaint(subject=subject))
        for subject in ("Taken", "Handed out", "Moved away", "Raised a level")
    )
    watching = open_board(browser, live.base_url, supervisor)
    acting = open_board(browser, live.base_url, second_supervisor)
    for complaint in (taken, handed, moved, raised):
        assert "unassigned" in meta_of(watching, complaint.reference).inner_text()

    # Take.
    card_of(acting, taken.reference).get_by_role("button", name=re.compile("Take it")).click()
    acting.get_by_text(f"{taken.reference} is yours.").wait_for()
    meta_of(watching, taken.reference).filter(has_text="second_supervisor").wait_for(
        timeout=LIVE_TIMEOUT_MS
    )
    assert Complaint.objects.get(pk=taken.pk).assignee == second_supervisor

    # Assign to the team's agent.
    card = card_of(acting, handed.reference)
    open_actions(card)
    card.get_by_label("Assign to").select_option(label="agent")
    card.get_by_label("Reason", exact=True).first.fill("She knows the customer")
    card.get_by_role("button", name="Assign", exact=True).click()
    acting.get_by_text(f"{handed.reference} assigned to agent.").wait_for()
    meta_of(watching, handed.reference).filter(has_text="agent").wait_for(timeout=LIVE_TIMEOUT_MS)

    # Move to Delivery: off both supervisors' boards.
    card = card_of(acting, moved.reference)
    open_actions(card)
    card.get_by_label("Move to team").select_option(label="Delivery")
    card.get_by_role("button", name="Move", exact=True).click()
    acting.get_by_text(f"{moved.reference} moved to the Delivery team.").wait_for()
    card_of(watching, moved.reference).wait_for(state="detached", timeout=LIVE_TIMEOUT_MS)
    assert Complaint.objects.get(pk=moved.pk).team == other_team

    # Escalate: the card rises to level 1 on the other board.
    assert level_heading(watching, raised.reference) == "Not yet escalated"
    card = card_of(acting, raised.reference)
    open_actions(card)
    card.get_by_label("Why escalate").fill("Third call this week")
    card.get_by_role("button", name="Escalate one level").click()
    acting.get_by_text(f"{raised.reference} escalated one level.").wait_for()
    watching.wait_for_function(
        "reference => { const card = document.getElementById('card-' + reference);"
        " let node = card && card.closest('ul');"
        " while (node && node.tagName !== 'H3') { node = node.previousElementSibling; }"
        " return node && node.textContent.trim() === 'Escalation level 1'; }",
        arg=raised.reference,
        timeout=LIVE_TIMEOUT_MS,
    )

    # All of it without reloading the watching board, which said so.
    assert watching.evaluate("window.__notReloaded") is True
    assert watching.locator("body[data-refreshed]").count() == 1
    watching.locator("#live-status", has_text="This page was updated.").wait_for()
    assert_accessible(watching, "escalation board, updated live")
    assert csp_violations(watching) == [] and csp_violations(acting) == []


def test_acting_on_a_card_the_other_supervisor_just_changed_is_refused_with_what_they_did(
    live, browser, supervisor, second_supervisor, make_complaint, celery_on_redis
):
    complaint = breach(make_complaint(subject="Both at once"))
    slow = open_board(browser, live.base_url, supervisor)
    quick = open_board(browser, live.base_url, second_supervisor)
    # The slow supervisor is writing a reason: the live refresh leaves the card alone.
    slow_card = card_of(slow, complaint.reference)
    open_actions(slow_card)
    slow_card.get_by_label("Why escalate").fill("Customer called again")

    quick_card = card_of(quick, complaint.reference)
    open_actions(quick_card)
    quick_card.get_by_label("Why escalate").fill("Third call this week")
    quick_card.get_by_role("button", name="Escalate one level").click()
    quick.get_by_text(f"{complaint.reference} escalated one level.").wait_for()

    slow_card.get_by_role("button", name="Escalate one level").click()

    alert = slow.locator(".error-summary")
    alert.wait_for()
    text = alert.inner_text()
    assert f"{complaint.reference} changed while you were looking: escalated by" in text
    assert "second_supervisor" in text
    assert "Look at it again before you act on it." in text
    assert Complaint.objects.get(pk=complaint.pk).escalation_level == 1
    assert Escalation.objects.filter(complaint=complaint).count() == 1
    # The board answered shows the card as it is now, at level 1.
    assert level_heading(slow, complaint.reference) == "Escalation level 1"
    assert_accessible(slow, "escalation board, a conflict on a card")
    assert csp_violations(slow) == []


def test_a_decision_on_one_approvals_queue_takes_the_item_off_the_others(
    live, browser, supervisor, second_supervisor, agent, make_complaint, celery_on_redis
):
    from recovery.models import RecoveryAction
    from recovery.models.remedies import RecoveryStatus
    from recovery.services import remedies
    from tests.conftest import acknowledge

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
    pages = []
    for user in (supervisor, second_supervisor):
        page = new_page(browser, live.base_url)
        sign_in(page, user.username)
        page.goto("/desk/approvals/")
        wait_until_live(page)
        assert complaint.reference in page.locator("#approvals").inner_text()
        pages.append(page)
    watching, acting = pages
    watching.evaluate("window.__notReloaded = true")

    acting.get_by_label("Reason").fill("Fair for a lost order.")
    acting.get_by_role("button", name="Approve").click()
    acting.get_by_text(f"on {complaint.reference}: approved.").wait_for()

    watching.wait_for_function(
        "reference => !document.getElementById('approvals').textContent.includes(reference)",
        arg=complaint.reference,
        timeout=LIVE_TIMEOUT_MS,
    )
    assert watching.evaluate("window.__notReloaded") is True
    assert RecoveryAction.objects.get(pk=action.pk).status == RecoveryStatus.APPROVED
    assert_accessible(watching, "approvals queue, emptied live")
