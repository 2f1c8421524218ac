"""The complaint's side of SLA handling: the read-side clock summary, assignment, and
awaiting the customer. Called by the escalation app and by views."""

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from recovery import events, rules
from recovery.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from recovery.models import Complaint


def complaints_refresh_sla(complaint_ids) -> None:
    """Recompute next deadline and next escalation of these complaints from their clocks.

    On PostgreSQL one grouped pass over the batch's clocks joined to the complaints (the
    per-complaint correlated subqueries cost a quarter of a sweep); elsewhere the same values
    through Django subqueries.
    """
    from escalation.models import Clock, ClockState
    from escalation.selectors import sla_snapshot_expressions

    ids = list(complaint_ids)
    if not ids:
        return
    if connection.vendor != "postgresql":
        Complaint.objects.filter(pk__in=ids).update(**sla_snapshot_expressions())
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(Complaint._meta.db_table)} AS c "  # noqa: S608
            "SET next_deadline_at = x.next_deadline_at, next_escalation_at = x.next_escalation_at "
            "FROM (SELECT ids.id, "
            "  MIN(k.due_at) FILTER (WHERE k.state = %s) AS next_deadline_at, "
            "  MIN(k.next_escalation_at) FILTER (WHERE k.state = %s AND k.stopped_at IS NULL) "
            "    AS next_escalation_at "
            "  FROM unnest(%s::bigint[]) AS ids(id) "
            f"  LEFT JOIN {quote(Clock._meta.db_table)} AS k ON k.complaint_id = ids.id "
            "  GROUP BY ids.id) AS x "
            "WHERE c.id = x.id",
            [ClockState.RUNNING, ClockState.BREACHED, ids],
        )


def complaints_raise_escalation_level(levels: dict[int, int]) -> None:
    """The ladder moved these complaints up: ``{complaint id: level reached}``.

    Only ever raises, so a complaint already escalated higher by hand keeps its level. On
    PostgreSQL one ``UPDATE … FROM unnest(ids, levels)`` for the whole batch (a CASE with a
    branch per complaint took half a second per 500); elsewhere one UPDATE per complaint.
    """
    if not levels:
        return
    if connection.vendor != "postgresql":
        for complaint_id, level in levels.items():
            Complaint.objects.filter(pk=complaint_id, escalation_level__lt=level).update(
                escalation_level=level
            )
        return
    table = connection.ops.quote_name(Complaint._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS c SET escalation_level = v.level "  # noqa: S608
            "FROM unnest(%s::bigint[], %s::integer[]) AS v(id, level) "
            "WHERE c.id = v.id AND c.escalation_level < v.level",
            [list(levels), list(levels.values())],
        )


def complaint_set_escalation_level(complaint: Complaint, level: int) -> None:
    Complaint.objects.filter(pk=complaint.pk).update(escalation_level=level)
    complaint.escalation_level = level


def complaint_assign(*, complaint: Complaint, assignee, actor=None, reason: str = "") -> Complaint:
    """Give the complaint to ``assignee``; ``actor=None`` is the system (the ladder)."""
    if actor is not None and not (
        actor.has_perm("recovery.assign_complaint")
        or (assignee is not None and assignee.pk == actor.pk and rules.works_on(complaint, actor))
    ):
        raise PermissionDenied(f"You may not reassign {complaint.reference}.")
    if assignee is not None and not get_user_model().objects.filter(pk=assignee.pk).exists():
        raise ValidationFailed("No such user.", details={"assignee": ["Unknown user."]})
    with transaction.atomic():
        previous = complaint.assignee_id
        Complaint.objects.filter(pk=complaint.pk).update(assignee=assignee)
        complaint.assignee = assignee
        events.complaint_assigned(complaint, actor, previous, reason)
    return complaint


def complaint_set_awaiting_customer(
    *, complaint: Complaint, actor, awaiting: bool, reason: str = ""
) -> Complaint:
    """Put an open complaint on hold for the customer's answer, or take it off hold.

    Pausable clocks pause and resume in the same transaction.
    """
    from escalation.services import clocks

    if actor is not None and not rules.works_on(complaint, actor):
        raise PermissionDenied(f"You may not change {complaint.reference}.")
    with transaction.atomic():
        locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
        if not locked.is_open:
            raise TransitionNotAllowed(
                f"{locked.reference} is {locked.state}; only open complaints wait for customers.",
                details={"state": locked.state},
            )
        if locked.awaiting_customer == awaiting:
            return locked
        locked.awaiting_customer = awaiting
        locked.save(update_fields=["awaiting_customer", "updated_at"])
        # Callers go on using their own instance in the same transaction (a customer's reply
        # then starts the respond clock, which must not see a stale "awaiting" and pause).
        complaint.awaiting_customer = awaiting
        if awaiting:
            clocks.pause(locked)
            events.awaiting_customer(locked, actor, reason)
        else:
            clocks.resume(locked)
            events.awaiting_ended(locked, actor, reason or "agent")
        complaints_refresh_sla([locked.pk])
    return locked
