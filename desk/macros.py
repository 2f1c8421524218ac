"""Macros on the desk: supervisors list, write, change and archive them; agents use one on
a complaint's page (choose it, read and edit its filled-in text, send it).

Thin views: a form checks the input, ``recovery.services.macros`` decides (who may, the
placeholders, the names) and sends through the message, acknowledgement and hold services.
"""

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from common.errors import NotFound, RedressError
from common.form_errors import add_to_form, status_of
from desk.corrective_actions import cause_choices
from desk.desk import _action, staff_required
from desk.macro_page import MacroUseForm
from notifications import rendering
from notifications.models import MessageTemplateKind
from recovery.models import (
    Category,
    Macro,
    MacroVisibility,
    RecoveryGuideline,
    RootCause,
    Team,
)
from recovery.services import macros as macro_services

# The list shows the macros in use and this many archived ones, the latest first.
ARCHIVED_SHOWN = 50

PLACEHOLDER_HELP = gettext_lazy(
    "Write what comes after the greeting: the email opens with “Dear <the customer's "
    "name>,” and ends with the sign-off by itself (the preview below shows the whole email). "
    "Placeholders: {customer_name}, {reference}, {resolve_by} (“by 12 December 2026”, or "
    "“as soon as we can”), {agent_name}. Any other {name} is refused."
)
# The made-up customer and deadline of the editor's preview.
SAMPLE_CUSTOMER = "Ann Example"
SAMPLE_RESOLVE_BY = gettext_lazy("by 12 December 2026")


def _is_manager(user) -> bool:
    return user.has_perm(macro_services.MANAGE_PERMISSION)


def manager_required(view):
    @staff_required
    def wrapper(request, *args, **kwargs):
        if not _is_manager(request.user):
            return render(request, "403.html", {"reason": "supervisor"}, status=403)
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    return wrapper


class MacroForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    body = forms.CharField(
        label=gettext_lazy("Text sent to the customer"),
        max_length=macro_services.BODY_MAX,
        help_text=PLACEHOLDER_HELP,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    next_steps = forms.CharField(
        label=gettext_lazy("What happens next (when it acknowledges)"),
        required=False,
        max_length=macro_services.BODY_MAX,
        help_text=gettext_lazy(
            "Used on a complaint not yet acknowledged: an acknowledgement must name the "
            "reference and say what happens next. Same placeholders."
        ),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    visibility = forms.ChoiceField(
        label=gettext_lazy("Shared with"),
        choices=MacroVisibility.choices,
        initial=MacroVisibility.EVERYONE,
    )
    team = forms.ModelChoiceField(
        label=gettext_lazy("Team (when shared with one team's complaints)"),
        queryset=Team.objects.order_by("name"),
        required=False,
    )
    category = forms.ModelChoiceField(
        label=gettext_lazy("Category"),
        queryset=Category.objects.filter(is_active=True).order_by("name"),
        required=False,
        help_text=gettext_lazy(
            "Suggested first on complaints of this category. Used on a complaint of another "
            "category, it moves the complaint to this one: its internal deadlines follow the "
            "category's policy, its statutory deadlines never move."
        ),
    )
    root_cause = forms.ChoiceField(
        label=gettext_lazy("Root cause"),
        required=False,
        help_text=gettext_lazy(
            "Suggested first on complaints with this cause. Causes are recorded when "
            "resolving: using the macro pre-selects this cause in the complaint's resolve form."
        ),
    )
    guideline = forms.ModelChoiceField(
        label=gettext_lazy("Recovery guideline shown beside it"),
        queryset=RecoveryGuideline.objects.select_related("root_cause").order_by(
            "root_cause__code", "severity"
        ),
        required=False,
    )
    puts_on_hold = forms.BooleanField(
        label=gettext_lazy("Also put the complaint on hold, awaiting the customer"),
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["root_cause"].choices = [("", "—"), *cause_choices()]

    def clean_body(self) -> str:
        body = self.cleaned_data["body"]
        if macro_services.opens_with_greeting(body):
            raise forms.ValidationError(
                _(
                    "Leave out the greeting: the email already opens with “Dear <the "
                    "customer's name>,”, so this text would greet them twice. Begin with "
                    "what comes after it."
                ),
                code="greeting",
            )
        return body

    def fields_for_service(self) -> macro_services.MacroFields:
        data = self.cleaned_data
        code = data.get("root_cause") or ""
        return macro_services.MacroFields(
            name=data["name"],
            body=data["body"],
            next_steps=data.get("next_steps") or "",
            visibility=data["visibility"],
            team=data.get("team"),
            category=data.get("category"),
            root_cause=RootCause.objects.filter(code=code).first() if code else None,
            guideline=data.get("guideline"),
            puts_on_hold=data.get("puts_on_hold", False),
        )

    @staticmethod
    def initial_of(macro: Macro) -> dict:
        return {
            "name": macro.name,
            "body": macro.body,
            "next_steps": macro.next_steps,
            "visibility": macro.visibility,
            "team": macro.team_id,
            "category": macro.category_id,
            "root_cause": macro.root_cause.code if macro.root_cause_id else "",
            "guideline": macro.guideline_id,
            "puts_on_hold": macro.puts_on_hold,
        }


@manager_required
def macro_list(request):
    rows = Macro.objects.select_related(
        "team", "owner", "category", "root_cause", "guideline", "guideline__root_cause"
    )
    live = list(rows.filter(archived_at__isnull=True).order_by("name"))
    archived = list(
        rows.filter(archived_at__isnull=False).order_by("-archived_at")[:ARCHIVED_SHOWN]
    )
    return render(
        request,
        "desk/macros.html",
        {"nav": "macros", "live": live, "archived": archived},
    )


@manager_required
def macro_new(request):
    return _edit(request, None)


@manager_required
def macro_edit(request, macro_id: int):
    macro = Macro.objects.select_related("root_cause").filter(pk=macro_id).first()
    if macro is None:
        raise Http404(_("No macro has that number."))
    return _edit(request, macro)


def _edit(request, macro: Macro | None):
    if request.method != "POST":
        form = MacroForm(initial=MacroForm.initial_of(macro) if macro else None)
        return _form_page(request, form, macro)
    form = MacroForm(request.POST)
    if not form.is_valid():
        return _form_page(request, form, macro, status=400)
    if "preview" in request.POST:
        # Shown as it would be sent, not saved.
        return _form_page(request, form, macro)
    try:
        saved = macro_services.macro_save(
            actor=request.user,
            fields=form.fields_for_service(),
            macro_id=macro.pk if macro else None,
        )
    except RedressError as error:
        add_to_form(form, error)
        return _form_page(request, form, macro, status=status_of(error))
    messages.success(request, _("Macro “%(name)s” saved.") % {"name": saved.name})
    return redirect("desk:macros")


def _form_page(request, form, macro, *, status: int = 200):
    return render(
        request,
        "desk/macro_form.html",
        {"nav": "macros", "form": form, "macro": macro, "preview": _preview(request, form)},
        status=status,
    )


def _preview(request, form) -> str:
    """The reply email a customer would read with the macro's text (as typed, else as
    saved), filled in for a made-up complaint: the template's greeting and sign-off around
    it, so that the editor sees what it adds."""
    body = form.data.get("body", "") if form.is_bound else form.initial.get("body", "")
    values = {
        "customer_name": SAMPLE_CUSTOMER,
        "reference": rendering.sample_reference(),
        "resolve_by": str(SAMPLE_RESOLVE_BY),
        "agent_name": request.user.get_full_name() or request.user.get_username(),
    }
    text = macro_services.fill(body, values).strip() or _("[the macro's text]")
    return rendering.sample_email_text(
        MessageTemplateKind.REPLY, text, customer_name=SAMPLE_CUSTOMER
    )


@manager_required
@require_POST
def macro_archive(request, macro_id: int):
    try:
        macro = macro_services.macro_archive(actor=request.user, macro_id=macro_id)
    except NotFound as error:
        raise Http404(error.message) from error
    messages.success(
        request,
        _("Macro “%(name)s” archived: nobody is offered it any more.") % {"name": macro.name},
    )
    return redirect("desk:macros")


# -- on the complaint's page -------------------------------------------------------------


use_macro = _action(
    "macro",
    MacroUseForm,
    lambda request, complaint, form: macro_services.macro_use(
        complaint=complaint,
        actor=request.user,
        macro_id=form.cleaned_data["macro"],
        body=form.cleaned_data["body"],
        next_steps=form.cleaned_data["next_steps"],
        expected_state=form.cleaned_data["expected_state"] or None,
    ),
    _("Sent with the macro; what else it does is done too (see the timeline)."),
)
