"""Conditions and permissions of the complaint state machine.

Each function takes the complaint (and, for permissions, the user) and answers yes or no.
They are referenced by the ``@transition`` declarations on ``Complaint`` and by the
services that explain *why* a transition was refused.
"""


# -- conditions ------------------------------------------------------------------------


def has_acknowledgement_message(complaint) -> bool:
    return complaint.messages.filter(kind="acknowledgement").exists()


def has_resolution(complaint) -> bool:
    return bool(complaint.outcome) and bool(complaint.resolution_summary.strip())


def has_primary_root_cause(complaint) -> bool:
    # From the causes held on the instance when a resolution just wrote them
    # (``lifecycle.complaint_resolve``); else one read of the few there are.
    return any(link.is_primary for link in complaint.root_causes.all())


def has_loop_closing_message(complaint) -> bool:
    return complaint.messages.filter(kind="loop_closing").exists()


def has_withdrawal_reason(complaint) -> bool:
    return bool(complaint.withdrawal_reason.strip())


# -- permissions -----------------------------------------------------------------------


def works_on(complaint, user) -> bool:
    """Staff may work what the access policy lets them work (``recovery.access``)."""
    # Imported here: the policy reads the models, and the models import these rules.
    from recovery import access

    return access.can_act_on_complaint(user, complaint)


def owns(complaint, user) -> bool:
    customer = getattr(user, "customer", None) if user.is_authenticated else None
    return customer is not None and complaint.customer_id == customer.pk


def may_acknowledge(complaint, user) -> bool:
    return user.has_perm("recovery.acknowledge_complaint") and works_on(complaint, user)


def may_resolve(complaint, user) -> bool:
    return user.has_perm("recovery.resolve_complaint") and works_on(complaint, user)


def may_close_loop(complaint, user) -> bool:
    return user.has_perm("recovery.close_loop_complaint") and works_on(complaint, user)


def may_reopen(complaint, user) -> bool:
    # Reopening undoes a resolution, so it is a supervisor's call, not the resolving agent's.
    return user.has_perm("recovery.reopen_complaint") and works_on(complaint, user)


def may_withdraw(complaint, user) -> bool:
    if owns(complaint, user):
        return True
    return user.has_perm("recovery.withdraw_complaint") and works_on(complaint, user)


def may_view(complaint, user) -> bool:
    from recovery import access

    return access.can_view_complaint(user, complaint)


def may_add_message(complaint, user, *, internal: bool) -> bool:
    if internal:
        return user.has_perm("recovery.add_internal_note") and works_on(complaint, user)
    return owns(complaint, user) or works_on(complaint, user)


# Letters a regime gives a legal effect, and the final response (the resolution email): one
# that did not reach the customer may mean the firm has not met its obligation.
REGULATORY_LETTER_KINDS = frozenset(
    {"resolution", "written_response", "delay_notification", "holding"}
)


def is_regulatory_letter(complaint, kind: str) -> bool:
    return bool(complaint.regulatory_profile) and kind in REGULATORY_LETTER_KINDS
