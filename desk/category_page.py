"""The complaint page's category form: staff who may correct a complaint's details move it
to another category (``desk.recategorise`` takes the post)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from desk.forms import OneTimeSubmission
from recovery import rules
from recovery import selectors as recovery_selectors
from recovery.services import categories


def _in_use() -> list:
    return [("", _("Choose a category")), *recovery_selectors.active_categories()]


class RecategoriseForm(OneTimeSubmission):
    already_done = _("Already moved by this form; nothing was done again.")
    category = forms.TypedChoiceField(
        label=_("New category"),
        # A callable: read when the form is shown or checked, not when the page builds it
        # for someone it is not shown to.
        choices=_in_use,
        coerce=int,
        help_text=_(
            "Its internal deadlines are counted again, from when each started, under the new "
            "category's SLA policy; statutory deadlines do not move."
        ),
        error_messages={
            "required": _("Choose the new category."),
            "invalid_choice": _("Choose a category from the list."),
        },
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=categories.REASON_MAX,
        help_text=_("Optional; shown on the timeline."),
    )

    def choose_from(self, categories_in_use: list[tuple[int, str]]) -> None:
        """Offer the categories the page's read brought (``desk.selectors.category_choices``);
        what is posted is still checked against those in use."""
        self.fields["category"].choices = [("", _("Choose a category")), *categories_in_use]


def may_recategorise(complaint, user) -> bool:
    """Whether the page offers the form: the service's rule, on a complaint not yet closed."""
    return complaint.state not in categories.FIXED_STATES and rules.may_recategorise(
        complaint, user
    )
