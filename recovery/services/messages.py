"""Messages on a complaint: customer replies, agent replies, internal notes, and the letters
a regulatory regime gives a legal effect (holding replies, written responses)."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from common.errors import (
    AlreadySent,
    Conflict,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)
from escalation import regulatory
from escalation.services import clocks, obligations
from recovery import events, mentions, roles, rules, selectors
from recovery.models import Channel, Complaint, Message, MessageDirection, MessageKind, State
from recovery.services import sla


def message_add(
    *,
    complaint: Complaint,
    actor,
    body: str,
    internal: bool = False,
    idempotency_key: str = "",
) -> Message:
    """Add a message in one transaction with its timeline event and outbox row.

    A customer's message is inbound; staff's is outbound, or an internal note when
    ``internal``. Withdrawn complaints take no more messages.

    ``idempotency_key``: the sending form's one-time token. The same key again writes
    nothing (no event, no email) and raises ``AlreadySent``, also when both posts arrive at
    the same moment (the unique key on ``Message`` decides); with other words it is a
    ``Conflict``.
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
    if idempotency_key:
        earlier = _earlier_message(complaint, idempotency_key, body)
        if earlier is not None:
            raise AlreadySent(earlier)
    try:
        return _message_write(
            complaint=complaint,
            actor=actor,
            direction=direction,
            kind=kind,
            channel=complaint.channel,
            body=body,
            idempotency_key=idempotency_key,
        )
    except IntegrityError:
        # The same form posted at the same moment: this insert waited for the other one's
        # commit and met the unique key, so the other message stands and this one is dropped.
        earlier = _earlier_message(complaint, idempotency_key, body) if idempotency_key else None
        if earlier is None:
            raise
        raise AlreadySent(earlier) from None


def customer_message_add(
    *,
    complaint: Complaint,
    body: str,
    channel: str = Channel.EMAIL,
    written_by: str = "",
    written_at: datetime | None = None,
    idempotency_key: str = "",
) -> Message:
    """Record a customer's message that reached us without a login (an emailed reply, the
    tracking page's reply form).

    The caller has already decided the message is the customer's (``notifications.ingest``
    threads a reply by our Message-ID, or by the reference when the sender is the customer).
    The author is the customer's portal user when they have one, else nobody. Otherwise the
    same as a customer's ``message_add``: inbound, ends awaiting-customer, starts the respond
    clock; withdrawn complaints take no more messages.

    - ``written_by``: who wrote it when not the customer (an authorised contact), as shown;
    - ``written_at``: when they wrote it, when that was before now (a held email accepted
      later is dated when it came in);
    - ``idempotency_key``: the sending form's one-time token. The same key again returns the
      message it wrote, and writes nothing (no event, no notification); with another text
      it is a ``Conflict``: that form was sent already.
    """
    if idempotency_key:
        earlier = _earlier_message(complaint, idempotency_key, body)
        if earlier is not None:
            return earlier
    try:
        return _message_write(
            complaint=complaint,
            actor=complaint.customer.user,
            direction=MessageDirection.INBOUND,
            kind=MessageKind.REPLY,
            channel=channel,
            body=body,
            written_by=written_by,
            written_at=written_at,
            idempotency_key=idempotency_key,
        )
    except IntegrityError:
        # The same form posted at the same moment: this insert waited for the other one's
        # commit and met the unique key (recovery.models.Message), so its message stands.
        earlier = _earlier_message(complaint, idempotency_key, body) if idempotency_key else None
        if earlier is None:
            raise
        return earlier


def _earlier_message(complaint: Complaint, idempotency_key: str, body: str) -> Message | None:
    earlier = Message.objects.filter(complaint=complaint, idempotency_key=idempotency_key).first()
    if earlier is not None and earlier.body != body.strip():
        raise Conflict(
            "This message form was sent already, with other words. Write the new message in "
            "a fresh form.",
            details={"message_id": earlier.pk},
        )
    return earlier


def automatic_reply_note_add(*, complaint: Complaint, body: str) -> Message:
    """Record an automatic reply (an out-of-office) to our email as a staff-only note.

    Internal: the customer does not see it, it moves no clock, ends no awaiting-customer
    pause and is no reply after closing, because no person wrote it (RFC 3834).
    """
    return _message_write(
        complaint=complaint,
        actor=None,
        direction=MessageDirection.INTERNAL,
        kind=MessageKind.NOTE,
        channel=Channel.EMAIL,
        body=body,
        tell_staff=False,  # on the timeline for whoever looks; nobody needs to act on it
    )


def customer_email_not_delivered(*, complaint_id: int, details: dict) -> Complaint | None:
    """Record that an email to the customer did not arrive (``notifications.undelivered``:
    a bounce, or our mail server refused it through every retry).

    A staff-only timeline event, with whether the email was a regulatory letter, told to
    whoever answers for the complaint now (its assignee, else its team's supervisors).
    Returns the complaint, or None if it no longer exists.
    """
    complaint = selectors.complaint_for_email(complaint_id)
    if complaint is None:
        return None
    details = {
        **details,
        "regulatory_letter": rules.is_regulatory_letter(complaint, details.get("kind", "")),
    }
    with transaction.atomic():
        events.email_not_delivered(complaint, details, selectors.complaint_handler_ids(complaint))
    return complaint


def customer_email_resent(*, complaint: Complaint, actor, details: dict) -> None:
    """Record that staff sent a failed email again (``notifications.undelivered``): staff
    only, told to the complaint's assignee when someone else resent it."""
    with transaction.atomic():
        events.email_resent(complaint, actor, details)


# A customer's message in these states is a reply after closing (a marker, not a transition).
REPLY_AFTER_CLOSING_STATES = (State.RESOLVED, State.LOOP_CLOSED)


def _message_write(
    *,
    complaint: Complaint,
    actor,
    direction: str,
    kind: str,
    channel: str,
    body: str,
    written_by: str = "",
    written_at: datetime | None = None,
    idempotency_key: str = "",
    tell_staff: bool = True,
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
            written_by=written_by,
            idempotency_key=idempotency_key,
            created_at=min(written_at, timezone.now()) if written_at else timezone.now(),
        )
        inbound = direction == MessageDirection.INBOUND
        after_closing = inbound and complaint.state in REPLY_AFTER_CLOSING_STATES
        # Colleagues named in an internal note (``@sam``) are told of it too.
        named = (
            mentions.resolve(complaint, actor, message.body)
            if direction == MessageDirection.INTERNAL
            else mentions.Mentions()
        )
        message.mentions = named
        # A reply after closing is told once, by its own event (``_mark_reply_after_closing``).
        events.message_added(
            complaint,
            actor,
            message,
            notify_staff=tell_staff and not after_closing,
            mentions=named,
        )
        if direction != MessageDirection.INTERNAL:
            _mark_reply_after_closing(complaint, message, replied=inbound)
            if inbound and complaint.awaiting_customer:
                # The customer answered: the pause is over.
                sla.complaint_set_awaiting_customer(
                    complaint=complaint, actor=None, awaiting=False, reason="customer replied"
                )
            clocks.on_message(
                complaint, inbound=inbound, at=message.created_at, message=message, actor=actor
            )
    return message


def _mark_reply_after_closing(complaint: Complaint, message: Message, *, replied: bool) -> None:
    """A customer's message on a resolved or loop-closed complaint sets the marker (and tells
    its last handler); our answer to the customer clears it."""
    if replied and complaint.state in REPLY_AFTER_CLOSING_STATES:
        if complaint.customer_replied_at is None:
            complaint.customer_replied_at = message.created_at
            Complaint.objects.filter(pk=complaint.pk, customer_replied_at__isnull=True).update(
                customer_replied_at=message.created_at
            )
        events.customer_replied_after_closing(
            complaint, message, selectors.last_handler_ids(complaint)
        )
    elif not replied and complaint.customer_replied_at is not None:
        complaint.customer_replied_at = None
        Complaint.objects.filter(pk=complaint.pk).update(customer_replied_at=None)


def complaint_send_holding_reply(
    *, complaint: Complaint, actor, message: str, exceptional: bool = False
) -> Message:
    """Tell the customer we need more time. Under a profile whose deadlines a holding reply
    extends (payment services: DISP 1.6.2AR(2), PSD2 Art. 101(2)), an ``exceptional`` one sent
    within the first deadline moves it out, and the move is on the timeline; anywhere else,
    or late, ``exceptional`` is refused rather than silently ignored."""
    if not rules.works_on(complaint, actor):
        raise PermissionDenied(f"You may not write on {complaint.reference}.")
    if not complaint.is_open:
        raise TransitionNotAllowed(
            f"{complaint.reference} is {complaint.get_state_display().lower()}; holding replies are for open complaints.",
            details={"state": complaint.state},
        )
    if not message.strip():
        raise ValidationFailed("Write the holding reply.", details={"message": ["Required."]})
    with transaction.atomic():
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        sent = Message.objects.create(
            complaint=locked,
            direction=MessageDirection.OUTBOUND,
            kind=MessageKind.HOLDING,
            channel=locked.channel,
            author=actor,
            body=message.strip(),
        )
        events.message_added(locked, actor, sent)
        clocks.on_message(locked, inbound=False, at=sent.created_at, message=sent, actor=actor)
        if exceptional:
            obligations.extend(
                locked,
                ground=regulatory.HOLDING_REPLY,
                actor=actor,
                at=sent.created_at,
                details={"message_id": sent.pk},
            )
    return sent


def ensure_may_send_letter(complaint: Complaint, actor, kind: str) -> regulatory.Letter:
    """The letter ``kind`` of the complaint's regulatory profile, if ``actor`` may send it now.

    Refused in the order the API answers: who may write (403), then the complaint's state or
    an obligation already answered (409), then a profile that gives the letter no effect (400).
    """
    name = kind.replace("_", " ")
    if not rules.works_on(complaint, actor):
        raise PermissionDenied(f"You may not write on {complaint.reference}.")
    if not complaint.is_open:
        raise TransitionNotAllowed(
            f"{complaint.reference} is {complaint.get_state_display().lower()}; a {name} is for an open complaint.",
            details={"state": complaint.state},
        )
    profile = regulatory.get_profile(complaint.regulatory_profile)
    letter = profile.letter(kind) if profile else None
    if letter is None:
        raise ValidationFailed(
            _no_such_letter(complaint, profile, kind),
            details={
                "regulatory_profile": [
                    f"{complaint.regulatory_profile} has no {name}."
                    if complaint.regulatory_profile
                    else f"A complaint under no regulatory profile has no {name}."
                ]
            },
        )
    obligation = obligations.open_obligation(complaint, letter.clock)
    if obligation is None:
        raise TransitionNotAllowed(
            _obligation_closed(complaint, profile, letter), details={"state": complaint.state}
        )
    if letter.after_deadline and obligation.due_at > timezone.now():
        # Sent early it would tell the customer a deadline was missed that has not been.
        raise TransitionNotAllowed(
            f"A {name} under {profile.code} is sent once the deadline has passed "
            f"({letter.citation}); the deadline of {complaint.reference} is "
            f"{obligations.local_time(obligation, obligation.due_at)}.",
            details={"due_at": obligation.due_at.isoformat()},
        )
    return letter


def _no_such_letter(complaint: Complaint, profile, kind: str) -> str:
    name = kind.replace("_", " ")
    having = [p for p in regulatory.PROFILES.values() if p.letter(kind)]
    where = ", ".join(f"{p.code} ({p.name})" for p in having) or "no profile"
    if profile is None:
        return (
            f"{complaint.reference} is under no regulatory profile, so a {name} would have no "
            f"legal effect; it has one under {where}. Send a reply instead."
        )
    return (
        f"A {name} has no legal effect under {profile.code} ({profile.name}), the profile of "
        f"{complaint.reference}; it has one under {where}. Send a reply instead."
    )


def _obligation_closed(complaint: Complaint, profile, letter: regulatory.Letter) -> str:
    name = letter.kind.replace("_", " ")
    clock = obligations.last_obligation(complaint, letter.clock)
    if clock is None or clock.stopped_at is None:
        return f"{complaint.reference} has no {letter.clock} obligation under {profile.code} to answer."
    answered = obligations.local_time(clock, clock.stopped_at, "%-d %B %Y")
    return (
        f"The {letter.clock} obligation of {complaint.reference} ({clock.rule}, {profile.code}) "
        f"was already answered on {answered} and is {clock.state}; another {name} would "
        "answer nothing. Send a reply instead."
    )


def complaint_send_written_response(
    *, complaint: Complaint, actor, reason: str, expected_by: date
) -> Message:
    """Send a written response (FCA DISP 1.6.2R(2)): why there is no final response yet and
    when one is expected; the customer's email adds their right to refer the complaint to the
    Financial Ombudsman Service now.

    It meets the statutory resolve obligation (met if sent by the deadline, breached if
    after) and writes which one on the timeline. The complaint stays open, and its internal
    resolve target runs on: it has not been resolved.
    """
    return _send_letter(
        complaint=complaint,
        actor=actor,
        kind=MessageKind.WRITTEN_RESPONSE,
        reason=reason,
        expected_by=expected_by,
    )


def complaint_send_delay_notification(
    *, complaint: Complaint, actor, reason: str, expected_by: date | None = None
) -> Message:
    """Tell the customer why the response is late and, optionally, when to expect it; the
    customer's email adds their right to go to the ombudsman (ASIC RG 271.64-271.66: AFCA).

    It is recorded against the statutory resolve obligation, which runs on: it is met by the
    response, or breached by its deadline, as the rule says, whatever notice was given.
    """
    return _send_letter(
        complaint=complaint,
        actor=actor,
        kind=MessageKind.DELAY_NOTIFICATION,
        reason=reason,
        expected_by=expected_by,
    )


# What a letter must say, by kind: why (required) and when (a date, where required).
_LETTER_WHY = {
    MessageKind.WRITTEN_RESPONSE: "Say why there is no final response yet.",
    MessageKind.DELAY_NOTIFICATION: "Say why the response is delayed.",
}
_LETTER_WHEN = {
    MessageKind.WRITTEN_RESPONSE: "We expect to send you our final response by {date}.",
    MessageKind.DELAY_NOTIFICATION: "We expect to send you our response by {date}.",
}


def _send_letter(
    *, complaint: Complaint, actor, kind: str, reason: str, expected_by: date | None
) -> Message:
    with transaction.atomic():
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        letter = ensure_may_send_letter(locked, actor, kind)
        if not (reason or "").strip():
            raise ValidationFailed(_LETTER_WHY[kind], details={"reason": ["Required."]})
        body = reason.strip()
        if expected_by is not None:
            _check_not_past(locked, expected_by)
            when = _LETTER_WHEN[kind].format(date=f"{expected_by:%-d %B %Y}")
            body = f"{body}\n\n{when}"
        elif kind == MessageKind.WRITTEN_RESPONSE or letter.needs_date:
            raise ValidationFailed(
                "Say when the final response is expected: the rule requires the date.",
                details={"expected_by": ["Required."]},
            )
        return _letter_write(locked, actor, letter, body)


LETTER_PROMISE_MAX_DAYS = 366


def _check_not_past(complaint: Complaint, expected_by: date) -> None:
    """A date promised to the customer is today or later in the complaint's region."""
    profile = regulatory.get_profile(complaint.regulatory_profile)
    zone = ZoneInfo(profile.region(complaint.jurisdiction).time_zone)
    today = timezone.now().astimezone(zone).date()
    if expected_by < today:
        raise ValidationFailed(
            f"{expected_by.isoformat()} has passed; say when the response is expected.",
            details={"expected_by": [f"Give a date from {today.isoformat()} on."]},
        )
    # A promise to the customer more than a year out is a typo, not a plan (9999-12-31 was
    # once sent as "we expect to answer by 31 December 9999").
    latest = today + timedelta(days=LETTER_PROMISE_MAX_DAYS)
    if expected_by > latest:
        raise ValidationFailed(
            f"{expected_by.isoformat()} is more than a year away; give the date you expect.",
            details={"expected_by": [f"Give a date up to {latest.isoformat()}."]},
        )


def _letter_write(complaint: Complaint, actor, letter: regulatory.Letter, body: str) -> Message:
    """A letter: the message, its timeline event, the clocks, and the obligation it answers."""
    sent = Message.objects.create(
        complaint=complaint,
        direction=MessageDirection.OUTBOUND,
        kind=letter.kind,
        channel=complaint.channel,
        author=actor,
        body=body,
    )
    events.message_added(complaint, actor, sent)
    clocks.on_message(complaint, inbound=False, at=sent.created_at, message=sent, actor=actor)
    obligations.answer(complaint, letter, sent, actor)
    return sent
