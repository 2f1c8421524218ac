"""Timeline events: one small factory per event type.

Each writes the append-only ``ComplaintEvent`` row and the matching outbox row, both inside
the caller's transaction, so the timeline and what is told about it never disagree.
"""

from notifications.services import outbox_add
from recovery.models import Complaint, ComplaintEvent, EventType, Message

PAYLOAD_VERSION = 1


def _audience(complaint: Complaint, *, customer_visible: bool) -> dict:
    return {
        "teams": [complaint.team_id] if complaint.team_id else [],
        "users": [complaint.assignee_id] if complaint.assignee_id else [],
        "customer": complaint.customer_id if customer_visible else None,
    }


def _record(
    complaint: Complaint,
    event_type: str,
    actor,
    parameters: dict,
    *,
    customer_visible: bool = True,
) -> ComplaintEvent:
    event = ComplaintEvent.objects.create(
        complaint=complaint,
        type=event_type,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        parameters=parameters,
    )
    outbox_add(
        event_type=f"complaint.{event_type}",
        complaint_id=complaint.pk,
        audience=_audience(complaint, customer_visible=customer_visible),
        payload={
            "v": PAYLOAD_VERSION,
            "timeline_event_id": event.pk,
            "reference": complaint.reference,
            "state": complaint.state,
            "actor_id": event.actor_id,
            "parameters": parameters,
        },
        idempotency_key=f"timeline:{event.pk}",
    )
    return event


def complaint_received(complaint: Complaint, actor) -> ComplaintEvent:
    return _record(complaint, EventType.RECEIVED, actor, {"channel": complaint.channel})


def complaint_acknowledged(complaint: Complaint, actor, message: Message) -> ComplaintEvent:
    return _record(complaint, EventType.ACKNOWLEDGED, actor, {"message_id": message.pk})


def complaint_resolved(complaint: Complaint, actor, root_cause_codes: list[str]) -> ComplaintEvent:
    return _record(
        complaint,
        EventType.RESOLVED,
        actor,
        {
            "outcome": complaint.outcome,
            "summary": complaint.resolution_summary,
            "root_causes": root_cause_codes,
        },
    )


def complaint_loop_closed(complaint: Complaint, actor, message: Message) -> ComplaintEvent:
    return _record(complaint, EventType.LOOP_CLOSED, actor, {"message_id": message.pk})


def complaint_reopened(complaint: Complaint, actor, reason: str) -> ComplaintEvent:
    return _record(
        complaint,
        EventType.REOPENED,
        actor,
        {"reason": reason, "reopen_count": complaint.reopen_count},
    )


def complaint_withdrawn(complaint: Complaint, actor) -> ComplaintEvent:
    return _record(
        complaint,
        EventType.WITHDRAWN,
        actor,
        {
            "reason": complaint.withdrawal_reason,
            "duplicate_of": complaint.duplicate_of.reference if complaint.duplicate_of else None,
        },
    )


def message_added(complaint: Complaint, actor, message: Message) -> ComplaintEvent:
    if message.is_internal:
        return _record(
            complaint,
            EventType.NOTE_ADDED,
            actor,
            {"message_id": message.pk},
            customer_visible=False,
        )
    return _record(
        complaint,
        EventType.MESSAGE_ADDED,
        actor,
        {"message_id": message.pk, "direction": message.direction},
    )
