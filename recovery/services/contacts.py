"""Who may write for a customer by email: their own address, and the contacts staff authorised.

Inbound mail threaded onto a complaint from any other address is held for review
(``notifications.ingest``); accepting it authorises its sender here.
"""

from django.db import IntegrityError, transaction

from common.errors import PermissionDenied, ValidationFailed
from recovery import rules
from recovery import selectors as recovery_selectors
from recovery.models import Complaint, CustomerContact


def customer_contact_authorise(*, complaint: Complaint, email: str, actor) -> CustomerContact:
    """Let ``email`` write for the complaint's customer from now on; idempotent.

    Part of the caller's transaction: the review that accepted a held email records why on
    the complaint's timeline.
    """
    if not rules.works_on(complaint, actor):
        raise PermissionDenied(f"You may not change who writes for {complaint.reference}.")
    address = email.strip().lower()
    if "@" not in address:
        raise ValidationFailed(
            f"{email!r} is not an email address.", details={"email": ["Not an address."]}
        )
    customer = complaint.customer
    existing = recovery_selectors.customer_contact(customer, address)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return CustomerContact.objects.create(
                customer=customer, email=address, authorised_by=actor, complaint=complaint
            )
    except IntegrityError:
        # Authorised by another review a moment ago.
        found = recovery_selectors.customer_contact(customer, address)
        if found is None:
            raise
        return found
