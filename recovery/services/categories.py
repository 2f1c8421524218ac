"""Reclassifying a complaint: moving it to another category, by staff or with a macro.

The category selects the SLA policy, so a move re-plans the complaint's internal deadlines
under the new category's policy. Its statutory deadlines come from the law and its
regulatory profile, never from how we file it: they stay exactly as they were. The team
does not move with the category: routing placed the complaint once, and moving it between
teams is the board's own action.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from recovery import events, rules
from recovery.models import Category, Complaint, State

# As a hold's reason on the complaint's page: a sentence, not a letter.
REASON_MAX = 500
# A closed or withdrawn complaint is the record of what it was: reports count it as filed.
FIXED_STATES = (State.LOOP_CLOSED, State.WITHDRAWN)


def _category(category) -> Category:
    """The active category ``category`` names (a ``Category``, its id or its slug), else a
    400 naming what was given."""
    named = getattr(category, "pk", category)
    found = None
    if isinstance(named, int) and not isinstance(named, bool):
        found = Category.objects.filter(pk=named, is_active=True).first()
    elif isinstance(named, str) and named:
        found = Category.objects.filter(slug=named, is_active=True).first()
    if found is None:
        raise ValidationFailed(
            _("No category in use is %(named)r.") % {"named": named},
            details={"category": [_("Choose a category from the list.")]},
        )
    return found


def ensure_may_recategorise(complaint: Complaint, actor, *, by_macro: bool = False) -> None:
    """A 403 for whoever may not move ``complaint`` (``rules.may_recategorise``): asked by
    interfaces before they read the request's fields, and by the service."""
    if not rules.may_recategorise(complaint, actor, by_macro=by_macro):
        raise PermissionDenied(
            _("You may not change the category of %(reference)s.")
            % {"reference": complaint.reference}
        )


def complaint_recategorise(
    *, complaint: Complaint, actor, category, reason: str = "", macro=None
) -> Complaint:
    """Move ``complaint`` to ``category`` (a ``Category``, its id or its slug); ``macro``: the macro that names the category,
    when one is being used (``rules.may_recategorise``). Returns the complaint as saved.

    1. the actor may recategorise it; the category is one in use; the reason is short;
    2. one transaction: lock the complaint's row, so that two moves at once are applied in
       turn and each records the category the other left; refuse a closed or withdrawn
       complaint (409) and a move to the category it is in already (400);
    3. save the category; re-plan the open internal clocks from their own starts under the
       policy the complaint now matches (``clocks.replan_internal``), statutory ones not at
       all; refresh the deadline copy on the row;
    4. write the ``category_changed`` event and its outbox row: the assignee and team hear
       of it after commit.
    """
    from escalation.services import clocks, snapshot

    ensure_may_recategorise(complaint, actor, by_macro=macro is not None)
    reason = " ".join((reason or "").split())
    if len(reason) > REASON_MAX:
        raise ValidationFailed(
            _("The reason is longer than %(max)s characters.") % {"max": REASON_MAX},
            details={"reason": [_("Shorten it.")]},
        )
    chosen = _category(category)
    with transaction.atomic():
        # No select_related: waiting on the lock, PostgreSQL re-reads the complaint's row but
        # not a joined one, so a joined category would be the one from before the wait.
        locked = Complaint.objects.select_for_update(of=("self",)).get(pk=complaint.pk)
        if locked.state in FIXED_STATES:
            raise TransitionNotAllowed(
                _("%(reference)s is %(state)s; its category can no longer change.")
                % {"reference": locked.reference, "state": str(locked.get_state_display()).lower()},
                details={"state": locked.state},
            )
        if locked.category_id == chosen.pk:
            raise ValidationFailed(
                _("%(reference)s is already in %(category)s.")
                % {"reference": locked.reference, "category": chosen.name},
                details={"category": [_("Choose another category.")]},
            )
        before = locked.category
        locked.category = chosen
        locked.save(update_fields=["category", "updated_at"])
        moved = clocks.replan_internal(locked, timezone.now())
        snapshot.complaint_refresh_sla(locked)
        events.category_changed(locked, actor, before, chosen, reason, moved, macro=macro)
    return locked
