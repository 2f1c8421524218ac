"""Proving an address before a complaint joins the history of the customer who owns it.

Whoever types an existing customer's address into the public form (or sends mail from it
without passing DMARC) has not shown that the address is theirs. Intake then files the
complaint at once on a *provisional* customer record holding what the filer typed, and
notes the existing customer as ``Complaint.customer_match`` (``recovery.services.intake``).
Statutory clocks run from receipt as for any complaint; nothing here touches them.

The receipt goes to the address, and carries a confirmation link: signed with
``SECRET_KEY``, naming the complaint and the customer it may join, valid for
``CONFIRMATION_LINK_DAYS`` and once (a second use finds the match cleared). Following it,
or staff linking the complaint by hand after checking, moves the complaint to the existing
customer's record and writes the timeline event.
"""

from datetime import timedelta

from django.core import signing
from django.db import transaction

from common.errors import Conflict, Gone, PermissionDenied, ValidationFailed
from recovery import events, rules
from recovery.models import Complaint, EventType

CONFIRMATION_SALT = "redress.address-confirmation"
# Long enough for someone back from a fortnight's holiday to find the receipt; short enough
# that an old mailbox leak is not a key to the customer's record for ever.
CONFIRMATION_LINK_DAYS = 14
# Signed tokens are about 50 characters; anything far longer is not one of ours.
TOKEN_MAX_CHARS = 200
REASON_MAX_CHARS = 1000


def confirmation_token(complaint: Complaint) -> str:
    """The link token for a provisional complaint ("" when there is nothing to confirm)."""
    if complaint.customer_match_id is None:
        return ""
    return signing.dumps(
        {"c": complaint.pk, "m": complaint.customer_match_id},
        salt=CONFIRMATION_SALT,
        compress=True,
    )


def confirmation_token_of(complaint_id: int) -> str:
    complaint = Complaint.objects.only("pk", "customer_match_id").filter(pk=complaint_id).first()
    return confirmation_token(complaint) if complaint is not None else ""


def complaint_to_confirm(token: str) -> Complaint:
    """The provisional complaint a confirmation link names.

    ``ValidationFailed`` (400) for anything that is not one of our links; ``Gone`` (410)
    for one that was ours: expired, already used, or the complaint linked by staff since.
    """
    value = None
    if isinstance(token, str) and len(token) <= TOKEN_MAX_CHARS:
        try:
            value = signing.loads(
                token,
                salt=CONFIRMATION_SALT,
                max_age=timedelta(days=CONFIRMATION_LINK_DAYS),
            )
        except signing.SignatureExpired as error:
            raise Gone(
                f"This confirmation link has expired (links work for {CONFIRMATION_LINK_DAYS} "
                "days). Contact us quoting the reference in our email, and we will check the "
                "complaint with you."
            ) from error
        except signing.BadSignature:
            value = None
    complaint_id = value.get("c") if isinstance(value, dict) else None
    match_id = value.get("m") if isinstance(value, dict) else None
    complaint = (
        Complaint.objects.select_related("customer", "customer_match")
        .filter(pk=complaint_id)
        .first()
        if _is_id(complaint_id) and _is_id(match_id)
        else None
    )
    if complaint is None:
        raise ValidationFailed(
            "This confirmation link is not valid. Check that you copied all of it.",
            details={"token": ["Not a confirmation link of ours."]},
        )
    if complaint.customer_match_id != match_id:
        raise Gone(
            f"Complaint {complaint.reference} is already confirmed: this link has been used, "
            "and works only once."
        )
    return complaint


def customer_address_confirm(*, token: str) -> Complaint:
    """Follow a confirmation link: the complaint joins the address owner's record.

    1. Check the link (``complaint_to_confirm``), then lock the complaint row, so two
       clicks at once link once: the second finds the match cleared and is ``Gone``.
    2. Move the complaint to the matched customer and clear the match.
    3. Write ``customer_address_confirmed`` on the timeline.
    """
    complaint = complaint_to_confirm(token)
    with transaction.atomic():
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        if locked.customer_match_id != complaint.customer_match_id:
            raise Gone(
                f"Complaint {locked.reference} is already confirmed: this link has been used, "
                "and works only once."
            )
        provisional_id = _link(locked)
        events.record(
            locked,
            EventType.CUSTOMER_ADDRESS_CONFIRMED,
            None,
            {"customer_id": locked.customer_id, "provisional_customer_id": provisional_id},
        )
    return locked


def complaint_customer_link(*, complaint: Complaint, actor, reason: str) -> Complaint:
    """Staff who work the complaint link it to its possible customer by hand, saying why."""
    if not rules.works_on(complaint, actor):
        raise PermissionDenied(f"You may not change the customer of {complaint.reference}.")
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationFailed(
            "Say how you checked that the complaint is the customer's.",
            details={"reason": ["This field is required."]},
        )
    if len(reason) > REASON_MAX_CHARS:
        raise ValidationFailed(
            f"The reason is {len(reason)} characters; at most {REASON_MAX_CHARS}.",
            details={"reason": [f"At most {REASON_MAX_CHARS} characters."]},
        )
    with transaction.atomic():
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        if locked.customer_match_id is None:
            raise Conflict(
                f"{locked.reference} has no unconfirmed customer to link: it is on its "
                "customer's record already.",
                details={"customer_match": ["Nothing to link."]},
            )
        provisional_id = _link(locked)
        events.record(
            locked,
            EventType.CUSTOMER_LINKED_BY_STAFF,
            actor,
            {
                "customer_id": locked.customer_id,
                "provisional_customer_id": provisional_id,
                "reason": reason,
            },
        )
    return locked


def _link(locked: Complaint) -> int:
    """Step 2: the complaint onto its matched customer; returns the provisional record's id.

    The provisional record is kept (the timeline names it); it holds no complaint any more.
    """
    provisional_id = locked.customer_id
    locked.customer_id = locked.customer_match_id
    locked.customer_match = None
    locked.save(update_fields=["customer", "customer_match", "updated_at"])
    return provisional_id


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
