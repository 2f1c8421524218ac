"""The access policy of Redress: who may see, and who may work, which complaints.

One place for the rule, asked in two shapes: a queryset (``complaints_visible_to``, for
lists, lookups by reference and exports) and a predicate on one complaint
(``recovery.rules.may_view``, for sockets and pages that hold the row already). Acting is
the same pair (``complaints_workable_by`` / ``recovery.rules.works_on``); the predicates
live with the other rules so that the state machine's permissions use them without a
circle through the models. docs/security.md states
the policy in words; tests/security/test_access_matrix.py walks every route against it.

- a complaints manager, the head of CX (and a superuser): every complaint;
- an agent or a supervisor: the complaints of the teams they are on, the complaints not
  routed to any team yet (the intake queue is everyone's until someone takes it), the ones
  assigned to them and the ones escalated to them;
- a customer: their own complaints, never anyone else's;
- a deactivated account, an account without a role, anonymous: nothing.

Inbound mail held for review follows the complaint it claims; quarantined mail, which
claims none, is for supervisors and up (``rules.may_review_unattributed_mail``).

Staff may act on what they may see (the transition's own permission, e.g. reopening, is
checked on top by ``recovery.rules``); customers act on their own complaints through the
rules of the portal and the API (``recovery.rules.owns``), not through this staff gate.
"""

from django.db.models import Q, QuerySet

from escalation.models import Escalation
from recovery.models import Complaint, SavedView, Team
from recovery.rules import customer_of, is_working_staff, sees_every_complaint


def _staff_scope(user_id) -> Q:
    """The complaints an agent or supervisor works: subqueries, so one query in all."""
    teams = Team.members.through.objects.filter(user_id=user_id).values("team_id")
    escalated = Escalation.objects.filter(owner_id=user_id).values("complaint_id")
    return (
        Q(team_id__in=teams) | Q(team__isnull=True) | Q(assignee_id=user_id) | Q(pk__in=escalated)
    )


# The policy's scopes: what ``visibility_scope`` says a user sees complaints through.
ALL, STAFF, CUSTOMER, NOTHING = "all", "staff", "customer", "nothing"


def visibility_scope(user) -> tuple[str, int | None]:
    """Which of the policy's scopes ``user`` sees complaints through, and its one parameter
    (the staff member's or the customer's id): a query of the scope has the same SQL for
    every user in it (``recovery.selectors`` compiles the API's detail read once per scope)."""
    if sees_every_complaint(user):
        return ALL, None
    if is_working_staff(user):
        return STAFF, user.pk
    customer = customer_of(user)
    if customer is None:
        return NOTHING, None
    return CUSTOMER, customer.pk


def complaints_in_scope(scope: str, parameter: int | None) -> QuerySet[Complaint]:
    """The complaints seen through ``scope`` (``visibility_scope``)."""
    complaints = Complaint.objects.all()
    if scope == ALL:
        return complaints
    if scope == STAFF:
        return complaints.filter(_staff_scope(parameter))
    if scope == CUSTOMER:
        return complaints.filter(customer_id=parameter)
    return complaints.none()


def complaints_visible_to(user) -> QuerySet[Complaint]:
    """Every complaint ``user`` may see (one query, whatever the role)."""
    return complaints_in_scope(*visibility_scope(user))


def complaints_workable_by(user) -> QuerySet[Complaint]:
    """Every complaint ``user`` may work as staff (transitions, notes, assignments)."""
    return complaints_in_scope(*workable_scope(user))


def workable_scope(user) -> tuple[str, int | None]:
    """Which of the policy's scopes ``user`` works complaints through, and its parameter:
    ``visibility_scope`` without the customer's (customers work through the portal's rules)."""
    if sees_every_complaint(user):
        return ALL, None
    if is_working_staff(user):
        return STAFF, user.pk
    return NOTHING, None


def teams_read_with(user) -> frozenset[int] | None:
    """The ids of the teams ``user`` is on, as read with the user for this request (the
    session's or the API token's user, on PostgreSQL: ``recovery.auth``), or None where
    they were not. For a request's lists, which can then name the teams as values (the
    planner counts a team's complaints from its statistics, where a subquery of the
    memberships is a guess); never for a socket, which keeps its user for hours."""
    return getattr(user, "_redress_request_team_ids", None)


def saved_views_visible_to(user) -> QuerySet[SavedView]:
    """The queue's saved views ``user`` may open: their own, and those shared with a team
    they are on (a subquery: one query in all). Another team's views are not among them."""
    if not is_working_staff(user) and not sees_every_complaint(user):
        return SavedView.objects.none()
    teams = Team.members.through.objects.filter(user_id=user.pk).values("team_id")
    return SavedView.objects.filter(Q(owner_id=user.pk) | Q(team_id__in=teams))
