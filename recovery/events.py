"""Timeline events: one small factory per event type.

Each writes the append-only ``ComplaintEvent`` row and the matching outbox row, both inside
the caller's transaction, so the timeline and what is told about it never disagree.
"""

from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from common import bulk_writes
from notifications.outbox import outbox_add_many, outbox_add_with_rows
from recovery import roles
from recovery.models import (
    STAFF_ONLY_EVENT_TYPES,
    Complaint,
    ComplaintEvent,
    EventType,
    Message,
    State,
)

PAYLOAD_VERSION = 1


# What a team's supervisors are told as team members: what needs a supervisor. Everything
# else (each acknowledgement, message, note, assignment) is the agents' routine; a
# supervisor still hears of it when named (the assignee, an approver, whoever resolved it).
# Unpicked complaints and failed emails name the supervisors themselves (docs/notifications.md
# has the whole matrix).
SUPERVISOR_EVENT_TYPES = frozenset(
    {
        EventType.ESCALATED,
        EventType.DE_ESCALATED,
        EventType.ESCALATION_REQUESTED,
        EventType.CLOCK_WARNING,
        EventType.CLOCK_BREACHED,
        EventType.CUSTOMER_REPLIED_AFTER_CLOSING,
    }
)


def _audience(
    complaint: Complaint,
    *,
    event_type: str,
    customer_visible: bool,
    users=(),
    notify_staff: bool = True,
    tell_team: bool = True,
    tell_supervisors: bool | None = None,
) -> dict:
    customer = complaint.customer_id if customer_visible else None
    if not notify_staff:
        return {"teams": [], "users": [], "customer": customer}
    recipients = [complaint.assignee_id] if complaint.assignee_id else []
    recipients += [user_id for user_id in users if user_id not in recipients]
    teams = [complaint.team_id] if complaint.team_id and tell_team else []
    audience = {"teams": teams, "users": recipients, "customer": customer}
    if tell_supervisors is None:
        tell_supervisors = event_type in SUPERVISOR_EVENT_TYPES
    if teams and not tell_supervisors:
        # notifications.audience leaves the team's members in this group out.
        audience["team_except_group"] = roles.SUPERVISOR
    return audience


@dataclass(frozen=True)
class EventEntry:
    """One timeline event to write; ``record_many`` writes a batch of them."""

    complaint: Complaint
    type: str
    actor: object
    parameters: dict
    notify_users: tuple = ()
    # False when another event of the same change tells the same people (a breach that
    # escalates is told once, by the escalation): the timeline keeps both, the inbox one.
    notify_staff: bool = True
    # False: only the assignee and ``notify_users`` are told, not the whole team.
    tell_team: bool = True
    # Whether the team's supervisors are told as team members; None: as its type says
    # (SUPERVISOR_EVENT_TYPES). A deadline missed by a late answer is a breach with nothing
    # left to do: False.
    tell_supervisors: bool | None = None

    @property
    def customer_visible(self) -> bool:
        return self.type not in STAFF_ONLY_EVENT_TYPES


def record(
    complaint: Complaint,
    event_type: str,
    actor,
    parameters: dict,
    *,
    notify_users=(),
) -> int:
    """Write a timeline event and its outbox row; other apps' event factories use this."""
    entry = EventEntry(complaint, event_type, actor, parameters, tuple(notify_users))
    return record_many([entry])[0]


# How an outbox row takes its timeline event's id, when both go in with one statement.
_LINKED_TO_EVENT = {
    "payload": "jsonb_set({value}, '{timeline_event_id}', to_jsonb({id}))",
    "idempotency_key": "{value} || {id}",
}


def record_many(entries: list[EventEntry]) -> list[int]:
    """Write timeline events and their outbox rows; returns event ids.

    On PostgreSQL both go in with one statement (``outbox_add_with_rows``), elsewhere with
    one INSERT each. Rows go in as plain dicts, not model instances: the sweeper writes tens
    of thousands.
    """
    return _record_rows(entries)[0]


def _record_rows(entries: list[EventEntry]) -> tuple[list[int], list[dict]]:
    """``record_many``: (the event ids, the rows as written)."""
    if not entries:
        return [], []
    actor_ids = [
        entry.actor.pk if getattr(entry.actor, "is_authenticated", False) else None
        for entry in entries
    ]
    rows = [
        {
            "complaint_id": entry.complaint.pk,
            "type": entry.type,
            "actor_id": actor_id,
            "parameters": entry.parameters,
            # The column's default, given here so that the writer knows it.
            "created_at": timezone.now(),
        }
        for entry, actor_id in zip(entries, actor_ids, strict=True)
    ]
    if connection.vendor == "postgresql":
        # The event's id is put in by the statement (``_LINKED_TO_EVENT``).
        outbox = [_outbox_entry(e, a, None) for e, a in zip(entries, actor_ids, strict=True)]
        return outbox_add_with_rows(ComplaintEvent, rows, outbox, linked=_LINKED_TO_EVENT), rows
    event_ids = bulk_writes.insert_rows(ComplaintEvent, rows)
    outbox_add_many(
        [
            _outbox_entry(entry, actor_id, event_id)
            for entry, event_id, actor_id in zip(entries, event_ids, actor_ids, strict=True)
        ]
    )
    return event_ids, rows


def _as_read(entries: list[EventEntry], ids: list[int], rows: list[dict]) -> list[ComplaintEvent]:
    """The events written, as a read of the timeline gives them back (with their actors) on
    PostgreSQL: the parameters as jsonb returns them."""
    written = []
    for entry, event_id, row in zip(entries, ids, rows, strict=True):
        event = ComplaintEvent(
            id=event_id,
            complaint_id=row["complaint_id"],
            type=row["type"],
            actor_id=row["actor_id"],
            parameters=bulk_writes.as_stored_json(row["parameters"]),
            created_at=row["created_at"],
        )
        event._state.adding = False
        event._state.db = connection.alias
        event.complaint = entry.complaint
        event.actor = entry.actor if row["actor_id"] is not None else None
        written.append(event)
    return written


def _outbox_entry(entry: EventEntry, actor_id: int | None, event_id: int | None) -> dict:
    return {
        "event_type": f"complaint.{entry.type}",
        "complaint_id": entry.complaint.pk,
        "audience": _audience(
            entry.complaint,
            event_type=entry.type,
            customer_visible=entry.customer_visible,
            users=entry.notify_users,
            notify_staff=entry.notify_staff,
            tell_team=entry.tell_team,
            tell_supervisors=entry.tell_supervisors,
        ),
        "payload": {
            "v": PAYLOAD_VERSION,
            "timeline_event_id": event_id,
            "reference": entry.complaint.reference,
            "state": entry.complaint.state,
            "actor_id": actor_id,
            "parameters": entry.parameters,
        },
        "idempotency_key": f"timeline:{'' if event_id is None else event_id}",
    }


def complaint_received(
    complaint: Complaint, actor, routed: dict, *, receipt: bool = True
) -> list[ComplaintEvent] | None:
    """Received, and routed to its team: the team is told once, by the first. Returns the
    events as written on PostgreSQL, so that the answer to the intake need not read them
    back; None elsewhere, where the database gives JSON back in another shape (read them)."""
    parameters = {"channel": complaint.channel}
    if not receipt:
        parameters["receipt"] = False  # notifications.delivery sends none
    entries = [
        EventEntry(complaint, EventType.RECEIVED, actor, parameters),
        EventEntry(complaint, EventType.ROUTED, actor, routed, tell_team=False),
    ]
    written = _record_rows(entries)
    return _as_read(entries, *written) if connection.vendor == "postgresql" else None


def complaint_unpicked(complaint: Complaint, supervisor_ids, minutes: int) -> EventEntry:
    """Nobody picked the complaint up in ``minutes``: its team's supervisors are told."""
    return EventEntry(
        complaint,
        EventType.UNPICKED,
        None,
        {"minutes": minutes, "team_id": complaint.team_id},
        notify_users=tuple(supervisor_ids),
        tell_team=False,
    )


def complaint_acknowledged(complaint: Complaint, actor, message: Message) -> int:
    return record(complaint, EventType.ACKNOWLEDGED, actor, {"message_id": message.pk})


def complaint_resolved(complaint: Complaint, actor, root_cause_codes: list[str]) -> int:
    return record(
        complaint,
        EventType.RESOLVED,
        actor,
        {
            "outcome": complaint.outcome,
            "summary": complaint.resolution_summary,
            "root_causes": root_cause_codes,
        },
    )


def complaint_loop_closed(complaint: Complaint, actor, message: Message, survey=None) -> list[int]:
    """The loop closed, and (the first time) the survey sent: one batch, one delivery task."""
    entries = [EventEntry(complaint, EventType.LOOP_CLOSED, actor, {"message_id": message.pk})]
    if survey is not None:
        entries.append(
            EventEntry(complaint, EventType.SURVEY_SENT, actor, {"survey_id": survey.pk})
        )
    return record_many(entries)


def complaint_reopened(complaint: Complaint, actor, reason: str) -> int:
    return record(
        complaint,
        EventType.REOPENED,
        actor,
        {"reason": reason, "reopen_count": complaint.reopen_count},
    )


def complaint_withdrawn(complaint: Complaint, actor) -> int:
    return record(
        complaint,
        EventType.WITHDRAWN,
        actor,
        {
            "reason": complaint.withdrawal_reason,
            "duplicate_of": complaint.duplicate_of.reference if complaint.duplicate_of else None,
        },
    )


def complaints_merged(
    survivor: Complaint,
    duplicate: Complaint,
    actor,
    *,
    reason: str,
    messages_copied: int,
    received_before,
    deadlines: dict,
    customer_linked: dict | None = None,
) -> list[int]:
    """Both timelines record a merge, each naming the other. The survivor's event is the one
    the customer is emailed about (``notifications.delivery``); the duplicate's is its
    withdrawal, which emails nobody, so the customer hears of the merge once.

    ``customer_linked``: the complaint moved from a provisional customer record onto the
    other's customer (``recovery.services.merge.CustomerLink``), kept by both events."""
    merged = {
        "duplicate": duplicate.reference,
        "duplicate_id": duplicate.pk,
        "reason": reason,
        "messages_copied": messages_copied,
    }
    if received_before != survivor.received_at:
        merged["received_at"] = {
            "before": _iso(received_before),
            "after": _iso(survivor.received_at),
        }
    if deadlines:
        merged["deadlines"] = {
            kind: {"before": _iso(was), "after": _iso(now)}
            for kind, (was, now) in sorted(deadlines.items())
        }
    withdrawn = {
        "reason": duplicate.withdrawal_reason,
        "duplicate_of": survivor.reference,
        "merged": True,
    }
    if customer_linked:
        merged["customer_linked"] = withdrawn["customer_linked"] = customer_linked
    return record_many(
        [
            EventEntry(survivor, EventType.DUPLICATE_MERGED, actor, merged),
            EventEntry(duplicate, EventType.WITHDRAWN, actor, withdrawn),
        ]
    )


def message_added(
    complaint: Complaint, actor, message: Message, *, notify_staff: bool = True, mentions=None
) -> int:
    """``mentions``: whom an internal note names (``recovery.mentions``): those who may see
    the complaint are told, as its assignee is; the event keeps who was not, and why."""
    parameters = {"message_id": message.pk}
    if not message.is_internal:
        parameters |= {"direction": message.direction, "kind": message.kind}
    notify_users = ()
    if mentions is not None:
        parameters |= mentions.parameters
        notify_users = tuple(user.pk for user in mentions.notified)
    event_type = EventType.NOTE_ADDED if message.is_internal else EventType.MESSAGE_ADDED
    entry = EventEntry(
        complaint, event_type, actor, parameters, notify_users, notify_staff=notify_staff
    )
    return record_many([entry])[0]


def complaint_assigned(
    complaint: Complaint, actor, previous_id, reason: str, *, notify_staff: bool = True
) -> int:
    entry = EventEntry(
        complaint,
        EventType.ASSIGNED,
        actor,
        {"assignee_id": complaint.assignee_id, "previous_id": previous_id, "reason": reason},
        notify_staff=notify_staff,
    )
    return record_many([entry])[0]


def _iso(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def regulation_changed(
    complaint: Complaint, actor, before: dict, after: dict, deadlines: dict, reason: str
) -> int:
    """Who put the complaint under which regime, why, and what its legal deadlines became."""
    return record(
        complaint,
        EventType.REGULATION_CHANGED,
        actor,
        {
            "before": {name: _iso(value) for name, value in before.items()},
            "after": {name: _iso(value) for name, value in after.items()},
            "reason": reason,
            "deadlines": {
                kind: {"before": _iso(was), "after": _iso(now)}
                for kind, (was, now) in sorted(deadlines.items())
            },
        },
    )


def details_corrected(complaint: Complaint, actor, changes: dict) -> int:
    """Which descriptive fields staff corrected, each with its value before and after."""
    return record(complaint, EventType.DETAILS_CORRECTED, actor, {"changes": changes})


def category_changed(
    complaint: Complaint, actor, before, after, reason: str, deadlines: dict, macro=None
) -> int:
    """Which category the complaint left and joined (by id and name, as they were then), why,
    and how its internal deadlines moved; ``macro``: the macro that did it, if one did."""
    parameters = {
        "before": {"id": before.pk, "name": before.name} if before else None,
        "after": {"id": after.pk, "name": after.name},
        "reason": reason,
        "deadlines": {
            kind: {"before": _iso(was), "after": _iso(now)}
            for kind, (was, now) in sorted(deadlines.items())
        },
    }
    if macro is not None:
        parameters["macro"] = {"id": macro.pk, "name": macro.name}
    return record(complaint, EventType.CATEGORY_CHANGED, actor, parameters)


def root_cause_suggested(complaint: Complaint, actor, macro, root_cause) -> int:
    """A macro naming ``root_cause`` was used: the resolve form offers the cause. Nobody is
    told: the macro's message (or acknowledgement) is the event people hear of."""
    entry = EventEntry(
        complaint,
        EventType.ROOT_CAUSE_SUGGESTED,
        actor,
        {
            "root_cause": root_cause.code,
            "root_cause_name": root_cause.name,
            "macro": {"id": macro.pk, "name": macro.name},
        },
        notify_staff=False,
    )
    return record_many([entry])[0]


def awaiting_customer(complaint: Complaint, actor, reason: str) -> int:
    return record(complaint, EventType.AWAITING_CUSTOMER, actor, {"reason": reason})


def awaiting_ended(complaint: Complaint, actor, why: str) -> int:
    return record(complaint, EventType.AWAITING_ENDED, actor, {"why": why})


def _recovery_parameters(action) -> dict:
    return {
        "recovery_id": action.pk,
        "type": action.type,
        # Money travels as a string: JSON floats would round it.
        "amount": None if action.amount is None else str(action.amount),
        "currency": action.currency,
        "status": action.status,
    }


def recovery_proposed(action, actor) -> int:
    return record(
        action.complaint, EventType.RECOVERY_PROPOSED, actor, _recovery_parameters(action)
    )


def recovery_approval_requested(action, actor, approver_ids) -> int:
    return record(
        action.complaint,
        EventType.RECOVERY_APPROVAL_REQUESTED,
        actor,
        {**_recovery_parameters(action), "approver_role": action.approver_role},
        notify_users=approver_ids,
    )


def recovery_decided(action, actor) -> list[int]:
    """The decision, for staff (and the customer, when approved); and, once the loop is
    closed, an event that tells the customer either way: the loop-closing message they had
    could not say what became of it."""
    approved = action.status == "approved"
    entries = [
        EventEntry(
            action.complaint,
            EventType.RECOVERY_APPROVED if approved else EventType.RECOVERY_DECLINED,
            actor,
            {**_recovery_parameters(action), "reason": action.decision_reason},
            notify_users=(action.proposed_by_id,) if action.proposed_by_id else (),
        )
    ]
    if action.complaint.state == State.LOOP_CLOSED:
        # The customer's email (``recovery_decision``); staff were told by the decision. The
        # reason is the approvers' and stays with them.
        entries.append(
            EventEntry(
                action.complaint,
                EventType.RECOVERY_DECIDED_AFTER_CLOSING,
                actor,
                {**_recovery_parameters(action), "label": action.label},
                notify_staff=False,
            )
        )
    return record_many(entries)


def recovery_delivered(action, actor) -> int:
    return record(
        action.complaint, EventType.RECOVERY_DELIVERED, actor, _recovery_parameters(action)
    )


def survey_answered(complaint: Complaint, survey) -> int:
    # Staff only (STAFF_ONLY_EVENT_TYPES): the team and the assignee see every answer, so a
    # detractor (NPS 0-6, CSAT 1-2) reaches someone who can follow it up.
    return record(
        complaint,
        EventType.SURVEY_ANSWERED,
        None,
        {"survey_id": survey.pk, "csat": survey.csat, "ces": survey.ces, "nps": survey.nps},
    )


def email_not_delivered(complaint: Complaint, details: dict, notify_users) -> int:
    """An email of ours that did not arrive (``notifications.undelivered``): staff only,
    told to its handler (``notify_users``), not to the whole team."""
    entry = EventEntry(
        complaint,
        EventType.EMAIL_NOT_DELIVERED,
        None,
        details,
        notify_users=tuple(notify_users),
        tell_team=False,
    )
    return record_many([entry])[0]


def email_resent(complaint: Complaint, actor, details: dict) -> int:
    """Staff sent a failed email again: the assignee hears of it, the team need not."""
    entry = EventEntry(complaint, EventType.EMAIL_RESENT, actor, details, tell_team=False)
    return record_many([entry])[0]


def customer_replied_after_closing(complaint: Complaint, message: Message, notify_users) -> int:
    return record(
        complaint,
        EventType.CUSTOMER_REPLIED_AFTER_CLOSING,
        None,
        {"message_id": message.pk, "state": complaint.state},
        notify_users=notify_users,
    )
