"""Moving a complaint to another category from its page: a thin view over
``recovery.services.categories``, refused (403) to staff who may not correct details."""

from django.utils.translation import gettext as _

from desk.category_page import RecategoriseForm
from desk.desk import _action
from recovery import rules
from recovery.services import categories


def _moved(form) -> str:
    return _("Category changed; its internal deadlines follow the new category (see Deadlines).")


recategorise = _action(
    "recategorise",
    RecategoriseForm,
    lambda request, complaint, form: categories.complaint_recategorise(
        complaint=complaint,
        actor=request.user,
        category=form.cleaned_data["category"],
        reason=form.cleaned_data["reason"],
    ),
    _moved,
    may=rules.may_recategorise,
)
