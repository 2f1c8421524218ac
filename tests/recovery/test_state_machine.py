"""The lifecycle against a reference model: random transitions by random actors.

Hypothesis drives the real services (``recovery.services.lifecycle``) on a real complaint
with any of the five transitions, any persona and valid or invalid payloads. Beside it runs
a reference model written here from the design (DESIGN.md §3) and the role table, not
imported from the code, so a wrong declaration in the code disagrees with it. After every
step the database must match the model, and every accepted change must have left exactly
one timeline event and one outbox row; every refused one, nothing at all.
"""

from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from django.utils import timezone
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from common import errors
from notifications.models import Outbox
from recovery.models import Complaint, ComplaintEvent, ComplaintRootCause, Message, Team
from recovery.services import intake, lifecycle
from tests.factories import RootCauseFactory

# Backend-independent: ./redress test runs this file on SQLite (the embedded mode) too.
pytestmark = pytest.mark.sqlite

# -- the reference model -------------------------------------------------------------------

# (state, transition) -> state after it; any pair not here is refused with a 409.
NEXT_STATE = {
    ("received", "acknowledge"): "acknowledged",
    ("received", "withdraw"): "withdrawn",
    ("acknowledged", "resolve"): "resolved",
    ("acknowledged", "withdraw"): "withdrawn",
    ("resolved", "close_loop"): "loop_closed",
    ("resolved", "reopen"): "acknowledged",
    ("loop_closed", "reopen"): "acknowledged",
}
TRANSITIONS = ("acknowledge", "resolve", "close_loop", "reopen", "withdraw")

# Personas, as the complaint (a ``customer``'s, routed to the ``agent``'s team) sees them.
PERSONAS = (
    "agent",  # agent on the complaint's team
    "other_agent",  # agent on another team
    "supervisor",  # supervisor of the complaint's team; works any team
    "manager",  # complaints manager; works any team
    "customer",  # the customer who complained
    "other_customer",  # another customer
    "outsider",  # logged in, no role
)
WORKING_STAFF = frozenset({"agent", "supervisor", "manager"})
MAY = {
    "acknowledge": WORKING_STAFF,
    "resolve": WORKING_STAFF,
    "close_loop": WORKING_STAFF,
    # Undoing a resolution is a supervisor's call, not a frontline agent's.
    "reopen": frozenset({"supervisor", "manager"}),
    # The customer may withdraw their own complaint.
    "withdraw": WORKING_STAFF | {"customer"},
}
# The timeline events each accepted transition writes, in order (closing the loop also
# sends the survey, the first time only: a complaint has one survey, however often its loop
# is closed again after a reopen; ``ComplaintLifecycle._events_of``).
EVENTS_OF = {
    "acknowledge": ("acknowledged",),
    "resolve": ("resolved",),
    "close_loop": ("loop_closed", "survey_sent"),
    "reopen": ("reopened",),
    "withdraw": ("withdrawn",),
}

ACTIVE_CAUSES = ("billing", "billing.duplicate-charge", "billing.refund-delay")
RETIRED_CAUSE = "billing.legacy-fee"
UNKNOWN_CAUSE = "billing.no-such-cause"


@dataclass
class Expected:
    """What the complaint must look like, according to the model."""

    state: str = "received"
    events: list[str] = field(default_factory=lambda: ["received", "routed"])
    ever_acknowledged: bool = False
    reopens: int = 0
    # Loop-closing messages sent: each close_loop sends one, a reopen takes none back.
    loop_closings: int = 0
    # (code, primary) of the last accepted resolution; reopening keeps them on record.
    root_causes: frozenset = frozenset()
    duplicate_of: str | None = None


# -- payloads: each knows whether the model accepts it, and what it changes ------------------


@dataclass(frozen=True)
class Acknowledge:
    names_reference: bool
    lower_case_reference: bool

    def kwargs(self, reference: str, other_reference: str) -> dict:
        shown = reference.lower() if self.lower_case_reference else reference
        said = f"We have your complaint {shown}." if self.names_reference else "We have it."
        return {"message": said, "next_steps": "We reply within 5 days."}

    def refusal(self, persona: str):
        # The customer quotes the reference; an acknowledgement without it is no use.
        return None if self.names_reference else errors.ValidationFailed

    def apply(self, expected: Expected) -> None:
        expected.ever_acknowledged = True


@dataclass(frozen=True)
class Resolve:
    outcome: str
    summary: str
    causes: tuple[str, ...]
    primary: str

    def _chosen(self) -> tuple[list[str], str]:
        codes = list(dict.fromkeys(self.causes))
        primary = self.primary or (codes[0] if codes else "")
        if primary and primary not in codes:
            codes.insert(0, primary)
        return codes, primary

    def kwargs(self, reference: str, other_reference: str) -> dict:
        return {
            "outcome": self.outcome,
            "summary": self.summary,
            "root_causes": list(self.causes),
            "primary_root_cause": self.primary,
        }

    def refusal(self, persona: str):
        codes, _ = self._chosen()
        causes_ok = bool(codes) and all(code in ACTIVE_CAUSES for code in codes)
        if causes_ok and self.outcome and self.summary.strip():
            return None
        return errors.ValidationFailed

    def apply(self, expected: Expected) -> None:
        codes, primary = self._chosen()
        expected.root_causes = frozenset((code, code == primary) for code in codes)


@dataclass(frozen=True)
class CloseLoop:
    def kwargs(self, reference: str, other_reference: str) -> dict:
        return {
            "what_we_found": "A retry in the payment gateway.",
            "what_we_did": "Refunded the charge.",
            "what_will_change": "The gateway no longer retries settled payments.",
        }

    def refusal(self, persona: str):
        return None

    def apply(self, expected: Expected) -> None:
        expected.loop_closings += 1


@dataclass(frozen=True)
class Reopen:
    reason: str

    def kwargs(self, reference: str, other_reference: str) -> dict:
        return {"reason": self.reason}

    def refusal(self, persona: str):
        # A reopening must say why: reopen rate is only useful with its reasons.
        return None if self.reason.strip() else errors.ValidationFailed

    def apply(self, expected: Expected) -> None:
        expected.reopens += 1


@dataclass(frozen=True)
class Withdraw:
    reason: str
    # "": not a duplicate; "other"/"other_lower": of another complaint; "self"; "missing".
    duplicate: str

    def kwargs(self, reference: str, other_reference: str) -> dict:
        duplicate_of = {
            "": "",
            "other": other_reference,
            "other_lower": other_reference.lower(),
            "self": reference,
            "missing": "RDR-1999-999999",
        }[self.duplicate]
        return {"reason": self.reason, "duplicate_of": duplicate_of}

    def refusal(self, persona: str):
        if self.duplicate and persona == "customer":
            # Merging duplicates is staff work, even on the customer's own complaint.
            return errors.PermissionDenied
        if self.duplicate in {"self", "missing"} or not self.reason.strip():
            return errors.ValidationFailed
        return None

    def apply(self, expected: Expected) -> None:
        expected.duplicate_of = "other" if self.duplicate.startswith("other") else None


texts = st.sampled_from(["Refunded the duplicate charge.", "  Sent a replacement.  "])
blank = st.sampled_from(["", "   "])
valid_payloads = {
    "acknowledge": st.builds(Acknowledge, st.just(True), st.booleans()),
    "resolve": st.builds(
        Resolve,
        st.sampled_from(["upheld", "partly_upheld", "not_upheld"]),
        texts,
        st.lists(st.sampled_from(ACTIVE_CAUSES), min_size=1, max_size=3).map(tuple),
        st.sampled_from(("", *ACTIVE_CAUSES)),
    ),
    "close_loop": st.just(CloseLoop()),
    "reopen": st.builds(Reopen, texts),
    "withdraw": st.builds(Withdraw, texts, st.sampled_from(["", "other", "other_lower"])),
}
any_payloads = {
    "acknowledge": st.builds(Acknowledge, st.booleans(), st.booleans()),
    "resolve": st.builds(
        Resolve,
        st.sampled_from(["upheld", "not_upheld", ""]),
        texts | blank,
        st.lists(st.sampled_from((*ACTIVE_CAUSES, RETIRED_CAUSE, UNKNOWN_CAUSE)), max_size=3).map(
            tuple
        ),
        st.sampled_from(("", "billing.refund-delay", RETIRED_CAUSE, UNKNOWN_CAUSE)),
    ),
    "close_loop": st.just(CloseLoop()),
    "reopen": st.builds(Reopen, texts | blank),
    "withdraw": st.builds(
        Withdraw, texts | blank, st.sampled_from(["", "other", "other_lower", "self", "missing"])
    ),
}


# -- the machine -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """Everything a transition could change, read in five queries."""

    row: dict
    events: tuple  # (pk, type, actor_id), in timeline order
    messages: tuple  # (pk, kind), in order
    root_causes: frozenset  # (code, is_primary)
    outbox: tuple  # (pk, timeline event id)

    @classmethod
    def of(cls, complaint: Complaint) -> "Observed":
        return cls(
            row=Complaint.objects.filter(pk=complaint.pk).values().get(),
            events=tuple(
                ComplaintEvent.objects.filter(complaint=complaint).values_list(
                    "pk", "type", "actor_id"
                )
            ),
            messages=tuple(Message.objects.filter(complaint=complaint).values_list("pk", "kind")),
            root_causes=frozenset(
                ComplaintRootCause.objects.filter(complaint=complaint).values_list(
                    "root_cause__code", "is_primary"
                )
            ),
            outbox=tuple(
                Outbox.objects.filter(complaint_id=complaint.pk).values_list(
                    "pk", "payload__timeline_event_id"
                )
            ),
        )


class ComplaintLifecycle(RuleBasedStateMachine):
    """One complaint per example; the test binds the personas, the team and another complaint."""

    users: ClassVar[dict] = {}
    team: ClassVar[Team | None] = None
    other_reference: ClassVar[str] = ""
    other_id: ClassVar[int | None] = None
    # Across all examples: which states were reached and which transitions were accepted,
    # so the test can show the run was not confined to the shallow end of the lifecycle.
    seen: ClassVar[set] = set()

    def __init__(self) -> None:
        super().__init__()
        self.complaint, _ = intake.complaint_submit(
            actor=self.users["customer"],
            intake=intake.ComplaintIntake(
                subject="Charged twice", description="My card was charged twice."
            ),
        )
        # Routed to the agent's team by hand, as a supervisor would: customers cannot route.
        self.complaint.team = self.team
        self.complaint.save(update_fields=["team"])
        self.expected = Expected()
        # The database as last read; every rule refreshes it, the invariants check it.
        self.observed = Observed.of(self.complaint)

    def _forward(self) -> list[str]:
        # Withdrawing ends the story, so only ``attempt`` withdraws; ``advance`` goes on.
        return [
            name
            for (state, name) in NEXT_STATE
            if state == self.expected.state and name != "withdraw"
        ]

    @precondition(lambda self: self._forward())
    @rule(data=st.data())
    def advance(self, data) -> None:
        """A step the model accepts, by someone allowed to take it: reaches deep states."""
        possible = self._forward()
        name = data.draw(st.sampled_from(possible), label="transition")
        persona = data.draw(st.sampled_from(sorted(MAY[name])), label="actor")
        self._try(name, persona, data.draw(valid_payloads[name], label="payload"))

    @rule(data=st.data())
    def attempt(self, data) -> None:
        """Any transition, by anyone, with a valid or invalid payload.

        Half the names are ones the state allows, where who-may-do-it is decided; the other
        half any of the five, where the state alone refuses.
        """
        allowed = [name for (state, name) in NEXT_STATE if state == self.expected.state]
        names = st.sampled_from(TRANSITIONS)
        if allowed:
            names = st.sampled_from(allowed) | names
        name = data.draw(names, label="transition")
        persona = data.draw(st.sampled_from(PERSONAS), label="actor")
        payload = data.draw(valid_payloads[name] | any_payloads[name], label="payload")
        self._try(name, persona, payload)

    def _try(self, name: str, persona: str, payload) -> None:
        refusal = self._expected_refusal(name, persona, payload)
        before = self.observed
        actor = self.users[persona]
        service = getattr(lifecycle, f"complaint_{name}")
        call = {
            "complaint": self.complaint,
            "actor": actor,
            **payload.kwargs(self.complaint.reference, self.other_reference),
        }
        if refusal is not None:
            with pytest.raises(refusal):
                service(**call)
            self.observed = Observed.of(self.complaint)
            assert self.observed == before, f"the refused {name} changed something"
            return

        service(**call)
        self.observed = after = Observed.of(self.complaint)
        written = self._events_of(name)
        self.expected.state = NEXT_STATE[(self.expected.state, name)]
        self.expected.events.extend(written)
        payload.apply(self.expected)
        self.seen.update({name, self.expected.state})
        # Exactly the transition's timeline events, by this actor, each announced by exactly
        # one outbox row.
        assert after.events[: len(before.events)] == before.events
        new = after.events[len(before.events) :]
        assert [(event_type, actor_id) for _, event_type, actor_id in new] == [
            (event_type, actor.pk) for event_type in written
        ]
        assert after.outbox[: len(before.outbox)] == before.outbox
        assert [event for _, event in after.outbox[len(before.outbox) :]] == [
            event_id for event_id, _, _ in new
        ]

    def _events_of(self, name: str) -> tuple[str, ...]:
        if name == "close_loop" and self.expected.loop_closings:
            return ("loop_closed",)  # closed again after a reopen: the survey went already
        return EVENTS_OF[name]

    def _expected_refusal(self, name: str, persona: str, payload):
        """The error the model expects, in the order people need it: state, right, form."""
        if (self.expected.state, name) not in NEXT_STATE:
            return errors.TransitionNotAllowed
        if persona not in MAY[name]:
            return errors.PermissionDenied
        return payload.refusal(persona)

    @invariant()
    def database_matches_the_model(self) -> None:
        row, expected = self.observed.row, self.expected
        assert row["state"] == expected.state
        assert row["reopen_count"] == expected.reopens
        assert [event_type for _, event_type, _ in self.observed.events] == expected.events
        assert self.observed.root_causes == expected.root_causes
        assert row["duplicate_of_id"] == (self.other_id if expected.duplicate_of else None)

    @invariant()
    def every_event_has_exactly_one_outbox_row(self) -> None:
        event_ids = sorted(pk for pk, _, _ in self.observed.events)
        assert sorted(event for _, event in self.observed.outbox) == event_ids

    @invariant()
    def timestamps_say_what_happened(self) -> None:
        row, state = self.observed.row, self.expected.state
        assert (row["acknowledged_at"] is not None) == self.expected.ever_acknowledged
        assert (row["resolved_at"] is not None) == (state in {"resolved", "loop_closed"})
        assert (row["loop_closed_at"] is not None) == (state == "loop_closed")
        assert (row["withdrawn_at"] is not None) == (state == "withdrawn")
        # Each step happens after the one before it, and none in the future.
        steps = ["received_at", "acknowledged_at", "resolved_at", "loop_closed_at"]
        taken = [row[step] for step in steps if row[step] is not None]
        assert taken == sorted(taken)
        assert max(taken) <= timezone.now()

    @invariant()
    def a_resolution_has_one_primary_cause_and_an_outcome(self) -> None:
        row = self.observed.row
        if row["state"] in {"resolved", "loop_closed"}:
            assert sum(primary for _, primary in self.observed.root_causes) == 1
            assert row["outcome"] and row["resolution_summary"].strip()

    @invariant()
    def customer_messages_match_the_accepted_steps(self) -> None:
        kinds = [kind for _, kind in self.observed.messages]
        expected_acknowledgements = 1 if self.expected.ever_acknowledged else 0
        assert kinds.count("acknowledgement") == expected_acknowledgements
        assert kinds.count("loop_closing") == self.expected.loop_closings


@pytest.mark.django_db
def test_random_transitions_by_random_actors_keep_the_complaint_consistent(
    agent,
    other_agent,
    supervisor,
    manager,
    customer_user,
    other_customer_user,
    outsider,
    team,
    root_causes,
):
    RootCauseFactory(code=RETIRED_CAUSE, name="Legacy fee", retired_at=timezone.now())
    other, _ = intake.complaint_submit(
        actor=other_customer_user,
        intake=intake.ComplaintIntake(subject="Parcel lost", description="Never came."),
    )
    machine = type(
        "BoundComplaintLifecycle",
        (ComplaintLifecycle,),
        {
            "users": {
                "agent": agent,
                "other_agent": other_agent,
                "supervisor": supervisor,
                "manager": manager,
                "customer": customer_user,
                "other_customer": other_customer_user,
                "outsider": outsider,
            },
            "team": team,
            "other_reference": other.reference,
            "other_id": other.pk,
            "seen": set(),
        },
    )

    run_state_machine_as_test(
        machine,
        settings=settings(max_examples=30, stateful_step_count=15, deadline=None),
    )

    # A run that never got past "received" would pass every invariant and prove nothing.
    assert machine.seen >= {*TRANSITIONS, "acknowledged", "resolved", "loop_closed", "withdrawn"}
