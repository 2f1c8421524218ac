"""Recovery actions on the complaint page: what was offered, the guide's suggestion, and
the form to offer one (the views that act on them are in ``desk.recoveries``)."""

from desk import forms
from recovery.models import Complaint, RecoveryAction
from recovery.selectors import GRANTED_STATUSES
from recovery.services import remedies

FORM_PREFIX = "recovery"


def delivered_summary(complaint: Complaint) -> str:
    """What was done for the customer, in words, from the recovery actions it was given."""
    done = [
        action for action in complaint.recovery_actions.all() if action.status in GRANTED_STATUSES
    ]
    return "; ".join(_describe(action) for action in done)


def _describe(action: RecoveryAction) -> str:
    text = action.get_type_display()
    if action.amount is not None:
        text += f" of {action.amount} {action.currency}"
    if action.description:
        text += f": {action.description}"
    return text


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
