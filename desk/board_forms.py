"""Forms of the board's cards: take, assign to a colleague, move team, escalate.

Each card posts one of them to its own URL; the services check again (they are the rule),
these say what is wrong with what was sent, by field.
"""

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from desk.forms import staff_label
from recovery import roles
from recovery.models import Team
from recovery.services.sla import ANY_ASSIGNEE


class TakeForm(forms.Form):
    # The assignee the card showed (empty: nobody): if it changed meanwhile, taking the
    # complaint is refused with who has it now, rather than taken from them unseen.
    seen_assignee = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def seen_assignee_id(self):
        """The assignee the card showed; ``ANY_ASSIGNEE`` when the post did not say."""
        if "seen_assignee" not in self.data:
            return ANY_ASSIGNEE
        return self.cleaned_data["seen_assignee"]


class CardForm(forms.Form):
    # The newest timeline event the board was read after (empty: not said): if someone
    # handed out, moved, escalated or closed the complaint since, the action is refused
    # with what they did (``recovery.services.seen_changes``), not done over theirs.
    seen_event = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)


class CardAssignForm(CardForm):
    """Assign to a member of the complaint's own team."""

    assignee = forms.ModelChoiceField(
        label=_("Assign to"), queryset=get_user_model().objects.none()
    )
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)

    def __init__(self, *args, team: Team | None, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        field.queryset = (
            roles.staff_members().filter(teams=team).order_by("username")
            if team is not None
            else roles.staff_members().none()
        )
        field.label_from_instance = staff_label
        field.error_messages["required"] = _("Choose whom to assign it to.")
        field.error_messages["invalid_choice"] = (
            _("Choose a member of the %(team)s team.") % {"team": team.name}
            if team is not None
            else _("This complaint has no team yet: move it to a team first.")
        )


class MoveTeamForm(CardForm):
    team = forms.ModelChoiceField(
        label=_("Move to team"),
        queryset=Team.objects.order_by("name"),
        to_field_name="slug",
        error_messages={
            "required": _("Choose the team to move it to."),
            "invalid_choice": _("Choose a team from the list."),
        },
    )
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)


class CardEscalateForm(CardForm):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=5_000,
        error_messages={"required": _("Give a reason for the escalation.")},
    )
