"""Merging a duplicate into the complaint that survives (``recovery.services.merge``).

Personas: ``agent`` works the Billing team's complaints and may withdraw them; ``teammate``
is a second Billing agent; ``other_agent`` works the Delivery team's; ``customer_user`` files
both complaints, ``other_customer_user`` files one of their own.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model

from common.errors import Conflict, PermissionDenied, TransitionNotAllowed, ValidationFailed
from escalation.models import Clock, ClockState
from notifications import delivery
from notifications.models import EmailDelivery, Outbox
from recovery import rules
from recovery.models import Complaint, ComplaintEvent, CustomerContact, EventType, Message
from recovery.services import intake, lifecycle, merge
from recovery.services import messages as message_services
from tests.conftest import acknowledge, resolve
from tests.notifications.shipped_templates import ensure_default_templates
from tests.recovery.test_concurrency import lock_complaint, race

LONDON = ZoneInfo("Europe/London")
LAST = 999999


def events_of(complaint) -> list[ComplaintEvent]:
    return list(ComplaintEvent.objects.filter(complaint=complaint).order_by("id"))


def deliver_everything() -> None:
    for outbox_id in (
        Outbox.objects.filter(delivered_at__isnull=True).order_by("id").values_list("pk", flat=True)
    ):
        delivery.deliver(outbox_id)


@pytest.mark.django_db
def test_the_duplicate_is_withdrawn_into_the_survivor_and_both_timelines_say_so(
    make_complaint, agent, customer_user
):
    survivor = make_complaint(subject="Charged twice for order 4411")
    duplicate = make_complaint(subject="Double charge", description="Still charged twice!")
    acknowledge(duplicate, agent)
    message_services.message_add(complaint=duplicate, actor=customer_user, body="Any news?")
    message_services.message_add(
        complaint=duplicate, actor=agent, body="Card network asked.", internal=True
    )

    kept, merged = merge.complaint_merge(
        survivor=survivor, duplicate=duplicate, actor=agent, reason="Same order, emailed twice."
    )

    assert (kept.pk, kept.state, merged.state) == (survivor.pk, "received", "withdrawn")
    merged = Complaint.objects.get(pk=duplicate.pk)
    assert merged.state == "withdrawn"
    assert merged.duplicate_of_id == survivor.pk
    assert merged.withdrawal_reason == "Same order, emailed twice."
    assert merged.withdrawn_at is not None
    # Its clocks are stopped (cancelled, as any withdrawal's), none left running.
    assert not Clock.objects.filter(
        complaint=merged, state__in=[ClockState.RUNNING, ClockState.PAUSED]
    ).exists()
    assert Clock.objects.filter(complaint=merged, state=ClockState.CANCELLED).exists()
    # The survivor stays as it was, open.
    assert Complaint.objects.get(pk=survivor.pk).state == "received"

    # Every message of the duplicate is copied to the survivor, in order, marked; the
    # duplicate keeps its own.
    originals = list(Message.objects.filter(complaint=duplicate).order_by("created_at", "id"))
    copies = list(
        Message.objects.filter(complaint=survivor, merged_from=duplicate).order_by(
            "created_at", "id"
        )
    )
    assert [m.kind for m in originals] == ["original", "acknowledgement", "reply", "note"]
    assert [(m.body, m.kind, m.direction, m.author_id, m.created_at) for m in copies] == [
        (m.body, m.kind, m.direction, m.author_id, m.created_at) for m in originals
    ]

    survivor_event = events_of(survivor)[-1]
    assert survivor_event.type == EventType.DUPLICATE_MERGED
    assert survivor_event.actor == agent
    assert survivor_event.parameters["duplicate"] == duplicate.reference
    assert survivor_event.parameters["messages_copied"] == 4
    duplicate_event = events_of(duplicate)[-1]
    assert duplicate_event.type == EventType.WITHDRAWN
    assert duplicate_event.parameters["duplicate_of"] == survivor.reference
    assert duplicate_event.parameters["merged"] is True


@pytest.mark.django_db
def test_a_copied_acknowledgement_does_not_acknowledge_the_survivor(make_complaint, agent):
    survivor = make_complaint()
    duplicate = acknowledge(make_complaint(), agent)
    merge.complaint_merge(survivor=survivor, duplicate=duplicate, actor=agent, reason="Same.")

    survivor = Complaint.objects.get(pk=survivor.pk)
    assert survivor.messages.filter(kind="acknowledgement").exists()  # the copy
    assert not rules.has_acknowledgement_message(survivor)
    acknowledge(survivor, agent)
    assert Complaint.objects.get(pk=survivor.pk).state == "acknowledged"


@pytest.mark.django_db
def test_the_customer_is_emailed_once_with_the_surviving_reference(make_complaint, agent, settings):
    ensure_default_templates()
    survivor = make_complaint()
    duplicate = make_complaint()
    deliver_everything()
    before = EmailDelivery.objects.count()

    merge.complaint_merge(survivor=survivor, duplicate=duplicate, actor=agent, reason="Same.")
    deliver_everything()
    deliver_everything()  # a second sweep sends nothing more

    emails = list(EmailDelivery.objects.order_by("id"))[before:]
    assert len(emails) == 1
    (email,) = emails
    assert email.kind == "complaints_merged"
    assert email.complaint_id == survivor.pk
    assert email.recipient == "customer@example.com"
    assert f"{duplicate.reference} is now part of {survivor.reference}" in email.body_text
    assert email.subject.startswith(f"[{survivor.reference}]")


@pytest.fixture
def thursday_before_easter(time_machine):
    time_machine.move_to(datetime(2026, 4, 2, 10, tzinfo=LONDON), tick=False)


def statutory(complaint, kind: str) -> Clock:
    return Clock.objects.exclude(regulatory_profile="").get(complaint=complaint, kind=kind)


def internal(complaint, kind: str) -> Clock:
    return Clock.objects.get(complaint=complaint, kind=kind, regulatory_profile="")


@pytest.mark.django_db
def test_the_survivor_keeps_the_statutory_deadlines_of_the_first_receipt(
    make_complaint, agent, thursday_before_easter, time_machine
):
    first = make_complaint(regulatory_profile="uk_fca_disp", jurisdiction="GB-ENG")
    time_machine.move_to(datetime(2026, 4, 20, 10, tzinfo=LONDON), tick=False)
    later = make_complaint(regulatory_profile="uk_fca_disp", jurisdiction="GB-ENG")
    later_target = internal(later, "resolve").due_at
    # Eight weeks from Mon 20 Apr: the end of Mon 15 June (BST).
    assert statutory(later, "resolve").due_at == datetime(2026, 6, 15, 22, 59, 59, LAST, tzinfo=UTC)

    merge.complaint_merge(survivor=later, duplicate=first, actor=agent, reason="Same.")

    later.refresh_from_db()
    assert later.received_at == first.received_at
    # Eight weeks from Thu 2 Apr, the first receipt: the end of Thu 28 May (BST).
    assert statutory(later, "resolve").due_at == datetime(2026, 5, 28, 22, 59, 59, LAST, tzinfo=UTC)
    assert statutory(later, "resolve").started_at == first.received_at
    # The firm's own target is not the law's: it stays as it was.
    assert internal(later, "resolve").due_at == later_target
    # The queue's copy of the deadline moved with it.
    assert later.next_statutory_deadline_at <= datetime(2026, 5, 28, 23, tzinfo=UTC)
    event = events_of(later)[-1]
    assert event.parameters["received_at"]["after"] == first.received_at.isoformat()
    assert event.parameters["deadlines"]["resolve"]["after"] == ("2026-05-28T22:59:59.999999+00:00")


@pytest.mark.django_db
def test_a_later_duplicate_leaves_the_survivors_deadlines_alone(
    make_complaint, agent, thursday_before_easter, time_machine
):
    first = make_complaint(regulatory_profile="uk_fca_disp", jurisdiction="GB-ENG")
    due = statutory(first, "resolve").due_at
    time_machine.move_to(datetime(2026, 4, 20, 10, tzinfo=LONDON), tick=False)
    later = make_complaint(regulatory_profile="uk_fca_disp", jurisdiction="GB-ENG")

    merge.complaint_merge(survivor=first, duplicate=later, actor=agent, reason="Same.")

    first.refresh_from_db()
    assert first.received_at == datetime(2026, 4, 2, 10, tzinfo=LONDON)
    assert statutory(first, "resolve").due_at == due
    assert "received_at" not in events_of(first)[-1].parameters


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_complaint_cannot_be_merged_into_itself(make_complaint, agent):
    complaint = make_complaint()
    with pytest.raises(ValidationFailed, match="cannot be merged into itself"):
        merge.complaint_merge(survivor=complaint, duplicate=complaint, actor=agent, reason="x")


@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["", "   ", "x" * (merge.REASON_MAX_CHARS + 1)])
def test_a_reason_is_required_and_bounded(make_complaint, agent, reason):
    survivor, duplicate = make_complaint(), make_complaint()
    with pytest.raises(ValidationFailed) as raised:
        merge.complaint_merge(survivor=survivor, duplicate=duplicate, actor=agent, reason=reason)
    assert "reason" in raised.value.details
    assert Complaint.objects.get(pk=duplicate.pk).state == "received"


@pytest.mark.django_db
def test_different_customers_complaints_are_refused(make_complaint, agent, other_customer_user):
    survivor = make_complaint()
    theirs = make_complaint(by=other_customer_user)
    with pytest.raises(Conflict, match="different customers' complaints"):
        merge.complaint_merge(survivor=survivor, duplicate=theirs, actor=agent, reason="Same.")
    assert Complaint.objects.get(pk=theirs.pk).state == "received"
    assert not Message.objects.filter(merged_from=theirs).exists()


def filed_by_agent(make_complaint, agent, email, **fields):
    """A complaint staff log from an email address, not proven unless ``address_proven``."""
    return make_complaint(
        by=agent,
        customer=intake.CustomerDetails(name="Customer", email=email),
        **fields,
    )


@pytest.mark.django_db
def test_refusing_two_established_customers_says_why_and_what_to_do(
    make_complaint, agent, customer_user
):
    survivor = make_complaint()
    # A record of its own (a work address), but established: it holds another complaint.
    theirs = filed_by_agent(make_complaint, agent, "customer.work@example.com")
    filed_by_agent(make_complaint, agent, "customer.work@example.com")

    with pytest.raises(Conflict) as refused:
        merge.complaint_merge(survivor=survivor, duplicate=theirs, actor=agent, reason="Same.")

    assert "both customers are established" in refused.value.message
    assert "note the other's reference in an internal note" in refused.value.message
    assert Complaint.objects.get(pk=theirs.pk).state == "received"


@pytest.mark.django_db
@pytest.mark.parametrize("provisional", ["flagged", "new address"])
def test_a_provisional_customers_duplicate_joins_the_survivors_customer(
    make_complaint, agent, customer_user, provisional
):
    survivor = make_complaint(subject="Charged twice")
    if provisional == "flagged":
        # The public form, with the known customer's address typed by someone unproven.
        duplicate = filed_by_agent(
            make_complaint, agent, "customer@example.com", address_proven=False
        )
        assert duplicate.customer.provisional
        assert duplicate.customer_match_id == survivor.customer_id
    else:
        # A new address, no login, no other complaint: nothing establishes the record.
        duplicate = filed_by_agent(make_complaint, agent, "customer.work@example.com")
        assert not duplicate.customer.provisional
    left = duplicate.customer_id
    assert left != survivor.customer_id

    merge.complaint_merge(
        survivor=survivor, duplicate=duplicate, actor=agent, reason="Same card, she phoned."
    )

    merged = Complaint.objects.get(pk=duplicate.pk)
    assert merged.state == "withdrawn" and merged.duplicate_of_id == survivor.pk
    assert merged.customer_id == survivor.customer_id
    assert merged.customer_match_id is None
    assert not Complaint.objects.filter(customer_id=left).exists()
    linked = {
        "complaint": duplicate.reference,
        "customer_id": survivor.customer_id,
        "provisional_customer_id": left,
    }
    (on_survivor,) = [e for e in events_of(survivor) if e.type == EventType.DUPLICATE_MERGED]
    (on_duplicate,) = [e for e in events_of(duplicate) if e.type == EventType.WITHDRAWN]
    assert on_survivor.parameters["customer_linked"] == linked
    assert on_duplicate.parameters["customer_linked"] == linked


@pytest.mark.django_db
def test_a_provisional_survivor_moves_to_the_duplicates_established_customer(
    make_complaint, agent, customer_user
):
    established = make_complaint()
    survivor = filed_by_agent(make_complaint, agent, "someone.new@example.com")
    left = survivor.customer_id

    kept, _ = merge.complaint_merge(
        survivor=survivor, duplicate=established, actor=agent, reason="Same person, checked."
    )

    assert Complaint.objects.get(pk=survivor.pk).customer_id == established.customer_id
    assert kept.customer_id == established.customer_id
    (event,) = [e for e in events_of(survivor) if e.type == EventType.DUPLICATE_MERGED]
    assert event.parameters["customer_linked"] == {
        "complaint": survivor.reference,
        "customer_id": established.customer_id,
        "provisional_customer_id": left,
    }


@pytest.mark.django_db
def test_a_customer_with_a_login_or_an_authorised_contact_is_established(
    make_complaint, agent, customer_user, other_customer_user
):
    survivor = make_complaint()
    # A portal login: established though it holds this one complaint only.
    theirs = make_complaint(by=other_customer_user)
    assert not merge.is_provisional_for(theirs)
    assert merge.customer_link(survivor=survivor, duplicate=theirs) is None
    # An authorised contact establishes a record too.
    other = filed_by_agent(make_complaint, agent, "partner@example.com")
    assert merge.is_provisional_for(other)
    CustomerContact.objects.create(customer=other.customer, email="husband@example.com")
    assert not merge.is_provisional_for(other)


@pytest.mark.django_db
def test_a_duplicate_already_merged_is_refused(make_complaint, agent):
    survivor, other, duplicate = make_complaint(), make_complaint(), make_complaint()
    merge.complaint_merge(survivor=survivor, duplicate=duplicate, actor=agent, reason="Same.")
    for target, where in ((survivor, "this complaint"), (other, "another one")):
        with pytest.raises(Conflict, match=f"already merged into {where}"):
            merge.complaint_merge(
                survivor=target,
                duplicate=Complaint.objects.get(pk=duplicate.pk),
                actor=agent,
                reason="Again.",
            )
    assert Message.objects.filter(merged_from=duplicate).count() == 1


@pytest.mark.django_db
def test_closed_complaints_are_refused_either_way(make_complaint, agent, root_causes):
    open_one = make_complaint()
    resolved = resolve(acknowledge(make_complaint(), agent), agent)
    withdrawn = lifecycle.complaint_withdraw(
        complaint=make_complaint(), actor=agent, reason="Customer withdrew it."
    )
    for closed in (resolved, withdrawn):
        with pytest.raises(TransitionNotAllowed, match="only open complaints"):
            merge.complaint_merge(survivor=open_one, duplicate=closed, actor=agent, reason="x")
        with pytest.raises(TransitionNotAllowed, match=f"{closed.reference} is"):
            merge.complaint_merge(survivor=closed, duplicate=open_one, actor=agent, reason="x")
    assert Complaint.objects.get(pk=open_one.pk).state == "received"


@pytest.mark.django_db
def test_only_staff_who_work_both_and_may_withdraw_may_merge(
    make_complaint, agent, other_agent, other_team, customer_user
):
    survivor = make_complaint()
    elsewhere = make_complaint(routed_to=other_team)
    # Works the survivor, not the duplicate (another team's).
    with pytest.raises(PermissionDenied, match="working on both"):
        merge.complaint_merge(survivor=survivor, duplicate=elsewhere, actor=agent, reason="x")
    # The other way round, for the other team's agent.
    with pytest.raises(PermissionDenied):
        merge.complaint_merge(survivor=survivor, duplicate=elsewhere, actor=other_agent, reason="x")
    # The customer owns both but is not staff.
    mine = make_complaint()
    with pytest.raises(PermissionDenied):
        merge.complaint_merge(survivor=survivor, duplicate=mine, actor=customer_user, reason="x")
    # Staff without the permission to withdraw.
    agent.user_permissions.clear()
    for group in agent.groups.all():
        agent.groups.remove(group)
    agent = get_user_model().objects.get(pk=agent.pk)
    with pytest.raises(PermissionDenied):
        merge.complaint_merge(survivor=survivor, duplicate=mine, actor=agent, reason="x")
    assert Complaint.objects.filter(state="withdrawn").count() == 0


# -- two merges at once --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_crossed_merges_one_wins_the_other_is_refused(make_complaint, agent, teammate):
    """A into B while B into A: both rows are locked lowest id first, so the second waits
    for the first and then finds its survivor withdrawn (409), never a deadlock."""
    for _ in range(3):
        first, second = make_complaint(), make_complaint()

        def merging(survivor_pk, duplicate_pk, actor_pk):
            def call():
                return merge.complaint_merge(
                    survivor=Complaint.objects.get(pk=survivor_pk),
                    duplicate=Complaint.objects.get(pk=duplicate_pk),
                    actor=get_user_model().objects.get(pk=actor_pk),
                    reason="Same order.",
                )

            return call

        outcomes = race(
            [
                merging(first.pk, second.pk, agent.pk),
                merging(second.pk, first.pk, teammate.pk),
            ],
            # The higher id's row: each merge takes the lower one first and waits here.
            behind=lock_complaint(second),
        )

        errors = [o.error for o in outcomes if o.error is not None]
        assert len(errors) == 1, outcomes
        assert isinstance(errors[0], TransitionNotAllowed | Conflict), errors
        states = sorted(
            Complaint.objects.filter(pk__in=[first.pk, second.pk]).values_list("state", flat=True)
        )
        assert states == ["received", "withdrawn"]
        merged = Complaint.objects.get(state="withdrawn", pk__in=[first.pk, second.pk])
        kept = first if merged.pk == second.pk else second
        assert merged.duplicate_of_id == kept.pk
        assert Message.objects.filter(merged_from=merged, complaint=kept).count() == 1
        assert not Message.objects.filter(merged_from=kept).exists()
        assert (
            ComplaintEvent.objects.filter(type=EventType.DUPLICATE_MERGED, complaint=kept).count()
            == 1
        )


@pytest.mark.django_db(transaction=True)
def test_two_merges_of_one_duplicate_into_two_survivors_merge_it_once(
    make_complaint, agent, teammate
):
    duplicate, one, other = make_complaint(), make_complaint(), make_complaint()

    def merging(survivor_pk, actor_pk):
        def call():
            return merge.complaint_merge(
                survivor=Complaint.objects.get(pk=survivor_pk),
                duplicate=Complaint.objects.get(pk=duplicate.pk),
                actor=get_user_model().objects.get(pk=actor_pk),
                reason="Same.",
            )

        return call

    outcomes = race(
        [merging(one.pk, agent.pk), merging(other.pk, teammate.pk)],
        behind=lock_complaint(duplicate),
    )

    errors = [o.error for o in outcomes if o.error is not None]
    assert len(errors) == 1 and isinstance(errors[0], Conflict), outcomes
    assert "already merged into another one" in errors[0].message
    assert Message.objects.filter(merged_from=duplicate).count() == 1
    assert ComplaintEvent.objects.filter(type=EventType.DUPLICATE_MERGED).count() == 1


@pytest.mark.django_db
def test_an_email_on_the_merged_duplicate_joins_the_survivors_conversation(make_complaint, agent):
    from email.message import EmailMessage
    from email.utils import make_msgid

    from notifications.ingest import ingest
    from notifications.models import InboundStatus

    survivor, duplicate = make_complaint(), make_complaint()
    merge.complaint_merge(survivor=survivor, duplicate=duplicate, actor=agent, reason="Same.")
    email = EmailMessage()
    email["From"] = "Customer <customer@example.com>"
    email["To"] = "complaints@redress.invalid"
    email["Subject"] = f"Re: {duplicate.reference}"
    email["Message-ID"] = make_msgid(domain="mail.example.org")
    email.set_content("Any news on this?")

    inbound = ingest(email.as_bytes(), source="test")

    assert inbound.status == InboundStatus.ACCEPTED
    assert inbound.complaint_id == survivor.pk
    assert Message.objects.get(pk=inbound.message_id).complaint_id == survivor.pk
    assert f"{duplicate.reference} was merged into {survivor.reference}" in inbound.reason
    assert Complaint.objects.count() == 2  # no new complaint opened
