"""The desk from the keyboard, in a real browser (Debian's Chromium driven by Playwright,
against a live uvicorn and Celery worker).

- what it takes to handle a complaint from the queue to the closed loop, counted three ways
  (mouse clicks, Tab and Enter, the shortcuts) and printed: docs/web.md quotes the table.
"""

import importlib
from datetime import timedelta

import pytest
from django.utils import timezone

from escalation.models import Clock, ClockKind
from recovery.models import Complaint, State
from tests.desk import keystrokes
from tests.desk.live import chromium, live_redress, new_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def live(django_db_setup):
    with live_redress() as running:
        yield running


@pytest.fixture(scope="module")
def browser(live):
    with chromium() as running:
        yield running


@pytest.fixture(autouse=True)
def settled(live, browser, transactional_db):
    """Torn down before the database is emptied: the live processes are done by then."""
    yield
    live.settle(browser)


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


def test_what_it_takes_from_the_queue_to_the_closed_loop(
    live, browser, agent, root_causes, make_complaint, most_urgent, celery_on_redis, capsys
):
    for subject in ("Card declined at the till", "Parcel left in the rain"):
        make_complaint(subject=subject)
    page = new_page(browser, live.base_url)
    sign_in(page, agent.username)

    counts = {}
    for way, journey in (
        ("Mouse", keystrokes.with_the_mouse),
        ("Keyboard: Tab and Enter", keystrokes.with_tab_and_enter),
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

    mouse = counts["Mouse"]
    tabbing = counts["Keyboard: Tab and Enter"]
    # Text typed is the same whichever way: the journeys differ in presses and clicks only.
    assert mouse.typed == tabbing.typed
    with capsys.disabled():
        print("\nFrom the queue to the closed loop (text typed apart):")
        print("| way | clicks | key presses |")
        print("|---|---|---|")
        for way, counter in counts.items():
            print(f"| {way} | {counter.clicks} | {counter.presses} |")
        print(f"Text typed in every way: {mouse.typed} characters in 4 fields.")
