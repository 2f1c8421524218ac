"""Merging a duplicate complaint into the one that survives.

A customer who complains twice about one thing (an email and then a web form, a chase under
a new subject) gets one complaint, one answer and one set of deadlines. The duplicate is
withdrawn as a duplicate, through the state machine, and points at the survivor; the
survivor takes a copy of everything said on the duplicate, and the first receipt.

``complaint_merge`` runs in one transaction:
1. refuse what can be refused from what the caller holds (the same complaint, a blank or
   overlong reason);
2. lock both complaints' rows in the order of their ids, whichever is the survivor, so that
   two merges of the same pair, in either direction, queue up rather than deadlock: the
   second sees what the first did and is refused (409);
3. check, with the rows locked, who may merge (``rules.may_merge``: may withdraw complaints
   and works on both), that both are open, that the duplicate was not merged already, and
   that both are the same customer's, or that one of the two customers is *provisional*
   (``customer_link``): that one's complaint then moves onto the other customer's record;
4. withdraw the duplicate (the declared ``withdraw`` transition) with the survivor as its
   ``duplicate_of``; its clocks are cancelled as any withdrawal's are;
5. copy the duplicate's messages (the customer's, ours, internal notes) to the survivor,
   each marked ``merged_from`` and keeping its time, so the survivor's conversation is
   complete; the duplicate keeps its own;
6. where the duplicate was received first, the survivor takes its receipt time: statutory
   deadlines run from first receipt (docs/lifecycle.md), so they are planned again from it;
   internal targets are left as they are;
7. write both timeline events (the survivor's ``duplicate_merged``, which emails the
   customer once, and the duplicate's ``withdrawn``, which emails nobody) and their outbox
   rows; both name the customer link, if any. Nothing leaves the process before commit.

A customer record is *provisional* here when intake made it provisional (an address typed
by someone who has not proven it, ``recovery.services.address_proof``), or when nothing yet
establishes it: it holds no complaint but the one being merged, has no portal login and no
authorised contact (``CustomerContact``): a record made from a new email address or the
public form, for this one complaint. Two established records are never joined by a merge:
each may hold other complaints and people who may read them.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from common.errors import (
    Conflict,
    PermissionDenied,
    RedressError,
    TransitionNotAllowed,
    ValidationFailed,
)
from escalation.services import clocks
from recovery import events, rules
from recovery.models import Complaint, CustomerContact, Message, State

# As long as any other reason a person gives on a complaint (a regulation change's).
REASON_MAX_CHARS = 5_000


def ensure_may_merge(*, survivor: Complaint, duplicate: Complaint, actor) -> None:
    """403 before anything else is looked at: the desk asks it before showing the form."""
    if not rules.may_merge(survivor, duplicate, actor):
        raise PermissionDenied(
            f"You may not merge {duplicate.reference} into {survivor.reference}: merging takes "
            "the permission to withdraw complaints, and working on both.",
        )


@dataclass(frozen=True)
class CustomerLink:
    """Two customers' complaints are merged: ``complaint`` moves from its provisional
    customer record onto ``customer_id``'s, the other complaint's customer."""

    complaint: Complaint
    customer_id: int
    provisional_customer_id: int

    @property
    def parameters(self) -> dict:
        """What both merge events keep of it."""
        return {
            "complaint": self.complaint.reference,
            "customer_id": self.customer_id,
            "provisional_customer_id": self.provisional_customer_id,
        }


def is_provisional_for(complaint: Complaint) -> bool:
    """Whether ``complaint``'s customer record may be joined to another customer's when the
    complaint is merged (the module's docstring defines it)."""
    customer = complaint.customer
    if customer.provisional:
        return True
    return (
        customer.user_id is None
        and not CustomerContact.objects.filter(customer_id=customer.pk).exists()
        and not Complaint.objects.filter(customer_id=customer.pk).exclude(pk=complaint.pk).exists()
    )


def customer_link(*, survivor: Complaint, duplicate: Complaint) -> CustomerLink | None:
    """Which complaint moves to the other's customer when the two customers differ: the
    duplicate's if its customer is provisional, else the survivor's if its customer is;
    None when they are one customer's, or both customers are established."""
    if survivor.customer_id == duplicate.customer_id:
        return None
    for moving, staying in ((duplicate, survivor), (survivor, duplicate)):
        if is_provisional_for(moving):
            return CustomerLink(moving, staying.customer_id, moving.customer_id)
    return None


def merge_problem(*, survivor: Complaint, duplicate: Complaint) -> RedressError | None:
    """Why these two cannot be merged as they are now, or None; asked again under the lock."""
    if survivor.pk == duplicate.pk:
        return ValidationFailed(
            f"A complaint cannot be merged into itself ({survivor.reference}).",
            details={"duplicate": ["Give the reference of another complaint."]},
        )
    if duplicate.duplicate_of_id is not None:
        where = "this complaint" if duplicate.duplicate_of_id == survivor.pk else "another one"
        return Conflict(
            f"{duplicate.reference} was already merged into {where}.",
            details={"duplicate": [f"{duplicate.reference} is already merged."]},
        )
    for role, complaint in (("duplicate", duplicate), ("survivor", survivor)):
        if complaint.state not in (State.RECEIVED, State.ACKNOWLEDGED):
            return TransitionNotAllowed(
                f"{complaint.reference} is {State(complaint.state).label.lower()}: only open "
                "complaints (received or acknowledged) can be merged.",
                details={"state": complaint.state, role: [f"{complaint.reference} is closed."]},
            )
    if duplicate.customer_id != survivor.customer_id and (
        customer_link(survivor=survivor, duplicate=duplicate) is None
    ):
        return Conflict(
            f"{duplicate.reference} and {survivor.reference} are different customers' "
            "complaints, and both customers are established (each has other complaints, a "
            "portal login or an authorised contact), so a merge will not join their records. "
            "If they are one person, answer each complaint on its own and note the other's "
            "reference in an internal note; a merge joins a customer record to another only "
            "while it is provisional (made for this one complaint).",
            details={"duplicate": ["A different, established customer's complaint."]},
        )
    return None


def complaint_merge(
    *, survivor: Complaint, duplicate: Complaint, actor, reason: str
) -> tuple[Complaint, Complaint]:
    """Merge ``duplicate`` into ``survivor``; returns both as saved (survivor, duplicate)."""
    if survivor.pk == duplicate.pk:
        raise merge_problem(survivor=survivor, duplicate=duplicate)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "Say why the two are one complaint.", details={"reason": ["This field is required."]}
        )
    if len(reason) > REASON_MAX_CHARS:
        raise ValidationFailed(
            f"The reason is longer than {REASON_MAX_CHARS} characters.",
            details={"reason": [f"At most {REASON_MAX_CHARS} characters."]},
        )
    ensure_may_merge(survivor=survivor, duplicate=duplicate, actor=actor)
    with transaction.atomic():
        # Step 2: one row at a time, lowest id first (a single SELECT … FOR UPDATE locks in
        # the order its plan meets the rows, which the ORDER BY does not fix).
        locked = {
            pk: Complaint.objects.select_for_update(of=("self",))
            .select_related("customer")
            .get(pk=pk)
            for pk in sorted((survivor.pk, duplicate.pk))
        }
        kept, merged = locked[survivor.pk], locked[duplicate.pk]
        ensure_may_merge(survivor=kept, duplicate=merged, actor=actor)
        problem = merge_problem(survivor=kept, duplicate=merged)
        if problem is not None:
            raise problem
        link = customer_link(survivor=kept, duplicate=merged)
        if link is not None:
            # Step 3: the provisional record's complaint onto the other customer's record;
            # the record is kept (the timelines name it) and holds no complaint any more.
            moving = link.complaint
            moving.customer_id = link.customer_id
            moving.customer_match = None
            moving.save(update_fields=["customer", "customer_match", "updated_at"])
        now = timezone.now()
        # Step 4: the duplicate's withdrawal, as ``lifecycle.complaint_withdraw`` makes it.
        held = clocks.clocks_for_transition(merged, "withdraw")
        merged.withdrawal_reason = reason
        merged.duplicate_of = kept
        merged.withdrawn_at = now
        merged.withdraw()
        merged.awaiting_customer = False
        merged.save(
            update_fields=[
                "state",
                "withdrawal_reason",
                "duplicate_of",
                "withdrawn_at",
                "awaiting_customer",
                "updated_at",
            ]
        )
        clocks.on_transition(merged, "withdraw", now, clocks=held)
        # Step 5.
        copied = Message.objects.bulk_create(
            Message(
                complaint=kept,
                direction=message.direction,
                kind=message.kind,
                channel=message.channel,
                author_id=message.author_id,
                body=message.body,
                written_by=message.written_by,
                # A copy of a copy (the duplicate had a duplicate) names where it was written.
                merged_from_id=message.merged_from_id or merged.pk,
                created_at=message.created_at,
            )
            for message in merged.messages.order_by("created_at", "id")
        )
        # Step 6.
        deadlines: dict = {}
        received_before = kept.received_at
        if merged.received_at < kept.received_at:
            kept.received_at = merged.received_at
            kept.save(update_fields=["received_at", "updated_at"])
            if kept.regulatory_profile:
                deadlines = clocks.replan_statutory(kept, now, received_before=received_before)
        # Step 7.
        events.complaints_merged(
            kept,
            merged,
            actor,
            reason=reason,
            messages_copied=len(copied),
            received_before=received_before,
            deadlines=deadlines,
            customer_linked=link.parameters if link is not None else None,
        )
    return kept, merged
