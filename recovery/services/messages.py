"""Messages on a complaint: customer replies, agent replies and internal notes."""

from django.db import transaction

from escalation.services import clocks
from recovery import events, roles, rules
from recovery.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from recovery.models import Channel, Complaint, Message, MessageDirection, MessageKind, State
from recovery.services import sla


def message_add(*, complaint: Complaint, actor, body: str, internal: bool = False) -> Message:
    """Add a message in one transaction with its timeline event and outbox row.

    A customer's message is inbound; staff's is outbound, or an internal note when
    ``internal``. Withdrawn complaints take no more messages.
    """
    if not rules.may_add_message(complaint, actor, internal=internal):
        what = "add internal notes to" if internal else "write on"
        raise PermissionDenied(f"You may not {what} {complaint.reference}.")
    staff = roles.is_staff_member(actor)
    if internal:
        direction, kind = MessageDirection.INTERNAL, MessageKind.NOTE
    else:
        direction = MessageDirection.OUTBOUND if staff else MessageDirection.INBOUND
        kind = MessageKind.REPLY
    return _message_write(
        complaint=complaint,
        actor=actor,
        direction=direction,
        kind=kind,
        channel=complaint.channel,
        body=body,
    )


def customer_message_add(
    *, complaint: Complaint, body: str, channel: str = Channel.EMAIL
) -> Message:
    """Record a customer's message that reached us without a login (an emailed reply).

    The caller has already decided the message is the customer's (``notifications.ingest``
    threads a reply by our Message-ID, or by the reference when the sender is the customer).
    The author is the customer's portal user when they have one, else nobody. Otherwise the
    same as a customer's ``message_add``: inbound, ends awaiting-customer, starts the respond
    clock; withdrawn complaints take no more messages.
    """
    return _message_write(
        complaint=complaint,
        actor=complaint.customer.user,
        direction=MessageDirection.INBOUND,
        kind=MessageKind.REPLY,
        channel=channel,
        body=body,
    )


def _message_write(
    *, complaint: Complaint, actor, direction: str, kind: str, channel: str, body: str
) -> Message:
    """The one place a message is written: row, timeline event, awaiting flag and clocks."""
    if complaint.state == State.WITHDRAWN:
        raise TransitionNotAllowed(
            f"{complaint.reference} was withdrawn; it takes no more messages.",
            details={"state": complaint.state, "allowed_transitions": []},
        )
    with transaction.atomic():
        message = Message.objects.create(
            complaint=complaint,
            direction=direction,
            kind=kind,
            channel=channel,
            author=actor,
            body=body.strip(),
        )
        events.message_added(complaint, actor, message)
        if direction != MessageDirection.INTERNAL:
            inbound = direction == MessageDirection.INBOUND
            if inbound and complaint.awaiting_customer:
                # The customer answered: the pause is over.
                sla.complaint_set_awaiting_customer(
                    complaint=complaint, actor=None, awaiting=False, reason="customer replied"
                )
            clocks.on_message(complaint, inbound=inbound)
    return message


def complaint_send_holding_reply(
    *, complaint: Complaint, actor, message: str, exceptional: bool = False
) -> Message:
    """Tell the customer we need more time; under a profile that allows it (FCA payment
    services), an ``exceptional`` holding reply moves the statutory deadline out."""
    if not rules.works_on(complaint, actor):
        raise PermissionDenied(f"You may not write on {complaint.reference}.")
    if not complaint.is_open:
        raise TransitionNotAllowed(
            f"{complaint.reference} is {complaint.state}; holding replies are for open complaints.",
            details={"state": complaint.state},
        )
    if not message.strip():
        raise ValidationFailed("Write the holding reply.", details={"message": ["Required."]})
    with transaction.atomic():
        sent = Message.objects.create(
            complaint=complaint,
            direction=MessageDirection.OUTBOUND,
            kind=MessageKind.HOLDING,
            channel=complaint.channel,
            author=actor,
            body=message.strip(),
        )
        events.message_added(complaint, actor, sent)
        clocks.on_message(complaint, inbound=False)
        if exceptional:
            clocks.extend_for_exceptional_circumstances(complaint)
    return sent
