"""Complaints nobody picked up: their team's supervisors are told once, however many runs.

Personas: ``customer_user`` complains; ``agent`` works Billing (``team``) and may pick a
complaint up; ``supervisor`` leads Billing and is the one told; ``manager`` is told when a
team has no supervisor; ``other_agent`` is on Delivery and is never told.
"""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.utils import timezone

from notifications.delivery import deliver
from notifications.models import Notification, Outbox
from recovery.models import (
    Complaint,
    ComplaintEvent,
    Customer,
    EventType,
    UnpickedAlert,
)
from recovery.services import sla
from recovery.services.unpicked import alert_unpicked
from recovery.tasks import alert_unpicked_complaints
from tests.conftest import acknowledge, resolve

pytestmark = pytest.mark.django_db

# Two runs started together (two beats, or a slow tick overlapping the next) racing for
# more complaints than one batch holds (BATCH_SIZE is 500), so they contend batch by batch.
RACING_RUNS = 2
RACED_COMPLAINTS = 1_200
JOIN_TIMEOUT_S = 120


def minutes_later(minutes: float):
    return time_machine.travel(timezone.now() + timedelta(minutes=minutes), tick=False)


def unpicked_events(complaint) -> list[ComplaintEvent]:
    return list(ComplaintEvent.objects.filter(complaint=complaint, type=EventType.UNPICKED))


def test_a_complaint_nobody_picked_up_in_time_is_told_to_its_supervisors_once(
    make_complaint, supervisor, agent, other_agent
):
    complaint = make_complaint()

    with minutes_later(settings.REDRESS_UNPICKED_ALERT_MINUTES - 1):
        assert alert_unpicked().alerted == 0
    with minutes_later(settings.REDRESS_UNPICKED_ALERT_MINUTES + 1):
        first = alert_unpicked()
        second = alert_unpicked()

    assert (first.alerted, second.alerted) == (1, 0)
    (event,) = unpicked_events(complaint)
    assert event.parameters == {
        "minutes": settings.REDRESS_UNPICKED_ALERT_MINUTES,
        "team_id": complaint.team_id,
    }
    told = Outbox.objects.get(complaint_id=complaint.pk, event_type="complaint.unpicked")
    # The supervisors, not the whole team, and never the customer.
    assert told.audience == {"teams": [], "users": [supervisor.pk], "customer": None}
    alert = UnpickedAlert.objects.get(complaint=complaint)
    assert alert.team_id == complaint.team_id
    deliver(told.pk)
    (note,) = Notification.objects.filter(outbox=told)
    assert note.user == supervisor
    assert note.summary == (
        f"{complaint.reference} “{complaint.subject}”: nobody has picked it up in 30 minutes"
    )


def test_the_time_comes_from_the_setting(make_complaint, supervisor, settings):
    settings.REDRESS_UNPICKED_ALERT_MINUTES = 5
    complaint = make_complaint()

    with minutes_later(4):
        assert alert_unpicked().alerted == 0
    with minutes_later(6):
        assert alert_unpicked().alerted == 1
    assert len(unpicked_events(complaint)) == 1


def test_assigned_closed_withdrawn_and_imported_complaints_are_left_alone(
    make_complaint, supervisor, agent, root_causes
):
    assigned = make_complaint()
    sla.complaint_assign(complaint=assigned, assignee=agent, reason="Mine")
    resolved = make_complaint()
    sla.complaint_assign(complaint=resolved, assignee=agent, reason="Mine")
    resolve(acknowledge(resolved, agent), agent)
    Complaint.objects.filter(pk=resolved.pk).update(assignee=None)
    imported = make_complaint()
    Complaint.objects.filter(pk=imported.pk).update(source="cfpb", external_id="1")
    waiting = make_complaint()

    with minutes_later(settings.REDRESS_UNPICKED_ALERT_MINUTES + 1):
        result = alert_unpicked()

    assert result.alerted == 1
    assert list(UnpickedAlert.objects.values_list("complaint_id", flat=True)) == [waiting.pk]


def test_a_team_without_supervisors_has_its_complaints_told_to_the_managers(
    make_complaint, manager, other_team, other_agent
):
    complaint = make_complaint(routed_to=other_team)

    with minutes_later(settings.REDRESS_UNPICKED_ALERT_MINUTES + 1):
        assert alert_unpicked().alerted == 1

    told = Outbox.objects.get(complaint_id=complaint.pk, event_type="complaint.unpicked")
    assert told.audience["users"] == [manager.pk]


def test_the_beat_task_runs_the_check_and_is_scheduled(make_complaint, supervisor):
    complaint = make_complaint()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    with minutes_later(settings.REDRESS_UNPICKED_ALERT_MINUTES + 1):
        answer = alert_unpicked_complaints.apply().get()

    assert "recovery.alert_unpicked" in scheduled
    assert answer == {"alerted": 1, "failed": 0}
    assert len(unpicked_events(complaint)) == 1


def test_a_complaint_that_cannot_be_handled_does_not_hold_up_the_others(
    make_complaint, supervisor, monkeypatch
):
    from recovery import selectors

    good, bad = make_complaint(), make_complaint()
    Complaint.objects.filter(pk=bad.pk).update(team=None)
    real = selectors.supervisors_of

    def fails_for_no_team(team_id):
        if team_id is None:
            raise RuntimeError("no team")
        return real(team_id)

    monkeypatch.setattr(selectors, "supervisors_of", fails_for_no_team)

    with minutes_later(settings.REDRESS_UNPICKED_ALERT_MINUTES + 1):
        result = alert_unpicked()

    assert (result.alerted, result.failed) == (1, 1)
    assert len(unpicked_events(good)) == 1
    # Rolled back with its event: the next run tries it again.
    assert not UnpickedAlert.objects.filter(complaint=bad).exists()
    assert not unpicked_events(bad)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_alert_each_complaint_exactly_once(groups, team):
    from recovery import roles
    from tests.factories import UserFactory

    supervisor = UserFactory(username="racing-supervisor")
    supervisor.groups.add(groups[roles.SUPERVISOR])
    team.members.add(supervisor)
    customer = Customer.objects.create(name="Racer")
    Complaint.objects.bulk_create(
        [
            Complaint(
                reference=f"RACE-{n:06d}",
                customer=customer,
                channel="web",
                subject="Late",
                description="Late.",
                team=team,
            )
            for n in range(RACED_COMPLAINTS)
        ]
    )
    later = timezone.now() + timedelta(minutes=settings.REDRESS_UNPICKED_ALERT_MINUTES + 1)
    barrier = threading.Barrier(RACING_RUNS)
    results, errors = [], []

    def run() -> None:
        try:
            barrier.wait(timeout=JOIN_TIMEOUT_S)
            results.append(alert_unpicked(later))
        except BaseException as error:  # reported to the test, never lost with the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(RACING_RUNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT_S)

    assert not any(thread.is_alive() for thread in threads), "a run is stuck"
    assert not errors, errors
    assert sum(result.alerted for result in results) == RACED_COMPLAINTS
    assert sum(result.failed for result in results) == 0
    assert UnpickedAlert.objects.count() == RACED_COMPLAINTS
    events = ComplaintEvent.objects.filter(type=EventType.UNPICKED)
    assert events.count() == RACED_COMPLAINTS
    assert events.values("complaint_id").distinct().count() == RACED_COMPLAINTS
    told = Outbox.objects.filter(event_type="complaint.unpicked")
    assert told.count() == RACED_COMPLAINTS
    assert {tuple(row.audience["users"]) for row in told} == {(supervisor.pk,)}
