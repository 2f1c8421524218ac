"""The access policy of Redress: who may see, and who may work, which complaints.

One place for the rule, asked in two shapes: a queryset (``complaints_visible_to``, for
lists, lookups by reference and exports) and a predicate on one complaint
(``can_view_complaint``, for sockets and pages that hold the row already). Acting is the
same pair (``complaints_workable_by`` / ``can_act_on_complaint``). docs/security.md states
the policy in words; tests/security/test_access_matrix.py walks every route against it.

- a complaints manager, the head of CX (and a superuser): every complaint;
- an agent or a supervisor: the complaints of the teams they are on, the complaints not
  routed to any team yet (the intake queue is everyone's until someone takes it), the ones
  assigned to them and the ones escalated to them;
- a customer: their own complaints, never anyone else's;
- a deactivated account, an account without a role, anonymous: nothing.

Inbound mail held for review follows the complaint it claims; quarantined mail, which
claims none, is for supervisors and up (``may_review_unattributed_mail``).

Staff may act on what they may see (the transition's own permission, e.g. reopening, is
checked on top by ``recovery.rules``); customers act on their own complaints through the
rules of the portal and the API (``recovery.rules.owns``), not through this staff gate.
"""

from django.db.models import Q, QuerySet

from escalation.models import Escalation
from recovery import roles
from recovery.models import Complaint, Team

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


def _staff_scope(user) -> Q:
    """The complaints an agent or supervisor works: subqueries, so one query in all."""
    teams = Team.members.through.objects.filter(user_id=user.pk).values("team_id")
    escalated = Escalation.objects.filter(owner_id=user.pk).values("complaint_id")
    return (
        Q(team_id__in=teams) | Q(team__isnull=True) | Q(assignee_id=user.pk) | Q(pk__in=escalated)
    )


def complaints_visible_to(user) -> QuerySet[Complaint]:
    """Every complaint ``user`` may see (one query, whatever the role)."""
    complaints = Complaint.objects.all()
    if sees_every_complaint(user):
        return complaints
    if is_working_staff(user):
        return complaints.filter(_staff_scope(user))
    customer = _customer_of(user)
    if customer is None:
        return complaints.none()
    return complaints.filter(customer=customer)


def complaints_workable_by(user) -> QuerySet[Complaint]:
    """Every complaint ``user`` may work as staff (transitions, notes, assignments)."""
    if sees_every_complaint(user):
        return Complaint.objects.all()
    if is_working_staff(user):
        return Complaint.objects.filter(_staff_scope(user))
    return Complaint.objects.none()


def can_view_complaint(user, complaint: Complaint) -> bool:
    """``complaint in complaints_visible_to(user)``, asked of one row."""
    if sees_every_complaint(user):
        return True
    if is_working_staff(user):
        return _in_staff_scope(user, complaint)
    customer = _customer_of(user)
    return customer is not None and complaint.customer_id == customer.pk


def can_act_on_complaint(user, complaint: Complaint) -> bool:
    """``complaint in complaints_workable_by(user)``, asked of one row."""
    if sees_every_complaint(user):
        return True
    return is_working_staff(user) and _in_staff_scope(user, complaint)


def may_review_unattributed_mail(user) -> bool:
    """Quarantined inbound mail (unreadable, or with no usable sender) claims no complaint,
    so no team's scope covers it: supervisors, and those who see every complaint, review it.
    Mail held on a complaint is reviewed by whoever may work that complaint
    (``complaints_workable_by``)."""
    if sees_every_complaint(user):
        return True
    return is_working_staff(user) and roles.has_role(user, roles.SUPERVISOR)


def _in_staff_scope(user, complaint: Complaint) -> bool:
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
            else Team.members.through.objects.filter(
                user_id=user.pk, team_id=complaint.team_id
            ).exists()
        ) or Escalation.objects.filter(complaint_id=complaint.pk, owner_id=user.pk).exists()
    return remembered[key]


def _customer_of(user):
    if not _active(user) or roles.is_staff_member(user):
        return None
    return getattr(user, "customer", None)
