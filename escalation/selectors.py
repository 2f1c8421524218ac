"""Reads of the escalation app."""

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    Min,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat
from django.utils.translation import gettext as _

from common.json_rows import instance, json_rows
from escalation.models import Clock, ClockKind, ClockState, Escalation


def _per_complaint(aggregate) -> Subquery:
    # All of the complaint's clocks through the complaint_id index, with the state test in
    # the aggregate's FILTER: given the state in WHERE, the planner picks the partial index
    # and scans all of it once per complaint, which made a 10,000-row sweep take minutes.
    return Subquery(
        Clock.objects.filter(complaint=OuterRef("pk"))
        .order_by()
        .values("complaint")
        .annotate(value=aggregate)
        .values("value")[:1]
    )


def sla_snapshot_expressions() -> dict:
    """SQL expressions that recompute a complaint's next deadline and next escalation.

    Used in one ``UPDATE … WHERE id IN (…)`` for a whole batch of complaints. The escalation
    level is not derived from clocks: the ladder raises it and a supervisor may lower it.
    """
    return {
        "next_deadline_at": _per_complaint(Min("due_at", filter=Q(state=ClockState.RUNNING))),
        "next_statutory_deadline_at": _per_complaint(
            Min(
                "due_at",
                # Duties only: a window such as FCA summary resolution is a chance, not a
                # deadline (its clock does not escalate).
                filter=Q(state=ClockState.RUNNING, escalates=True) & ~Q(regulatory_profile=""),
            )
        ),
        "next_escalation_at": _per_complaint(
            Min(
                "next_escalation_at",
                filter=Q(state=ClockState.BREACHED, stopped_at__isnull=True),
            )
        ),
    }


def _overdue(now) -> Q:
    """An unanswered deadline that has passed: a breached clock not stopped since, or a
    running one past due that the sweeper has not reached yet."""
    return Q(state=ClockState.BREACHED, stopped_at__isnull=True) | Q(
        state=ClockState.RUNNING, due_at__lte=now
    )


# A statutory duty, not a window such as FCA summary resolution (its clock does not escalate).
_STATUTORY_DUTY = Q(escalates=True) & ~Q(regulatory_profile="")


def urgency_expressions(now) -> dict:
    """SQL expressions of a complaint's place in the queues at ``now`` (``Urgency``) and of its
    most overdue deadline, for the ``UPDATE`` of ``sla_snapshot_expressions`` (SQLite; on
    PostgreSQL ``escalation.services.snapshot`` computes the same in its grouped pass)."""
    from recovery.models import Urgency

    mine = Clock.objects.filter(complaint=OuterRef("pk"))
    overdue = _overdue(now)
    statutory_since = _per_complaint(Min("due_at", filter=overdue & _STATUTORY_DUTY))
    since = _per_complaint(Min("due_at", filter=overdue))
    kind = Subquery(
        mine.filter(overdue)
        .annotate(duty=Case(When(_STATUTORY_DUTY, then=Value(0)), default=Value(1)))
        .order_by("duty", "due_at", "id")
        .values("kind")[:1]
    )
    return {
        "urgency": Case(
            When(
                Exists(mine.filter(overdue & _STATUTORY_DUTY)),
                then=Value(Urgency.STATUTORY_BREACHED),
            ),
            When(Exists(mine.filter(overdue)), then=Value(Urgency.BREACHED)),
            When(
                Exists(mine.filter(state=ClockState.RUNNING, warn_at__lte=now)),
                then=Value(Urgency.AT_RISK),
            ),
            When(
                Exists(mine.filter(state=ClockState.RUNNING, due_at__isnull=False)),
                then=Value(Urgency.RUNNING),
            ),
            default=Value(Urgency.NO_DEADLINE),
        ),
        "overdue_since": Coalesce(statutory_since, since),
        "overdue_kind": Coalesce(kind, Value("")),
    }


# Compliance figures keep "met the law" apart from "met our promise": a statutory clock is
# counted under its kind with this suffix ("resolve (statutory)").
STATUTORY_SUFFIX = " (statutory)"
STATUTORY_CLOCK_SQL = (
    f"k.kind || CASE WHEN k.regulatory_profile <> '' THEN '{STATUTORY_SUFFIX}' ELSE '' END"
)


def compliance_clock_label(clock: str) -> str:
    """The name of the clock a compliance row is counted under ("Resolve (statutory)"), for
    people: the code stays in the figures and their CSV."""
    kind = clock.removesuffix(STATUTORY_SUFFIX)
    label = str(ClockKind(kind).label) if kind in ClockKind.values else kind
    if clock.endswith(STATUTORY_SUFFIX):
        return _("%(deadline)s (statutory)") % {"deadline": label}
    return label


def compliance_clock() -> Concat:
    """The clock a compliance row is counted under, as the ORM writes it."""
    return Concat(
        "kind",
        Case(
            When(~Q(regulatory_profile=""), then=Value(STATUTORY_SUFFIX)),
            default=Value(""),
        ),
        output_field=CharField(),
    )


GROUPINGS = {
    "none": [],
    "team": ["complaint__team__slug"],
    "agent": ["complaint__assignee__username"],
}


def sla_compliance(*, start, end, group_by: str = "none") -> list[dict]:
    """Met and breached clocks started in ``[start, end)``, per clock kind (and group), each
    statutory profile's obligations apart from the internal targets.

    One aggregate query; a clock counts once, by its final state so far.
    """
    rows = (
        Clock.objects.filter(started_at__gte=start, started_at__lt=end)
        # A cancelled clock (withdrawn complaint) was neither met nor breached.
        .exclude(state=ClockState.CANCELLED)
        .annotate(obligation=compliance_clock())
        .values("obligation", "regulatory_profile", *GROUPINGS[group_by])
        .annotate(
            met=Count("id", filter=Q(state=ClockState.MET)),
            breached=Count("id", filter=Q(state=ClockState.BREACHED)),
            running=Count("id", filter=Q(state__in=[ClockState.RUNNING, ClockState.PAUSED])),
        )
        .order_by("obligation", "regulatory_profile", *GROUPINGS[group_by])
    )
    result = []
    for row in rows:
        decided = row["met"] + row["breached"]
        result.append(
            {
                "clock": row["obligation"],
                "statutory": bool(row["regulatory_profile"]),
                "regulatory_profile": row["regulatory_profile"],
                "group": row[GROUPINGS[group_by][0]] if GROUPINGS[group_by] else None,
                "met": row["met"],
                "breached": row["breached"],
                "running": row["running"],
                "met_percent": round(100 * row["met"] / decided, 1) if decided else None,
                "breached_percent": round(100 * row["breached"] / decided, 1) if decided else None,
            }
        )
    return result


def clock_compliance(*, complaints: Q, group: str | None = None) -> list[dict]:
    """Met and breached clocks of the complaints ``complaints`` selects, per clock kind.

    ``complaints`` is a filter written from the clock (``complaint__received_at__gte=…``);
    ``group`` an optional complaint field reached the same way (``complaint__team__slug``).
    One aggregate query; a clock counts once, by its state now (a reopened complaint's
    resolve clock by its latest cycle), and cancelled clocks (withdrawn complaints) not at all.
    """
    group_fields = {"group": F(group)} if group else {}
    rows = (
        Clock.objects.filter(complaints)
        .exclude(state=ClockState.CANCELLED)
        .annotate(obligation=compliance_clock())
        .values("obligation", **group_fields)
        .annotate(
            met=Count("id", filter=Q(state=ClockState.MET)),
            breached=Count("id", filter=Q(state=ClockState.BREACHED)),
        )
        .order_by()
    )
    return [
        {
            "clock": row["obligation"],
            "group": row.get("group"),
            "met": row["met"],
            "breached": row["breached"],
        }
        for row in rows
    ]


# The attribute of a complaint read with ``escalations_annotation``.
ESCALATION_ROWS = "escalation_rows"


def escalations_annotation() -> dict:
    """For a complaint read's ``annotate()`` on PostgreSQL: its escalations, oldest first,
    with what the API shows of them (``escalation.serializers.EscalationSerializer``), as
    one JSON array in the complaint's row. Empty elsewhere."""
    if connection.vendor != "postgresql":
        return {}
    fields = ("id", "complaint_id", "clock_id", "clock_cycle", "level", "previous_level")
    fields += ("target", "owner_id", "actor_id", "manual", "reason", "created_at")
    return {
        ESCALATION_ROWS: json_rows(
            Escalation.objects.filter(complaint=OuterRef("pk")).order_by("created_at", "id"),
            **{name: name for name in fields},
            owner_username="owner__username",
            actor_username="actor__username",
            clock_kind="clock__kind",
        )
    }


def escalations_brought(complaint) -> list[Escalation] | None:
    """The escalations ``escalations_annotation`` brought with ``complaint``, as instances
    holding what the API shows (their owner, actor and clock too); None if it brought none."""
    rows = getattr(complaint, ESCALATION_ROWS, None)
    if rows is None:
        return None
    user_model = get_user_model()

    def user(user_id, username):
        return instance(user_model, {"id": user_id, "username": username}) if user_id else None

    escalations = []
    for row in rows:
        escalation = instance(Escalation, row)
        escalation.complaint = complaint
        escalation.owner = user(row["owner_id"], row["owner_username"])
        escalation.actor = user(row["actor_id"], row["actor_username"])
        escalation.clock = (
            instance(Clock, {"id": row["clock_id"], "kind": row["clock_kind"]})
            if row["clock_id"]
            else None
        )
        escalations.append(escalation)
    return escalations
