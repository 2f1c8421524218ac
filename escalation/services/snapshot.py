"""The complaint's copy of what its clocks say: next deadline, next statutory deadline, next
escalation and escalation level, kept on the complaint row so that queues sort and filter
without reading the clocks. Written by the clocks service, the ladder and the sweeper."""

from django.db import connection

from escalation.models import Clock, ClockState
from escalation.selectors import sla_snapshot_expressions
from recovery.models import Complaint

# What ``complaints_refresh_sla`` writes on the complaint: its SLA snapshot.
SLA_SNAPSHOT_FIELDS = (
    "next_deadline_at",
    "next_statutory_deadline_at",
    "next_escalation_at",
    "escalation_level",
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
    if connection.vendor != "postgresql":
        Complaint.objects.filter(pk__in=ids).update(**sla_snapshot_expressions())
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
            "    escalation_level = GREATEST(c.escalation_level, x.level) "
            "FROM (SELECT ids.id, ids.level, "
            "  MIN(k.due_at) FILTER (WHERE k.state = %s) AS next_deadline_at, "
            "  MIN(k.due_at) FILTER (WHERE k.state = %s AND k.regulatory_profile <> '' "
            "    AND k.escalates) "
            "    AS next_statutory_deadline_at, "
            "  MIN(k.next_escalation_at) FILTER (WHERE k.state = %s AND k.stopped_at IS NULL) "
            "    AS next_escalation_at "
            "  FROM unnest(%s::bigint[], %s::integer[]) AS ids(id, level) "
            f"  LEFT JOIN {quote(Clock._meta.db_table)} AS k ON k.complaint_id = ids.id "
            "  GROUP BY ids.id, ids.level) AS x "
            "WHERE c.id = x.id"
            + (
                f" RETURNING c.id, {', '.join(f'c.{name}' for name in SLA_SNAPSHOT_FIELDS)}"
                if returning
                else ""
            ),
            [
                ClockState.RUNNING,
                ClockState.RUNNING,
                ClockState.BREACHED,
                ids,
                [raise_levels.get(complaint_id, 0) for complaint_id in ids],
            ],
        )
        return {row[0]: row[1:] for row in cursor.fetchall()} if returning else {}


def complaint_set_escalation_level(complaint: Complaint, level: int) -> None:
    Complaint.objects.filter(pk=complaint.pk).update(escalation_level=level)
    complaint.escalation_level = level
