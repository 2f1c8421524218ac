"""The queue's bulk action bar: what it offers, and the form its selection posts
(``desk.bulk``)."""

import re

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from recovery import roles
from recovery.models import Team
from recovery.services import macros as macro_services

# A spike of one complaint fills a few queue pages; a selection beyond this is a mistake
# (or a script), and each complaint is a transaction of its own: 200 take a few seconds.
BULK_LIMIT = 200
# A reference as intake writes them (RDR-2026-000123), with room for imported ones.
REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,39}$")

ACTIONS = {
    "assign": gettext_lazy("Assign"),
    "move": gettext_lazy("Move to another team"),
    "escalate": gettext_lazy("Escalate one level"),
    "hold": gettext_lazy("Put on hold, awaiting the customer"),
    "macro": gettext_lazy("Send a macro"),
}
# What each action needs the user may do at all, before any complaint is read.
ACTION_PERMISSIONS = {
    "assign": "recovery.assign_complaint",
    "move": "recovery.assign_complaint",
    "escalate": "recovery.escalate_complaint",
}
# What the refusal of each of those says: a sentence of its own, not the action's label
# fitted into one ("You may not move to another team complaints").
ACTION_REFUSALS = {
    "assign": gettext_lazy("You may not assign complaints."),
    "move": gettext_lazy("You may not move complaints to another team."),
    "escalate": gettext_lazy("You may not escalate complaints."),
}


class BulkForm(forms.Form):
    action = forms.ChoiceField(
        label=gettext_lazy("Action"),
        choices=list(ACTIONS.items()),
        error_messages={"required": gettext_lazy("Choose what to do with the selection.")},
    )
    assignee = forms.CharField(label=gettext_lazy("Assign to"), required=False, max_length=150)
    team = forms.ModelChoiceField(
        label=gettext_lazy("Move to team"),
        queryset=Team.objects.order_by("name"),
        required=False,
        error_messages={"invalid_choice": gettext_lazy("That team does not exist.")},
    )
    macro = forms.IntegerField(label=gettext_lazy("Macro"), required=False, min_value=1)
    reason = forms.CharField(label=gettext_lazy("Reason"), required=False, max_length=500)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_assignee(self):
        name = (self.cleaned_data.get("assignee") or "").strip()
        if not name:
            return None
        if name == "me":
            return self.user
        found = roles.staff_members().filter(**{get_user_model().USERNAME_FIELD: name}).first()
        if found is None:
            raise forms.ValidationError(
                _("Nobody on the staff is called %(name)s: give a username.") % {"name": name}
            )
        return found

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "assign" and data.get("assignee") is None and "assignee" not in self.errors:
            self.add_error("assignee", _("Say whom to assign them to (a username, or me)."))
        if action == "move" and data.get("team") is None and "team" not in self.errors:
            self.add_error("team", _("Choose the team to move them to."))
        if action == "escalate" and not (data.get("reason") or "").strip():
            self.add_error("reason", _("Give the reason for escalating."))
        if action == "macro" and data.get("macro") is None and "macro" not in self.errors:
            self.add_error("macro", _("Choose the macro to send."))
        return data


def selected_references(post) -> tuple[list[str], str]:
    """The references ticked, in their order, each once; or the problem with them."""
    seen: list[str] = []
    for value in post.getlist("complaints"):
        reference = value.strip()
        if not REFERENCE.match(reference):
            return [], _("%(value)r is not a complaint reference.") % {"value": value[:50]}
        if reference not in seen:
            seen.append(reference)
    if not seen:
        return [], _("Select at least one complaint: tick its box in the queue.")
    if len(seen) > BULK_LIMIT:
        return [], _(
            "At most %(limit)s complaints at once: you selected %(count)s. Filter the queue "
            "or select fewer, and do the rest in another go."
        ) % {"limit": BULK_LIMIT, "count": len(seen)}
    return seen, ""


def bar_context(request, choices: dict, rows) -> dict:
    """What the queue's bulk action bar offers this user for the page's ``rows``; no query:
    the macros come with the filters' configuration (``choices``, from
    ``selectors.queue_filter_choices``).

    A macro is offered when the user may use it on one of the rows at least, by the rule
    of the complaint page's list (``macros.shared_with``): another team's macro is not, nor
    another person's."""
    user = request.user
    teams = {row.team_id for row in rows}
    macros = [
        (pk, name)
        for pk, name, owner, macro_team, visibility in choices["macro"]
        if any(
            macro_services.shared_with(
                visibility=visibility,
                macro_team_id=macro_team,
                owner_id=owner,
                user=user,
                team_id=team,
            )
            for team in teams
        )
    ]
    actions = [
        (value, label)
        for value, label in ACTIONS.items()
        if ACTION_PERMISSIONS.get(value) is None or user.has_perm(ACTION_PERMISSIONS[value])
    ]
    if not macros:
        actions = [(value, label) for value, label in actions if value != "macro"]
    return {
        "bulk_actions": actions,
        "bulk_teams": choices["team"],
        "bulk_macros": macros,
        "bulk_limit": BULK_LIMIT,
        "bulk_back": request.get_full_path(),
    }
