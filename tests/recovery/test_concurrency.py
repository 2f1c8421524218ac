"""Concurrent writes on real PostgreSQL: one winner, one clear refusal, never a lost update.

Every test here runs contenders on real threads, each with its own database connection, in
``transaction=True`` tests so that what one thread commits the others really see.

A barrier alone only makes a race *likely*. To make it certain, the main thread first takes
the lock the contenders will need (the complaint row, or the reference counter row), lets
them go, waits until PostgreSQL reports every one of them waiting on a lock, and only then
commits. So each contender is already inside its transaction, past every unlocked read,
when the lock is released: the worst interleaving, every time.
"""

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from common.errors import Conflict, Gone, TransitionNotAllowed
from desk.accounts import portal_account
from notifications.models import Outbox
from recovery import roles
from recovery.models import (
    Complaint,
    ComplaintEvent,
    ComplaintRootCause,
    EventType,
    IdempotencyKey,
    Message,
    ReferenceCounter,
)
from recovery.services import address_proof, intake, lifecycle, routing, sla
from tests.conftest import acknowledge
from tests.factories import TeamFactory, UserFactory, api_token_for

pytestmark = pytest.mark.django_db(transaction=True)

# Each racing test repeats its race: a lock that works once by luck rarely works five times.
ROUNDS = 5
# Intakes racing for the reference counter; well under PostgreSQL's 100 connections.
CONCURRENT_INTAKES = 20
# Generous bounds for a loaded 2-core CI machine; a healthy race settles in milliseconds.
LOCK_WAIT_TIMEOUT_S = 15
THREAD_JOIN_TIMEOUT_S = 30
# Both refusals a losing transition may meet; the API maps both to 409.
LOSING_ERRORS = (TransitionNotAllowed, Conflict)


@dataclass
class Outcome:
    value: object = None
    error: BaseException | None = None


def _sessions_waiting_on_a_lock() -> int:
    """Sessions of this test database waiting on a lock right now."""
    with connection.cursor() as cursor:
        # pg_stat_activity is a per-transaction snapshot; clear it so each poll is fresh.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def race(
    calls: list[Callable[[], object]],
    *,
    behind: Callable[[], None],
) -> list[Outcome]:
    """Run ``calls`` on their own threads, all queued behind a lock the caller holds.

    1. In a transaction on the main thread, ``behind()`` takes the lock the calls need.
    2. The threads start together (barrier) and run until they block on that lock.
    3. Once PostgreSQL shows every thread waiting (or done), the main thread commits,
       releasing them all at once.
    Each thread closes its own connection, so none outlives the test's database flush.
    """
    barrier = threading.Barrier(len(calls))
    outcomes = [Outcome() for _ in calls]

    def work(outcome: Outcome, call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=LOCK_WAIT_TIMEOUT_S)
            outcome.value = call()
        except BaseException as exc:  # reported to the test, never lost with the thread
            outcome.error = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(outcome, call), daemon=True)
        for outcome, call in zip(outcomes, calls, strict=True)
    ]
    with transaction.atomic():
        behind()
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + LOCK_WAIT_TIMEOUT_S
        while True:
            finished = sum(not thread.is_alive() for thread in threads)
            if _sessions_waiting_on_a_lock() + finished >= len(calls):
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"Only {_sessions_waiting_on_a_lock()} of {len(calls)} contenders ever "
                    "waited on the lock: the race never happened."
                )
            time.sleep(0.005)
    for thread in threads:
        thread.join(timeout=THREAD_JOIN_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a contender is stuck"
    return outcomes


def lock_complaint(complaint: Complaint) -> Callable[[], None]:
    return lambda: Complaint.objects.select_for_update().get(pk=complaint.pk)


def lock_reference_counter() -> Callable[[], None]:
    year = timezone.now().year
    ReferenceCounter.objects.get_or_create(year=year)
    return lambda: ReferenceCounter.objects.select_for_update().get(year=year)


def winner_and_loser(outcomes: list[Outcome]) -> tuple[int, Outcome]:
    """Index of the one call that succeeded, and the outcome of the one that did not."""
    unexpected = [o.error for o in outcomes if o.error and not isinstance(o.error, LOSING_ERRORS)]
    assert not unexpected, f"a contender failed with something other than 409: {unexpected!r}"
    winners = [i for i, o in enumerate(outcomes) if o.error is None]
    assert len(winners) == 1, f"expected exactly one winner, got outcomes {outcomes!r}"
    (loser,) = [o for o in outcomes if o.error is not None]
    return winners[0], loser


def in_thread(function: Callable, *, complaint_pk: int, actor_pk: int, **kwargs):
    """A call that loads its own complaint and actor on the thread's own connection."""

    def call():
        complaint = Complaint.objects.get(pk=complaint_pk)
        actor = get_user_model().objects.get(pk=actor_pk)
        return function(complaint=complaint, actor=actor, **kwargs)

    return call


def event_types(complaint: Complaint) -> list[str]:
    return list(ComplaintEvent.objects.filter(complaint=complaint).values_list("type", flat=True))


def outbox_count(complaint: Complaint) -> int:
    return Outbox.objects.filter(complaint_id=complaint.pk).count()


@pytest.fixture
def teammate(groups, team):
    """A second agent on ``team``: may work the same complaints as ``agent``."""
    user = UserFactory(username="teammate")
    user.groups.add(groups[roles.AGENT])
    team.members.add(user)
    return user


def token_for(user) -> dict[str, str]:
    return {"Authorization": f"Token {api_token_for(user)}"}


# -- transitions through the services ------------------------------------------------------


def test_two_agents_acknowledging_at_once_acknowledge_exactly_once(make_complaint, agent, teammate):
    for _ in range(ROUNDS):
        complaint = make_complaint()
        outcomes = race(
            [
                in_thread(
                    lifecycle.complaint_acknowledge,
                    complaint_pk=complaint.pk,
                    actor_pk=actor.pk,
                    message=f"{actor.username} here: we have {complaint.reference}.",
                    next_steps="We reply within 5 days.",
                )
                for actor in (agent, teammate)
            ],
            behind=lock_complaint(complaint),
        )

        winner, _ = winner_and_loser(outcomes)
        winning_agent = (agent, teammate)[winner]
        complaint.refresh_from_db()
        assert complaint.state == "acknowledged"
        assert event_types(complaint) == ["received", "routed", "acknowledged"]
        acknowledgements = Message.objects.filter(complaint=complaint, kind="acknowledgement")
        # The one message sent is the winner's, not a mix of both requests.
        assert [m.author for m in acknowledgements] == [winning_agent]
        event = ComplaintEvent.objects.get(complaint=complaint, type="acknowledged")
        assert event.actor == winning_agent
        assert outbox_count(complaint) == 3


def test_two_agents_taking_one_card_at_once_take_it_once(make_complaint, agent, teammate):
    """Both saw the complaint unassigned on the board; the second is told who has it now."""
    for _ in range(ROUNDS):
        complaint = make_complaint()
        outcomes = race(
            [
                in_thread(
                    sla.complaint_take,
                    complaint_pk=complaint.pk,
                    actor_pk=actor.pk,
                    seen_assignee_id=None,
                )
                for actor in (agent, teammate)
            ],
            behind=lock_complaint(complaint),
        )

        winner, loser = winner_and_loser(outcomes)
        winning_agent = (agent, teammate)[winner]
        complaint.refresh_from_db()
        assert complaint.assignee == winning_agent
        assert isinstance(loser.error, Conflict)
        assert f"it is now assigned to {winning_agent.get_username()}" in loser.error.message
        assert event_types(complaint).count("assigned") == 1


def test_two_supervisors_moving_one_complaint_at_once_record_each_move_from_where_it_was(
    make_complaint, groups, team, other_team
):
    """Both moves happen, one after the other: the second's timeline event names the team the
    first moved it to, not the one it was in before the wait."""
    third = TeamFactory(name="Retention", slug="retention")
    supervisors = []
    for name in ("first_supervisor", "second_supervisor"):
        user = UserFactory(username=name)
        user.groups.add(groups[roles.SUPERVISOR])
        for each in (team, other_team, third):
            each.members.add(user)
        supervisors.append(user)
    complaint = make_complaint()
    outcomes = race(
        [
            in_thread(
                routing.complaint_move_team,
                complaint_pk=complaint.pk,
                actor_pk=actor.pk,
                team=destination,
            )
            for actor, destination in zip(supervisors, (other_team, third), strict=True)
        ],
        behind=lock_complaint(complaint),
    )

    assert [outcome.error for outcome in outcomes] == [None, None]
    first, second = ComplaintEvent.objects.filter(
        complaint=complaint, type=EventType.ROUTED, parameters__by="moved"
    ).order_by("id")
    assert first.parameters["previous_team"] == "Billing"
    assert second.parameters["previous_team"] == first.parameters["team"]
    complaint.refresh_from_db()
    assert complaint.team.name == second.parameters["team"]


def test_resolve_racing_withdraw_leaves_only_the_winners_change(
    make_complaint, agent, customer_user, root_causes
):
    resolve = {
        "outcome": "upheld",
        "summary": "Refunded the duplicate charge.",
        "root_causes": ["billing.duplicate-charge"],
    }
    for _ in range(ROUNDS):
        complaint = acknowledge(make_complaint(), agent)
        outcomes = race(
            [
                in_thread(
                    lifecycle.complaint_resolve,
                    complaint_pk=complaint.pk,
                    actor_pk=agent.pk,
                    **resolve,
                ),
                in_thread(
                    lifecycle.complaint_withdraw,
                    complaint_pk=complaint.pk,
                    actor_pk=customer_user.pk,
                    reason="Sorted it out with my bank.",
                ),
            ],
            behind=lock_complaint(complaint),
        )

        winner, _ = winner_and_loser(outcomes)
        complaint.refresh_from_db()
        causes = ComplaintRootCause.objects.filter(complaint=complaint)
        if winner == 0:
            assert complaint.state == "resolved"
            assert event_types(complaint) == ["received", "routed", "acknowledged", "resolved"]
            assert complaint.outcome == "upheld"
            assert complaint.resolved_at is not None
            assert [(c.root_cause.code, c.is_primary) for c in causes] == [
                ("billing.duplicate-charge", True)
            ]
            assert (complaint.withdrawn_at, complaint.withdrawal_reason) == (None, "")
        else:
            assert complaint.state == "withdrawn"
            assert event_types(complaint) == ["received", "routed", "acknowledged", "withdrawn"]
            assert complaint.withdrawn_at is not None
            assert complaint.withdrawal_reason == "Sorted it out with my bank."
            # The losing resolution wrote causes and fields before it was refused: all gone.
            assert not causes.exists()
            assert (complaint.outcome, complaint.resolution_summary) == ("", "")
            assert complaint.resolved_at is None
        assert outbox_count(complaint) == 4


# -- transitions through HTTP --------------------------------------------------------------


def test_two_concurrent_acknowledge_requests_answer_200_and_409(
    live_server, make_complaint, agent, teammate
):
    for _ in range(ROUNDS):
        complaint = make_complaint()
        url = f"{live_server.url}/api/complaints/{complaint.reference}/transitions/"

        def post_as(headers, url=url, reference=complaint.reference):
            with httpx.Client(headers=headers, timeout=THREAD_JOIN_TIMEOUT_S) as http:
                return http.post(
                    url,
                    json={
                        "transition": "acknowledge",
                        "message": f"We have your complaint {reference}.",
                        "next_steps": "We reply within 5 days.",
                    },
                )

        auth = [token_for(actor) for actor in (agent, teammate)]
        # Both requests pass the view's unlocked state check before either commits.
        outcomes = race(
            [lambda h=headers: post_as(h) for headers in auth],
            behind=lock_complaint(complaint),
        )

        assert [o.error for o in outcomes] == [None, None]
        answers = sorted((o.value for o in outcomes), key=lambda r: r.status_code)
        assert [a.status_code for a in answers] == [200, 409], [a.text for a in answers]
        assert answers[0].json()["state"] == "acknowledged"
        assert answers[1].json()["error"] in {"transition_not_allowed", "conflict"}
        complaint.refresh_from_db()
        assert complaint.state == "acknowledged"
        assert event_types(complaint) == ["received", "routed", "acknowledged"]
        assert Message.objects.filter(complaint=complaint, kind="acknowledgement").count() == 1
        assert outbox_count(complaint) == 3


# -- intake --------------------------------------------------------------------------------


def _post_complaint(live_server, auth: dict, body: dict, key: str) -> httpx.Response:
    headers = {**auth, "Idempotency-Key": key}
    with httpx.Client(headers=headers, timeout=THREAD_JOIN_TIMEOUT_S) as http:
        return http.post(f"{live_server.url}/api/complaints/", json=body)


def _intake_totals() -> tuple[int, int, int]:
    return (
        Complaint.objects.count(),
        ComplaintEvent.objects.filter(type="received").count(),
        IdempotencyKey.objects.count(),
    )


def test_two_concurrent_intakes_with_one_key_and_body_make_one_complaint(
    live_server, customer_user
):
    auth = token_for(customer_user)
    body = {"subject": "Charged twice", "description": "Two charges for one order."}
    for _ in range(ROUNDS):
        key = str(uuid.uuid4())
        before = _intake_totals()
        # Both requests find the key unused before either commits: the insert race.
        outcomes = race(
            [lambda k=key: _post_complaint(live_server, auth, body, k)] * 2,
            behind=lock_reference_counter(),
        )

        assert [o.error for o in outcomes] == [None, None]
        answers = sorted((o.value for o in outcomes), key=lambda r: r.status_code)
        assert [a.status_code for a in answers] == [200, 201], [a.text for a in answers]
        first, replay = answers[1].json(), answers[0].json()
        assert replay["reference"] == first["reference"]
        assert answers[0].headers["Idempotent-Replayed"] == "true"
        assert _intake_totals() == (before[0] + 1, before[1] + 1, before[2] + 1)
        complaint = Complaint.objects.get(reference=first["reference"])
        assert IdempotencyKey.objects.get(key=key).complaint == complaint
        assert outbox_count(complaint) == 2


def test_two_concurrent_intakes_with_one_key_and_different_bodies_conflict(
    live_server, customer_user
):
    auth = token_for(customer_user)
    bodies = [
        {"subject": "Charged twice", "description": "Two charges for one order."},
        {"subject": "Parcel lost", "description": "The courier never came."},
    ]
    for _ in range(ROUNDS):
        key = str(uuid.uuid4())
        before = _intake_totals()
        outcomes = race(
            [lambda b=body, k=key: _post_complaint(live_server, auth, b, k) for body in bodies],
            behind=lock_reference_counter(),
        )

        assert [o.error for o in outcomes] == [None, None]
        statuses = [o.value.status_code for o in outcomes]
        assert sorted(statuses) == [201, 409], [o.value.text for o in outcomes]
        created = outcomes[statuses.index(201)].value.json()
        refused = outcomes[statuses.index(409)].value.json()
        assert refused["error"] == "conflict"
        # The refusal points at the complaint the key already made.
        assert refused["details"] == {"complaint": created["reference"]}
        assert _intake_totals() == (before[0] + 1, before[1] + 1, before[2] + 1)
        complaint = Complaint.objects.get(reference=created["reference"])
        assert complaint.subject == bodies[statuses.index(201)]["subject"]
        assert IdempotencyKey.objects.get(key=key).complaint == complaint


def test_concurrent_intakes_get_distinct_consecutive_references(customer_user):
    lock = lock_reference_counter()
    last_issued = ReferenceCounter.objects.get(year=timezone.now().year).last_number
    complaints_before = Complaint.objects.count()

    def submit(number: int):
        def call():
            actor = get_user_model().objects.get(pk=customer_user.pk)
            complaint, created = intake.complaint_submit(
                actor=actor,
                intake=intake.ComplaintIntake(
                    subject=f"Complaint {number}", description="Something went wrong."
                ),
            )
            assert created
            return complaint.reference

        return call

    outcomes = race([submit(n) for n in range(CONCURRENT_INTAKES)], behind=lock)

    assert [o.error for o in outcomes] == [None] * CONCURRENT_INTAKES
    references = [o.value for o in outcomes]
    year = timezone.now().year
    assert all(r.startswith(f"RDR-{year}-") for r in references), references
    numbers = sorted(int(r.rsplit("-", 1)[1]) for r in references)
    # No intake failed, so no number may be skipped or issued twice.
    assert numbers == list(range(last_issued + 1, last_issued + CONCURRENT_INTAKES + 1))
    assert Complaint.objects.count() == complaints_before + CONCURRENT_INTAKES
    assert set(Complaint.objects.values_list("reference", flat=True)) >= set(references)


def test_a_confirmation_link_clicked_twice_and_a_staff_link_at_once_link_once(
    make_complaint, customer_user, agent, team
):
    make_complaint()  # the address owner's own complaint
    unproven, _ = intake.complaint_submit(
        actor=portal_account(),
        intake=intake.ComplaintIntake(
            subject="Filed under the customer's address",
            description="Refund me.",
            customer=intake.CustomerDetails(name="Filer", email=customer_user.customer.email),
            team=team.slug,  # the agent's, so that all three contenders may link
            address_proven=False,
        ),
    )
    token = address_proof.confirmation_token(unproven)

    outcomes = race(
        [
            lambda: address_proof.customer_address_confirm(token=token),
            lambda: address_proof.customer_address_confirm(token=token),
            lambda: address_proof.complaint_customer_link(
                complaint=unproven, actor=agent, reason="Checked on the phone."
            ),
        ],
        behind=lock_complaint(unproven),
    )

    linked = [outcome for outcome in outcomes if outcome.error is None]
    refused = [outcome.error for outcome in outcomes if outcome.error is not None]
    assert len(linked) == 1
    assert all(isinstance(error, Gone | Conflict) for error in refused), refused
    unproven.refresh_from_db()
    assert unproven.customer_id == customer_user.customer.pk
    assert unproven.customer_match_id is None
    linking = (EventType.CUSTOMER_ADDRESS_CONFIRMED, EventType.CUSTOMER_LINKED_BY_STAFF)
    assert unproven.events.filter(type__in=linking).count() == 1


def test_complaints_refreshed_in_many_threads_at_once_never_refuse_their_own_state(
    make_complaint,
):
    # django-fsm switches the state's protection off on the field (shared by every thread)
    # for a refresh: under ASGI's threads, one refresh switched it on under another, which
    # failed with "Direct state modification is not allowed" (22 of 100 concurrent intakes).
    complaint = make_complaint()
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def refresh_repeatedly():
        try:
            start.wait(timeout=THREAD_JOIN_TIMEOUT_S)
            mine = Complaint.objects.get(pk=complaint.pk)
            for round_number in range(40):
                if round_number % 2:
                    mine.refresh_from_db()
                else:
                    mine.refresh_from_db(fields=["next_deadline_at", "updated_at"])
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh_repeatedly) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_JOIN_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
