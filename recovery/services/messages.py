"""Messages on a complaint: customer replies, agent replies and internal notes."""

from django.db import transaction

from recovery import events, roles, rules
from recovery.errors import PermissionDenied, TransitionNotAllowed
from recovery.models import Complaint, Message, MessageDirection, MessageKind, State


def message_add(*, complaint: Complaint, actor, body: str, internal: bool = False) -> Message:
    """Add a message in one transaction with its timeline event and outbox row.

    A customer's message is inbound; staff's is outbound, or an internal note when
    ``internal``. Withdrawn complaints take no more messages.
    """
    if not rules.may_add_message(complaint, actor, internal=internal):
        what = "add internal notes to" if internal else "write on"
        raise PermissionDenied(f"You may not {what} {complaint.reference}.")
    if complaint.state == State.WITHDRAWN:
        raise TransitionNotAllowed(
            f"{complaint.reference} was withdrawn; it takes no more messages.",
            details={"state": complaint.state, "allowed_transitions": []},
        )
    staff = roles.is_staff_member(actor)
    if internal:
        direction, kind = MessageDirection.INTERNAL, MessageKind.NOTE
    else:
        direction = MessageDirection.OUTBOUND if staff else MessageDirection.INBOUND
        kind = MessageKind.REPLY
    with transaction.atomic():
        message = Message.objects.create(
            complaint=complaint,
            direction=direction,
            kind=kind,
            channel=complaint.channel,
            author=actor,
            body=body.strip(),
        )
        events.message_added(complaint, actor, message)
    return message
