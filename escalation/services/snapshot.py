"""The complaint's copy of what its clocks say: next deadline, next statutory deadline, next
escalation and escalation level, and its urgency in the queues with its most overdue
deadline, kept on the complaint row so that queues sort and filter without reading the
clocks. Written by the clocks service, the ladder and the sweeper.

Urgency depends on the time as well as on the clocks: it is computed at each write, and the
sweeper writes it again when a clock reaches its warning time or its deadline (it warns or
breaches the clock and refreshes its complaint), so a queue is at most a sweep behind.
"""

from django.db import connection
from django.utils import timezone

from escalation.models import Clock, ClockState
from escalation.selectors import sla_snapshot_expressions, urgency_expressions
from recovery.models import Complaint, Urgency

# What ``complaints_refresh_sla`` writes on the complaint: its SLA snapshot.
SLA_SNAPSHOT_FIELDS = (
    "next_deadline_at",
    "next_statutory_deadline_at",
    "next_escalation_at",
    "escalation_level",
    "urgency",
    "overdue_since",
    "overdue_kind",
)

# A statutory duty (not a window such as FCA summary resolution, whose clock does not
# escalate), and an unanswered deadline that has passed: breached and not stopped since, or
# running past due and not swept yet. As ``escalation.selectors.urgency_expressions`` says.
_DUTY = "(k.regulatory_profile <> '' AND k.escalates)"
_OVERDUE = (
    "((k.state = %(breached)s AND k.stopped_at IS NULL) "
    "OR (k.state = %(running)s AND k.due_at <= %(now)s))"
)


def complaint_refresh_sla(complaint: Complaint) -> None:
    """``complaints_refresh_sla`` for one complaint, whose instance then holds the new
    snapshot: on PostgreSQL the UPDATE returns it, so an answer built from the instance
    needs no read of the row again."""
    snapshot = complaints_refresh_sla([complaint.pk], returning=True)
    if complaint.pk in snapshot:
        for name, value in zip(SLA_SNAPSHOT_FIELDS, snapshot[complaint.pk], strict=True):
            setattr(complaint, name, value)
    else:
        # Read as values, not ``refresh_from_db`` (see ``Complaint.refresh_from_db``).
        fresh = Complaint.objects.filter(pk=complaint.pk).values(*SLA_SNAPSHOT_FIELDS).get()
        for name, value in fresh.items():
            setattr(complaint, name, value)


def complaints_refresh_sla(
    complaint_ids, *, raise_levels: dict[int, int] | None = None, returning: bool = False
) -> dict[int, tuple]:
    """Recompute next deadline and next escalation of these complaints from their clocks,
    and raise their escalation level to ``raise_levels[id]`` where the ladder climbed.

    A level is only ever raised here, so one a supervisor set higher by hand stays. On
    PostgreSQL this is one UPDATE for the batch, a grouped pass over its clocks joined to
    ``unnest(ids, levels)``: per-complaint correlated subqueries, and a CASE with a branch
    per complaint for the levels, had cost half the sweep. Elsewhere: Django subqueries.

    ``returning``: on PostgreSQL, return each complaint's new snapshot,
    ``{id: values of SLA_SNAPSHOT_FIELDS}``; ``{}`` elsewhere and by default.
    """
    raise_levels = raise_levels or {}
    ids = list(set(complaint_ids) | set(raise_levels))
    if not ids:
        return {}
    now = timezone.now()
    if connection.vendor != "postgresql":
        Complaint.objects.filter(pk__in=ids).update(
            **sla_snapshot_expressions(), **urgency_expressions(now)
        )
        # One UPDATE per level, not per complaint: a ladder has a handful of levels, while a
        # sweep batch raises hundreds of complaints (one UPDATE each was 600 of the 685
        # statements of a 1,007-clock sweep on SQLite).
        by_level: dict[int, list[int]] = {}
        for complaint_id, level in raise_levels.items():
            by_level.setdefault(level, []).append(complaint_id)
        for level, complaint_ids in sorted(by_level.items()):
            Complaint.objects.filter(pk__in=complaint_ids, escalation_level__lt=level).update(
                escalation_level=level
            )
        return {}
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(Complaint._meta.db_table)} AS c "  # noqa: S608
            "SET next_deadline_at = x.next_deadline_at, "
            "    next_statutory_deadline_at = x.next_statutory_deadline_at, "
            "    next_escalation_at = x.next_escalation_at, "
            "    escalation_level = GREATEST(c.escalation_level, x.level), "
            "    urgency = CASE WHEN x.statutory_overdue_since IS NOT NULL THEN %(u0)s "
            "      WHEN x.overdue_since IS NOT NULL THEN %(u1)s WHEN x.at_risk THEN %(u2)s "
            "      WHEN x.next_deadline_at IS NOT NULL THEN %(u3)s ELSE %(u4)s END, "
            "    overdue_since = COALESCE(x.statutory_overdue_since, x.overdue_since), "
            "    overdue_kind = COALESCE(x.overdue_kind, '') "
            "FROM (SELECT ids.id, ids.level, "
            "  MIN(k.due_at) FILTER (WHERE k.state = %(running)s) AS next_deadline_at, "
            f"  MIN(k.due_at) FILTER (WHERE k.state = %(running)s AND {_DUTY}) "
            "    AS next_statutory_deadline_at, "
            "  MIN(k.next_escalation_at) "
            "    FILTER (WHERE k.state = %(breached)s AND k.stopped_at IS NULL) "
            "    AS next_escalation_at, "
            f"  MIN(k.due_at) FILTER (WHERE {_OVERDUE} AND {_DUTY}) AS statutory_overdue_since, "
            f"  MIN(k.due_at) FILTER (WHERE {_OVERDUE}) AS overdue_since, "
            f"  (array_agg(k.kind ORDER BY {_DUTY} DESC, k.due_at, k.id) "
            f"    FILTER (WHERE {_OVERDUE}))[1] AS overdue_kind, "
            "  COALESCE(bool_or(k.state = %(running)s AND k.warn_at <= %(now)s), false) "
            "    AS at_risk "
            "  FROM unnest(%(ids)s::bigint[], %(levels)s::integer[]) AS ids(id, level) "
            f"  LEFT JOIN {quote(Clock._meta.db_table)} AS k ON k.complaint_id = ids.id "
            "  GROUP BY ids.id, ids.level) AS x "
            "WHERE c.id = x.id"
            + (
                f" RETURNING c.id, {', '.join(f'c.{name}' for name in SLA_SNAPSHOT_FIELDS)}"
                if returning
                else ""
            ),
            {
                "running": ClockState.RUNNING,
                "breached": ClockState.BREACHED,
                "now": now,
                "ids": ids,
                "levels": [raise_levels.get(complaint_id, 0) for complaint_id in ids],
                **{f"u{int(urgency)}": int(urgency) for urgency in Urgency},
            },
        )
        return {row[0]: row[1:] for row in cursor.fetchall()} if returning else {}


def snapshot_of_new_clocks(clocks, now) -> dict:
    """What ``complaints_refresh_sla`` would write at ``now`` on a complaint whose clocks are
    ``clocks``, all just started and running, in the order they are inserted: a new
    complaint's snapshot, written with its row rather than by an UPDATE after it. The
    escalation level, which no running clock raises, is left as it is."""
    running = [clock for clock in clocks if clock.state == ClockState.RUNNING]
    if len(running) != len(clocks):
        raise ValueError("Only clocks just started have their snapshot worked out here.")

    def duty(clock) -> bool:
        return clock.regulatory_profile != "" and clock.escalates

    def earliest(chosen):
        return min((clock.due_at for clock in chosen if clock.due_at is not None), default=None)

    overdue = [clock for clock in running if clock.due_at is not None and clock.due_at <= now]
    statutory_overdue = [clock for clock in overdue if duty(clock)]
    if statutory_overdue:
        urgency = Urgency.STATUTORY_BREACHED
    elif overdue:
        urgency = Urgency.BREACHED
    elif any(clock.warn_at is not None and clock.warn_at <= now for clock in running):
        urgency = Urgency.AT_RISK
    elif earliest(running) is not None:
        urgency = Urgency.RUNNING
    else:
        urgency = Urgency.NO_DEADLINE
    # The first overdue clock by duty, due time and id (the order of insertion).
    first_overdue = sorted(overdue, key=lambda clock: (not duty(clock), clock.due_at))
    return {
        "next_deadline_at": earliest(running),
        "next_statutory_deadline_at": earliest([clock for clock in running if duty(clock)]),
        "next_escalation_at": None,
        "urgency": int(urgency),
        "overdue_since": earliest(statutory_overdue) or earliest(overdue),
        "overdue_kind": first_overdue[0].kind if first_overdue else "",
    }


def complaint_set_escalation_level(complaint: Complaint, level: int) -> None:
    Complaint.objects.filter(pk=complaint.pk).update(escalation_level=level)
    complaint.escalation_level = level
