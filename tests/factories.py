"""factory_boy factories, and complaints in any state built through the services.

Complaints are never written with a state of their own: ``ComplaintFactory`` submits one
through the intake service and ``complaint_in_state`` runs the lifecycle services up to the
state asked for, so each has its timeline, outbox rows and clocks as in production. Clock
and outbox rows can also be made bare, for tests of the sweeper and of delivery.
"""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from escalation.models import Clock, ClockKind, ClockState, TimeBasis
from notifications.models import Outbox
from recovery.models import Category, Complaint, Customer, RecoveryAction, RootCause, State, Team
from recovery.services import intake, lifecycle, remedies


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")


class RootCauseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RootCause
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"cause-{n}")
    name = factory.Sequence(lambda n: f"Cause {n}")


def api_token_for(user) -> str:
    """A fresh API token (its secret) for ``user``, as POST /api/auth/token/ issues one."""
    from recovery.services.api_tokens import api_token_issue

    return api_token_issue(user=user)[1]


class ComplaintFactory(factory.Factory):
    """Submits a complaint through ``complaint_submit``: ``ComplaintFactory(by=customer)``.

    ``by`` is whoever submits it (a customer with a portal login, or staff giving
    ``customer=CustomerDetails(...)``); ``team`` routes it to a team, as triage would.
    """

    class Meta:
        model = intake.ComplaintIntake

    subject = "Charged twice"
    description = "My card was charged twice."

    @classmethod
    def _create(cls, model_class, *args, by, team=None, **fields):
        complaint, _ = intake.complaint_submit(actor=by, intake=model_class(*args, **fields))
        if team is not None:
            complaint.team = team
            complaint.save(update_fields=["team"])
        return complaint


# The transitions that lead from "received" to each state, in order.
PATH_TO = {
    State.RECEIVED: [],
    State.ACKNOWLEDGED: ["acknowledge"],
    State.RESOLVED: ["acknowledge", "resolve"],
    State.LOOP_CLOSED: ["acknowledge", "resolve", "close_loop"],
    State.WITHDRAWN: ["withdraw"],
}
PRIMARY_ROOT_CAUSE = "billing.duplicate-charge"


def _step(name: str, complaint: Complaint, agent, withdrawn_by=None) -> Complaint:
    if name == "acknowledge":
        return lifecycle.complaint_acknowledge(
            complaint=complaint,
            actor=agent,
            message=f"We have your complaint {complaint.reference}.",
            next_steps="We will investigate and reply within 5 days.",
        )
    if name == "resolve":
        parent, _ = RootCause.objects.get_or_create(code="billing", defaults={"name": "Billing"})
        RootCause.objects.get_or_create(
            code=PRIMARY_ROOT_CAUSE, defaults={"name": "Duplicate charge", "parent": parent}
        )
        return lifecycle.complaint_resolve(
            complaint=complaint,
            actor=agent,
            outcome="upheld",
            summary="Refunded the duplicate charge.",
            root_causes=[PRIMARY_ROOT_CAUSE],
        )
    if name == "close_loop":
        return lifecycle.complaint_close_loop(
            complaint=complaint,
            actor=agent,
            what_we_found="A retry in the payment gateway.",
            what_we_did="Refunded the charge.",
            what_will_change="The gateway no longer retries settled payments.",
        )
    return lifecycle.complaint_withdraw(
        complaint=complaint, actor=withdrawn_by or agent, reason="Sorted out with the bank."
    )


def complaint_in_state(
    state: str, *, by, agent, team=None, withdrawn_by=None, **fields
) -> Complaint:
    """A complaint submitted by ``by`` and moved to ``state`` by ``agent`` (who must work
    ``team``, the team it is routed to; by default the agent's first team). A withdrawn one
    is withdrawn by ``withdrawn_by`` (the customer, say), else by the agent."""
    team = team if team is not None else agent.teams.first()
    complaint = ComplaintFactory(by=by, team=team, **fields)
    for name in PATH_TO[state]:
        complaint = _step(name, complaint, agent, withdrawn_by)
    return complaint


class ClockFactory(factory.django.DjangoModelFactory):
    """A bare running clock, due in an hour of calendar time; give ``complaint``."""

    class Meta:
        model = Clock

    kind = ClockKind.RESOLVE
    state = ClockState.RUNNING
    basis = TimeBasis.CALENDAR
    target_seconds = 3600
    started_at = factory.LazyFunction(timezone.now)
    due_at = factory.LazyAttribute(lambda c: c.started_at + timedelta(seconds=c.target_seconds))


class OutboxFactory(factory.django.DjangoModelFactory):
    """An undelivered outbox row; the services write real ones (``recovery.events``)."""

    class Meta:
        model = Outbox

    event_type = "complaint.received"
    idempotency_key = factory.Sequence(lambda n: f"factory:{n}")
    payload = factory.LazyAttribute(lambda o: {"v": 1, "complaint_id": o.complaint_id})


class RecoveryActionFactory(factory.Factory):
    """Proposes a recovery through ``recovery_propose``: ``RecoveryActionFactory(complaint=c,
    actor=agent)``; an apology by default (no amount, so no approval)."""

    class Meta:
        model = RecoveryAction

    type = "apology"

    @classmethod
    def _create(cls, model_class, *args, complaint, actor, **fields):
        return remedies.recovery_propose(complaint=complaint, actor=actor, **fields)
