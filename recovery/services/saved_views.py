"""Saved views of the desk's queue: save one (personal or shared with a team), delete one.

The desk checks the view's filters with the queue's own form before it calls these; here
are the rules across rows: a name once per person, a bounded number of views per person
(their counts are worked out for the menu on every desk page), and sharing with a team
only for that team's supervisors (``recovery.rules.may_share_view``).
"""

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from common.errors import NotFound, PermissionDenied, ValidationFailed
from recovery import access, rules
from recovery.models import QueueColumn, QueueScope, SavedView, Team

# Views one person may own. Each view in someone's menu is counted (up to the queue's cap)
# when the menu's counts are refreshed; 25 is more than a menu can show usefully.
MAX_VIEWS_PER_OWNER = 25
# The queue's GET parameters a view may keep: its filters, its search and its sort. The
# page number is not a view's: a view opens on its first page.
VIEW_PARAMETERS = (
    "q",
    "state",
    "risk",
    "team",
    "assignee",
    "category",
    "root_cause",
    "channel",
    "severity",
    "profile",
    "sort",
)
# The longest value the queue's form accepts (the search box, 200 characters; a username
# 150): a longer one did not come through that form.
PARAMETER_MAX_CHARS = 200


def saved_view_create(
    *,
    owner,
    name: str,
    scope: str,
    parameters: dict[str, str],
    columns: list[str],
    team_id: int | None = None,
) -> SavedView:
    """Save a view of the queue for ``owner``; shared with ``team_id``'s members if given.

    1. Check the name, the queue, the parameters' names and the columns (``ValidationFailed``
       naming the field), and the right to share (``PermissionDenied``).
    2. In one transaction, lock the owner's row, so that two saves at once cannot both pass
       the checks of 3: they run one after the other.
    3. Refuse a name the owner already uses, or a view beyond ``MAX_VIEWS_PER_OWNER``.
    4. Write the view. The unique constraint on (owner, name) stays the last word.
    """
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed("Give the view a name.", details={"name": ["Required."]})
    if len(name) > SavedView._meta.get_field("name").max_length:
        raise ValidationFailed(
            "A view's name has at most 80 characters.", details={"name": ["Too long."]}
        )
    if scope not in QueueScope.values:
        raise ValidationFailed(
            f"There is no queue called “{scope}”.", details={"scope": ["Unknown queue."]}
        )
    unknown = sorted(set(parameters) - set(VIEW_PARAMETERS))
    if unknown:
        raise ValidationFailed(
            f"A view keeps the queue's filters, search and sort only, not {', '.join(unknown)}.",
            details={"parameters": unknown},
        )
    if any(
        not isinstance(value, str) or len(value) > PARAMETER_MAX_CHARS
        for value in parameters.values()
    ):
        raise ValidationFailed(
            "A filter's value is text of at most 200 characters.",
            details={"parameters": ["Too long."]},
        )
    wanted = set(columns)
    if not wanted <= set(QueueColumn.values):
        raise ValidationFailed(
            "Choose the columns among those the queue has.",
            details={"columns": sorted(wanted - set(QueueColumn.values))},
        )
    # The queue's own order, whatever order they were ticked in; none ticked means all.
    chosen = [column for column in QueueColumn.values if column in wanted]
    team = None
    if team_id is not None:
        team = Team.objects.filter(pk=team_id).first()
        if team is None:
            raise ValidationFailed(
                f"There is no team with the id “{team_id}”.", details={"share_with": ["Unknown."]}
            )
        if not rules.may_share_view(owner, team.pk):
            raise PermissionDenied(
                f"Only a supervisor of the {team.name} team may share a view with it; "
                "save it as your own view instead.",
                details={"share_with": [team.name]},
            )
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        owned = SavedView.objects.filter(owner=owner)
        if owned.filter(name=name).exists():
            raise _name_taken(name)
        if owned.count() >= MAX_VIEWS_PER_OWNER:
            raise ValidationFailed(
                f"You have {MAX_VIEWS_PER_OWNER} saved views, the most one person may keep: "
                "delete one you no longer use first.",
                details={"name": ["Too many views."]},
            )
        try:
            with transaction.atomic():
                return SavedView.objects.create(
                    owner=owner,
                    team=team,
                    name=name,
                    scope=scope,
                    parameters=dict(parameters),
                    columns=chosen,
                )
        except IntegrityError as error:
            raise _name_taken(name) from error


def saved_view_to_delete(*, view_id: int, actor) -> SavedView:
    """The view ``actor`` is about to be asked to delete, refused as ``saved_view_delete``
    would refuse it: the question is not put to someone whose answer would be refused."""
    return _deletable(access.saved_views_visible_to(actor), view_id=view_id, actor=actor)


def saved_view_delete(*, view_id: int, actor) -> SavedView:
    """Delete a saved view: its owner may, and for a shared view anyone who may share with
    its team. A view ``actor`` cannot see is ``NotFound``, as if it did not exist."""
    with transaction.atomic():
        visible = access.saved_views_visible_to(actor).select_for_update()
        view = _deletable(visible, view_id=view_id, actor=actor)
        view.delete()
    return view


def _deletable(visible, *, view_id: int, actor) -> SavedView:
    view = visible.filter(pk=view_id).first()
    if view is None:
        raise NotFound("There is no such saved view among yours and your teams'.")
    if view.owner_id != actor.pk and not (
        view.team_id is not None and rules.may_share_view(actor, view.team_id)
    ):
        raise PermissionDenied(
            "Only the person who saved this view, or a supervisor of its team, may delete it."
        )
    return view


def _name_taken(name: str) -> ValidationFailed:
    return ValidationFailed(
        f"You already have a view called “{name}”: choose another name.",
        details={"name": ["Already used."]},
    )
