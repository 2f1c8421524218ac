"""The customer's tracking link: signed, revocable, and expiring after the complaint closes.

The link carries a signed payload ``{"c": complaint id, "v": link version}``. Staff revoke
every link issued so far by raising the complaint's ``tracking_link_version``
(``tracking_link_reissue``): the old signatures stay valid, their version no longer
matches, so no list of revoked links is kept. A link also stops working once the complaint
has been closed (loop closed or withdrawn) for ``REDRESS_TRACKING_LINK_DAYS_AFTER_CLOSE``
days. Links signed before versions existed carry none and count as version 1.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from common.errors import Gone, NotFound, PermissionDenied, ValidationFailed
from recovery import events, rules, signals
from recovery.models import Complaint, EventType, State

TRACKING_SALT = "redress.tracking"
# Signed tokens are about 40 characters; anything far longer is not one of ours, and is
# refused before the signature is even checked.
TOKEN_MAX_CHARS = 200
REASON_MAX_CHARS = 1000
CLOSED_STATES = (State.LOOP_CLOSED, State.WITHDRAWN)


def tracking_token(complaint: Complaint) -> str:
    """The complaint's current tracking link token."""
    return signing.dumps(
        {"c": complaint.pk, "v": complaint.tracking_link_version},
        salt=TRACKING_SALT,
        compress=True,
    )


def tracking_token_of(complaint_id: int) -> str | None:
    complaint = (
        Complaint.objects.only("pk", "tracking_link_version").filter(pk=complaint_id).first()
    )
    return tracking_token(complaint) if complaint is not None else None


def reference_and_token_of(complaint_id: int) -> tuple[str, str] | None:
    """The complaint's reference and current tracking token: where a merged duplicate's
    tracking page points (``desk.portal``)."""
    complaint = (
        Complaint.objects.only("pk", "reference", "tracking_link_version")
        .filter(pk=complaint_id)
        .first()
    )
    return (complaint.reference, tracking_token(complaint)) if complaint is not None else None


def complaint_of_link(token: str) -> Complaint:
    """The complaint a tracking link opens.

    ``NotFound`` for anything that is not one of our links; ``Gone`` for a link that was
    ours: revoked by staff, or expired after the complaint closed.
    """
    value = None
    if isinstance(token, str) and len(token) <= TOKEN_MAX_CHARS:
        try:
            value = signing.loads(token, salt=TRACKING_SALT)
        except signing.BadSignature:
            value = None
    complaint_id = value.get("c") if isinstance(value, dict) else None
    version = value.get("v", 1) if isinstance(value, dict) else None
    complaint = (
        Complaint.objects.select_related("customer").filter(pk=complaint_id).first()
        if isinstance(complaint_id, int) and not isinstance(complaint_id, bool)
        else None
    )
    if complaint is None:
        raise NotFound("This link is not valid. Check that you copied all of it.")
    if version != complaint.tracking_link_version:
        raise Gone(
            "This link was replaced by a newer one, which we emailed to you. Use the link "
            "in our most recent email, or contact us quoting your reference "
            f"{complaint.reference}."
        )
    if link_expired(complaint):
        raise Gone(
            "This link has expired: the complaint was closed some time ago. Contact us "
            f"quoting your reference {complaint.reference} if you need its details."
        )
    return complaint


def link_expired(complaint: Complaint, now=None) -> bool:
    """Closed for longer than the configured number of days (read at call time)."""
    if complaint.state not in CLOSED_STATES:
        return False
    closed_at = complaint.loop_closed_at or complaint.withdrawn_at
    if closed_at is None:
        return False
    days = settings.REDRESS_TRACKING_LINK_DAYS_AFTER_CLOSE
    return (now or timezone.now()) >= closed_at + timedelta(days=days)


def tracking_link_reissue(*, complaint: Complaint, actor, reason: str) -> Complaint:
    """Revoke every tracking link of the complaint and email the customer a new one.

    1. Only staff who work the complaint may, with a reason (kept on the timeline).
    2. Lock the row and raise its link version: every earlier link answers "replaced".
    3. Write the timeline event; its outbox row emails the new link after commit.
    """
    if not rules.works_on(complaint, actor):
        raise PermissionDenied(f"You may not re-issue the tracking link of {complaint.reference}.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "Say why the link is revoked.", details={"reason": ["This field is required."]}
        )
    if len(reason) > REASON_MAX_CHARS:
        raise ValidationFailed(
            f"The reason is {len(reason)} characters; at most {REASON_MAX_CHARS}.",
            details={"reason": [f"At most {REASON_MAX_CHARS} characters."]},
        )
    with transaction.atomic():
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        locked.tracking_link_version += 1
        locked.save(update_fields=["tracking_link_version", "updated_at"])
        events.record(
            locked,
            EventType.TRACKING_LINK_REISSUED,
            actor,
            {"reason": reason, "version": locked.tracking_link_version},
        )
        # Sockets opened with an earlier link close (4403) at once, before the reissue event
        # itself is pushed to them.
        signals.tracking_link_changed.send(sender=None, complaint_id=locked.pk)
    return locked
