"""What the supervisor's cards show beyond their row: on the board, which deadline was missed
and by how much, and who on the team a complaint may go to; in the approvals queue, what a
decision needs to know. Each is one query for the whole page, whatever it holds."""

from dataclasses import dataclass
from datetime import datetime, time

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from desk.selectors import obligation_label
from escalation.models import Clock, ClockKind, ClockState
from recovery import access, roles
from recovery.models import ComplaintRootCause, RecoveryAction
from recovery.selectors import GRANTED_STATUSES

# The order a card lists its deadlines in: the lifecycle's order of steps.
KIND_ORDER = {kind: position for position, kind in enumerate(ClockKind.values)}
# Earlier recoveries shown on an approval card per customer: the approver's glance, not the
# customer's file (the complaint page lists more).
PAST_RECOVERIES_SHOWN = 5


# -- the board ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CardDeadline:
    """One deadline a board card names: missed (``breached``) or close (``at_risk``)."""

    kind: str
    kind_label: str
    statutory: bool
    obligation: str  # "Internal target" or "Statutory · DISP 1.6.2R (UK FCA DISP)"
    status: str
    due_at: datetime
    text: str  # "Resolve — statutory — overdue by 2 d 3 h"


def short_span(seconds: float) -> str:
    """``2 d 3 h``, ``5 h 20 min``, ``12 min``: a card's room for a duration."""
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, minutes = rest // 3_600, rest % 3_600 // 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{max(minutes, 1)} min"


def attach_deadlines(rows, now: datetime) -> None:
    """``row.deadlines``: each breached or at-risk clock of each row, in lifecycle order, the
    internal target and the statutory obligation of the same step side by side.

    A statutory deadline is listed even where the firm's tighter target of the same step was
    missed first: the law's deadline is never hidden behind the promise (each is its own
    clock). One query over the clocks' complaint index for every card on the board.
    """
    by_id = {row.pk: row for row in rows}
    for row in rows:
        row.deadlines = []
    if not by_id:
        return
    clocks = (
        Clock.objects.filter(complaint_id__in=by_id)
        .filter(
            Q(state=ClockState.BREACHED, stopped_at__isnull=True)
            | Q(state=ClockState.RUNNING, warn_at__lte=now)
        )
        .exclude(due_at__isnull=True)
        .only("complaint_id", "kind", "state", "due_at", "regulatory_profile", "rule")
    )
    for clock in clocks:
        by_id[clock.complaint_id].deadlines.append(_card_deadline(clock, now))
    for row in rows:
        row.deadlines.sort(key=lambda d: (KIND_ORDER.get(d.kind, len(KIND_ORDER)), d.statutory))


def _card_deadline(clock: Clock, now: datetime) -> CardDeadline:
    kind_label = ClockKind(clock.kind).label if clock.kind in ClockKind.values else clock.kind
    source = _("statutory") if clock.statutory else _("internal")
    if clock.state == ClockState.BREACHED or clock.due_at <= now:
        status = "breached"
        when = _("overdue by %(span)s") % {"span": short_span((now - clock.due_at).total_seconds())}
    else:
        status = "at_risk"
        when = _("due in %(span)s") % {"span": short_span((clock.due_at - now).total_seconds())}
    return CardDeadline(
        kind=clock.kind,
        kind_label=str(kind_label),
        statutory=clock.statutory,
        obligation=obligation_label(clock),
        status=status,
        due_at=clock.due_at,
        text=f"{kind_label} — {source} — {when}",
    )


@dataclass(frozen=True)
class Colleague:
    pk: int
    label: str


def colleagues_by_team(team_ids) -> dict[int, list[Colleague]]:
    """Active staff of each team, by username: whom a card's complaint may be assigned to.

    One query over the team memberships (staff: ``roles.staff_members``)."""
    memberships = (
        get_user_model()
        .teams.through.objects.filter(
            team_id__in=set(team_ids) - {None}, user__in=roles.staff_members()
        )
        .select_related("user")
        .order_by("user__username")
    )
    found: dict[int, list[Colleague]] = {}
    for membership in memberships:
        user = membership.user
        full = user.get_full_name()
        label = f"{full} ({user.username})" if full else user.username
        found.setdefault(membership.team_id, []).append(Colleague(user.pk, label))
    return found


# -- the approvals queue -----------------------------------------------------------------


@dataclass(frozen=True)
class YearTotal:
    currency: str
    amount: object  # Decimal, or None for recoveries without money
    count: int


def attach_approval_context(actions: list[RecoveryAction], user, now: datetime) -> None:
    """What an approver weighs, on each action: ``cause_names`` (the complaint's root causes by
    name, the primary first), ``past_recoveries`` (the customer's other recoveries, newest
    first) and ``year_totals`` (granted to the customer this calendar year, per currency).

    Over the complaints ``user`` may see, as on the complaint page; three queries whatever
    the number of cards. The outcome is the complaint's own field (read with the action).
    """
    for action in actions:
        action.cause_names, action.past_recoveries, action.year_totals = [], [], []
    if not actions:
        return
    complaint_ids = {action.complaint_id for action in actions}
    customer_ids = {action.complaint.customer_id for action in actions}
    visible = access.complaints_visible_to(user).values("pk")

    causes: dict[int, list[str]] = {}
    for link in (
        ComplaintRootCause.objects.filter(complaint_id__in=complaint_ids)
        .select_related("root_cause")
        .order_by("-is_primary", "created_at", "id")
    ):
        causes.setdefault(link.complaint_id, []).append(link.root_cause.name)

    past: dict[int, list[RecoveryAction]] = {}
    for earlier in (
        RecoveryAction.objects.filter(
            complaint__customer_id__in=customer_ids, complaint__in=visible
        )
        .select_related("complaint")
        .annotate(
            customer_id=F("complaint__customer_id"),
            position=Window(
                RowNumber(),
                partition_by=F("complaint__customer_id"),
                order_by=[F("proposed_at").desc(), F("id").desc()],
            ),
        )
        # One more than shown: the action being decided is among them and is left out.
        .filter(position__lte=PAST_RECOVERIES_SHOWN + 1)
        .order_by("-proposed_at", "-id")
    ):
        past.setdefault(earlier.customer_id, []).append(earlier)

    start_of_year = datetime.combine(
        timezone.localdate(now).replace(month=1, day=1), time(0), timezone.get_current_timezone()
    )
    totals: dict[int, list[YearTotal]] = {}
    for row in (
        RecoveryAction.objects.filter(
            complaint__customer_id__in=customer_ids,
            complaint__in=visible,
            status__in=GRANTED_STATUSES,
            proposed_at__gte=start_of_year,
        )
        .values("complaint__customer_id", "currency")
        .annotate(total=Sum("amount"), count=Count("id"))
        .order_by("currency")
    ):
        totals.setdefault(row["complaint__customer_id"], []).append(
            YearTotal(row["currency"], row["total"], row["count"])
        )

    for action in actions:
        customer_id = action.complaint.customer_id
        action.cause_names = causes.get(action.complaint_id, [])
        action.past_recoveries = [
            earlier for earlier in past.get(customer_id, []) if earlier.pk != action.pk
        ][:PAST_RECOVERIES_SHOWN]
        action.year_totals = totals.get(customer_id, [])
