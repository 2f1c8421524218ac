"""The macro panel of a complaint's page: which macros are offered, and the chosen one's
text filled in for the complaint, ready to edit and send (``desk.macros.use_macro``)."""

from django import forms
from django.utils.translation import gettext_lazy

from desk import selectors
from desk.forms import OneTimeSubmission
from recovery.models import Complaint, State
from recovery.services import macros as macro_services


class MacroUseForm(OneTimeSubmission):
    macro = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    expected_state = forms.CharField(widget=forms.HiddenInput, required=False, max_length=32)
    # The chooser's GET form comes back to "#macro-text": the browser scrolls to the filled-in
    # text, and moves the focus there (Chromium, Safari) or starts Tab from it (Firefox).
    body = forms.CharField(
        label=gettext_lazy("Message to the customer"),
        max_length=macro_services.BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 6, "id": "macro-text"}),
    )
    next_steps = forms.CharField(
        label=gettext_lazy("What happens next"),
        required=False,
        max_length=macro_services.BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def page_context(request, complaint: Complaint, clocks, bound=None) -> dict:
    """The macros offered on the complaint's page (suggested first), and, once one is
    chosen (``?macro=`` on the page's address, or the form sent back with an error), its
    text filled in for this complaint, with the recovery guideline it names.

    No statement of its own on PostgreSQL: the macros offered come with the complaint's read
    (``selectors.page_annotations``), the chosen one's text from the macros held in memory,
    the deadline from the page's clocks.
    """
    user = request.user
    if complaint.state == State.WITHDRAWN:  # it takes no more messages
        return {"macros": [], "macro_chosen": None, "macro_form": None, "macro_unknown": False}
    offered = macro_services.macros_for(complaint, user, selectors.macros_brought(complaint))
    form = bound
    wanted = _int(form.data.get("macro-macro") if form is not None else request.GET.get("macro"))
    chosen = None
    if wanted in {row.macro.pk for row in offered}:
        # The whole macro (its text, its guideline): held in memory, read once per change.
        chosen = next((m for m in macro_services.live_macros() if m.pk == wanted), None)
    if form is None and chosen is not None:
        due = min((c.due_at for c in clocks if c.kind == "resolve" and c.due_at), default=None)
        values = macro_services.values_for(complaint, user, due)
        form = MacroUseForm(
            prefix="macro",
            initial={
                "macro": chosen.pk,
                "expected_state": complaint.state,
                "body": macro_services.fill(chosen.body, values),
                "next_steps": macro_services.fill(chosen.next_steps, values),
            },
        )
    return {
        "macros": offered,
        "macro_chosen": chosen,
        "macro_form": form,
        "macro_acknowledges": complaint.state == State.RECEIVED,
        "macro_unknown": bool(request.GET.get("macro")) and chosen is None and bound is None,
    }


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
