"""Recovery actions on the complaint page: what was offered, the guide's suggestion, and
the form to offer one (the views that act on them are in ``desk.recoveries``)."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from desk import forms
from recovery.models import Complaint, RecoveryAction, RecoveryStatus
from recovery.selectors import GRANTED_STATUSES
from recovery.services import remedies

FORM_PREFIX = "recovery"


def given_summary(complaint: Complaint) -> str:
    """What was done for the customer, in words they may read: the outcome, then each
    recovery given (offered, approved or delivered), its amount and where it stands.

    "Upheld. Refund of 20.00 GBP, delivered: the second charge, refunded. Apology, offered."
    """
    parts = [f"{complaint.get_outcome_display()}."] if complaint.outcome else []
    parts += [
        _describe(action)
        for action in complaint.recovery_actions.all()
        if action.status in GRANTED_STATUSES
    ]
    return " ".join(parts)


# Where a recovery given stands, as the customer reads it.
GIVEN_STATES = {
    RecoveryStatus.PROPOSED: gettext_lazy("offered"),
    RecoveryStatus.APPROVED: gettext_lazy("approved"),
    RecoveryStatus.DELIVERED: gettext_lazy("delivered"),
}


def _describe(action: RecoveryAction) -> str:
    remedy = action.get_type_display()
    if action.amount is not None:
        remedy = _("%(remedy)s of %(amount)s %(currency)s") % {
            "remedy": remedy,
            "amount": action.amount,
            "currency": action.currency,
        }
    text = _("%(remedy)s, %(state)s") % {"remedy": remedy, "state": GIVEN_STATES[action.status]}
    words = action.description.strip()
    if words:
        text += f": {words}"
    return text if text.endswith((".", "!", "?")) else f"{text}."


def page_context(complaint: Complaint, user, bound_form=None) -> dict:
    """The complaint page's recovery part: the actions, the guide's suggestion, the form."""
    may_offer = (
        user.has_perm("recovery.propose_recoveryaction")
        and complaint.state in remedies.RECOVERABLE_STATES
    )
    suggestion = None
    form = bound_form
    if may_offer:
        guideline = remedies.guideline_for(complaint)
        suggestion = remedies.suggestion(guideline)
        if form is None:
            initial = {}
            if suggestion:
                initial = {
                    "type": suggestion["type"],
                    "amount": suggestion["amount"],
                    "currency": suggestion["currency"],
                    "description": suggestion["note"],
                }
            form = forms.RecoveryOfferForm(
                prefix=FORM_PREFIX, initial=initial, guided=guideline is not None
            )
    return {
        "recovery_actions": list(complaint.recovery_actions.all()),
        "recovery_form": form if may_offer else None,
        "recovery_suggestion": suggestion,
        "may_deliver": user.has_perm("recovery.propose_recoveryaction"),
    }
