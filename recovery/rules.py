"""Conditions and permissions of the complaint state machine, and who works which complaint.

Each function takes the complaint (and, for permissions, the user) and answers yes or no.
They are referenced by the ``@transition`` declarations on ``Complaint`` and by the
services that explain *why* a transition was refused.
"""

from recovery import roles

# -- conditions ------------------------------------------------------------------------


# Messages copied from a merged duplicate (``Message.merged_from``) are the duplicate's
# history: they meet no condition here.


def has_acknowledgement_message(complaint) -> bool:
    return complaint.messages.filter(kind="acknowledgement", merged_from__isnull=True).exists()


def has_resolution(complaint) -> bool:
    return bool(complaint.outcome) and bool(complaint.resolution_summary.strip())


def has_primary_root_cause(complaint) -> bool:
    # From the causes held on the instance when a resolution just wrote them
    # (``lifecycle.complaint_resolve``); else one read of the few there are.
    return any(link.is_primary for link in complaint.root_causes.all())


def has_loop_closing_message(complaint) -> bool:
    return complaint.messages.filter(kind="loop_closing", merged_from__isnull=True).exists()


def has_withdrawal_reason(complaint) -> bool:
    return bool(complaint.withdrawal_reason.strip())


# -- who works which complaint (the access policy, asked of one row) --------------------
# The queryset shape of the same policy is ``recovery.access``; the two are tested together.

# Roles that oversee the whole complaint book rather than some teams' queues.
OVERSIGHT_ROLES = (roles.COMPLAINTS_MANAGER, roles.HEAD_OF_CX)


def _active(user) -> bool:
    # A deactivated account keeps its session row until it expires; it opens nothing.
    return bool(user is not None and user.is_authenticated and user.is_active)


def sees_every_complaint(user) -> bool:
    if not _active(user):
        return False
    return user.is_superuser or any(roles.has_role(user, role) for role in OVERSIGHT_ROLES)


def is_working_staff(user) -> bool:
    """An active member of staff who works complaints (whatever their scope)."""
    return (
        _active(user) and roles.is_staff_member(user) and user.has_perm("recovery.view_complaint")
    )


def may_view(complaint, user) -> bool:
    """``complaint in access.complaints_visible_to(user)``, asked of one row."""
    if sees_every_complaint(user):
        return True
    if is_working_staff(user):
        return _in_staff_scope(user, complaint)
    customer = customer_of(user)
    return customer is not None and complaint.customer_id == customer.pk


def works_on(complaint, user) -> bool:
    """``complaint in access.complaints_workable_by(user)``, asked of one row: staff may work
    what the access policy (``recovery.access``) lets them work."""
    if sees_every_complaint(user):
        return True
    return is_working_staff(user) and _in_staff_scope(user, complaint)


def may_be_assigned(complaint, user) -> bool:
    """Whether ``complaint`` may be given to ``user``: they would work it without being its
    assignee (a member of its team, the owner of one of its escalations, or someone who sees
    every complaint); a complaint with no team yet may go to any working member of staff.
    The board offers its team's members only; this is the rule behind every path."""
    if sees_every_complaint(user):
        return True
    if not is_working_staff(user):
        return False
    if complaint.team_id is None:
        return True
    return (
        user.teams.filter(pk=complaint.team_id).exists()
        or complaint.escalations.filter(owner_id=user.pk).exists()
    )


def may_review_unattributed_mail(user) -> bool:
    """Quarantined inbound mail (unreadable, or with no usable sender) claims no complaint,
    so no team's scope covers it: supervisors, and those who see every complaint, review it.
    Mail held on a complaint is reviewed by whoever may work that complaint
    (``complaints_workable_by``)."""
    if sees_every_complaint(user):
        return True
    return is_working_staff(user) and roles.has_role(user, roles.SUPERVISOR)


def _in_staff_scope(user, complaint) -> bool:
    # The cheap answers from the row first; the team and the ladder cost a query each.
    if complaint.team_id is None or complaint.assignee_id == user.pk:
        return True
    # Asked once for each transition a page or an answer offers: remembered on this
    # instance of the complaint (read for one request), for this user and team.
    remembered = complaint.__dict__.setdefault("_staff_scope", {})
    key = (user.pk, complaint.team_id)
    if key not in remembered:
        # An API request's token authentication brought the user's teams along
        # (``recovery.auth``); elsewhere they cost a query.
        team_ids = getattr(user, "_redress_team_ids", None)
        remembered[key] = (
            complaint.team_id in team_ids
            if team_ids is not None
            else user.teams.filter(pk=complaint.team_id).exists()
        ) or complaint.escalations.filter(owner_id=user.pk).exists()
    return remembered[key]


def remember_works_on(complaint, user) -> None:
    """Record on this instance of ``complaint`` that ``user`` works it, as ``works_on`` would
    find: for a read that went through the staff scope of ``access.complaints_visible_to``,
    which is the scope they work in."""
    complaint.__dict__.setdefault("_staff_scope", {})[(user.pk, complaint.team_id)] = True


def customer_of(user):
    if not _active(user) or roles.is_staff_member(user):
        return None
    return getattr(user, "customer", None)


# -- permissions -----------------------------------------------------------------------


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


def may_merge(survivor, duplicate, user) -> bool:
    """Merging withdraws the duplicate and writes on the survivor: staff who may withdraw
    complaints and work on both (``recovery.services.merge``)."""
    return (
        user.has_perm("recovery.withdraw_complaint")
        and works_on(survivor, user)
        and works_on(duplicate, user)
    )


def may_recategorise(complaint, user, *, by_macro: bool = False) -> bool:
    """Moving a complaint to another category moves its deadlines: staff who may correct a
    complaint's details (supervisors and above) and work on it. ``by_macro``: the move a
    macro names, which a supervisor decided when saving it, so anyone who works on the
    complaint may make it by using the macro (``recovery.services.macros``)."""
    if not works_on(complaint, user):
        return False
    return by_macro or user.has_perm("recovery.change_complaint")


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


def may_share_view(user, team_id: int) -> bool:
    """A saved view of the queue may be shared with a team by a supervisor on that team, or
    by someone who oversees every team: a shared view appears in every member's menu."""
    return team_id in teams_to_share_views_with(user, [team_id])


def teams_to_share_views_with(user, team_ids) -> set[int]:
    """Those of ``team_ids`` that ``user`` may share a saved view with (``may_share_view``),
    in one query: the form offers these, the save checks one."""
    team_ids = set(team_ids)
    if sees_every_complaint(user):
        return team_ids
    if not (is_working_staff(user) and roles.has_role(user, roles.SUPERVISOR)):
        return set()
    return set(user.teams.filter(pk__in=team_ids).values_list("pk", flat=True))
