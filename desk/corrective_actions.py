"""Corrective and preventive actions (CAPA) on the desk: the list, opening one (from a cause
on the Pareto page or from scratch), changing it, linking complaints, and moving it on.

Thin views: a form checks the input, ``recovery.services.prevention`` decides (who may, the
owner is staff, the order of statuses) and writes the complaints' timelines.
"""

import re

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from common.errors import RedressError
from common.form_errors import add_to_form, status_of
from desk import forms as desk_forms
from desk.desk import staff_required
from recovery import selectors as recovery_selectors
from recovery.models import (
    CorrectiveAction,
    CorrectiveActionKind,
    CorrectiveActionStatus,
)
from recovery.services import prevention

VIEW = "recovery.view_correctiveaction"
ADD = "recovery.add_correctiveaction"
CHANGE = "recovery.change_correctiveaction"
# The list shows this many actions, the most recent first: far more than a team keeps open.
LIST_LIMIT = 200
# Free text of the API's limit (api/remedies.py): a description is a paragraph, not a file.
DESCRIPTION_MAX = 5000
_REFERENCE_SEPARATORS = re.compile(r"[\s,;]+")


def cause_choices() -> list[tuple[str, str]]:
    """Active root causes as (code, path of names), ordered by path: from the taxonomy held
    in memory (``recovery.selectors.root_causes_by_code``), no query of its own."""
    return sorted(
        (
            (cause.code, cause.path)
            for cause in recovery_selectors.root_causes_by_code().values()
            if cause.is_active
        ),
        key=lambda choice: choice[1].casefold(),
    )


class StaffChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user) -> str:
        return user.get_full_name() or user.get_username()


class CorrectiveActionForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    # Ticked, not Ctrl-clicked: with the page's script the boxes are the resolve form's
    # type-ahead picker (desk/root_cause_picker.html); without it, they submit as they are.
    root_causes = forms.MultipleChoiceField(
        label=gettext_lazy("Root causes it addresses"),
        help_text=gettext_lazy("The causes below them count too when its effect is measured."),
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "invalid_choice": gettext_lazy(
                "Choose root causes from the list: %(value)s is unknown or retired."
            ),
        },
    )
    owner = StaffChoiceField(
        label=gettext_lazy("Owner"),
        queryset=None,
        to_field_name="username",
        error_messages={
            "invalid_choice": gettext_lazy(
                "Choose the owner among the active staff who may see corrective actions "
                "(supervisors, complaints managers and the head of CX): agents, customers "
                "and service accounts never own one."
            )
        },
    )
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        choices=CorrectiveActionKind.choices,
        initial=CorrectiveActionKind.CORRECTIVE,
    )
    due_on = forms.DateField(
        label=gettext_lazy("Due on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    description = forms.CharField(
        label=gettext_lazy("What will change"),
        required=False,
        max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    complaints = forms.CharField(
        label=gettext_lazy("Complaints that revealed the problem"),
        help_text=gettext_lazy("References, separated by spaces or commas. Optional."),
        required=False,
        max_length=20 * prevention.MAX_LINKED_COMPLAINTS,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, linking_label=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["root_causes"].choices = desk_forms.root_cause_choices()
        self.fields["owner"].queryset = prevention.owner_candidates().order_by(
            "first_name", "last_name", "username"
        )
        if linking_label:
            self.fields["complaints"].label = linking_label

    def root_cause_groups(self):
        return desk_forms.root_cause_groups(self["root_causes"])

    def clean_complaints(self) -> list[str]:
        text = self.cleaned_data.get("complaints") or ""
        return [ref for ref in _REFERENCE_SEPARATORS.split(text.strip()) if ref]


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=gettext_lazy("New status"), choices=CorrectiveActionStatus)
    note = forms.CharField(
        label=gettext_lazy("What the effectiveness check showed"),
        required=False,
        max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def _require(request, permission: str, message: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(message)


def _may_move(user, action: CorrectiveAction) -> bool:
    return action.owner_id == user.pk or user.has_perm(CHANGE)


@staff_required
def action_list(request):
    _require(request, VIEW, _("Corrective actions are for supervisors and complaints managers."))
    return _list_page(request)


def _list_page(request, *, problem: str = "", status: int = 200):
    """The list; ``problem`` (a refused status change) is shown above it with ``status``."""
    wanted = request.GET.get("status", "")
    if wanted and wanted not in CorrectiveActionStatus.values:
        problem = problem or _("Unknown status %(status)s: choose one of the list.") % {
            "status": repr(wanted)
        }
        status = 400
        wanted = ""
    rows = CorrectiveAction.objects.select_related("owner").prefetch_related("root_causes")
    if wanted:
        rows = rows.filter(status=wanted)
    paths = dict(cause_choices())
    today = timezone.localdate()
    actions = [
        {
            "action": action,
            "days_overdue": action.days_overdue(today),
            "causes": [
                paths.get(cause.code) or cause.name
                for cause in sorted(action.root_causes.all(), key=lambda c: c.code)
            ],
            "next": [
                (value, CorrectiveActionStatus(value).label)
                for value in prevention.NEXT_STATUSES[CorrectiveActionStatus(action.status)]
            ]
            if _may_move(request.user, action)
            else [],
        }
        for action in rows[:LIST_LIMIT]
    ]
    return render(
        request,
        "desk/corrective_actions.html",
        {
            "nav": "insights",
            "actions": actions,
            "statuses": CorrectiveActionStatus.choices,
            "wanted": wanted,
            "problem": problem,
            "may_add": request.user.has_perm(ADD),
            "may_change": request.user.has_perm(CHANGE),
        },
        status=status,
    )


@staff_required
def action_new(request):
    _require(request, ADD, _("Only complaints managers open corrective actions."))
    if request.method == "POST":
        form = CorrectiveActionForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                action = prevention.corrective_action_open(
                    actor=request.user,
                    title=data["title"],
                    root_causes=data["root_causes"],
                    owner=data["owner"].get_username(),
                    description=data["description"],
                    kind=data["kind"],
                    complaints=data["complaints"],
                    due_on=data["due_on"],
                )
            except RedressError as error:
                add_to_form(form, error)
                return _form_page(request, form, None, status=status_of(error))
            messages.success(
                request, _("Corrective action “%(title)s” opened.") % {"title": action}
            )
            return redirect("desk:corrective-actions")
        return _form_page(request, form, None, status=400)
    initial = {"owner": request.user.get_username()}
    asked = [code for code in request.GET.getlist("root_cause") if code]
    known = dict(cause_choices())
    chosen = [code for code in asked if code in known]
    if chosen:
        initial["root_causes"] = chosen
        initial["title"] = _("Reduce “%(cause)s”") % {"cause": known[chosen[0]].split(" > ")[-1]}
    form = CorrectiveActionForm(initial=initial)
    if len(chosen) < len(asked):
        messages.error(request, _("A root cause in the link is unknown or retired; pick it below."))
    return _form_page(request, form, None)


@staff_required
def action_edit(request, action_id: int):
    _require(request, CHANGE, _("Only complaints managers change corrective actions."))
    action = get_object_or_404(CorrectiveAction.objects.select_related("owner"), pk=action_id)
    linking = _("Link more complaints")
    if request.method == "POST":
        form = CorrectiveActionForm(request.POST, linking_label=linking)
        if form.is_valid():
            data = form.cleaned_data
            try:
                prevention.corrective_action_update(
                    action_id=action.pk,
                    actor=request.user,
                    title=data["title"],
                    root_causes=data["root_causes"],
                    owner=data["owner"].get_username(),
                    description=data["description"],
                    kind=data["kind"],
                    due_on=data["due_on"],
                )
                if data["complaints"]:
                    prevention.corrective_action_link(
                        action_id=action.pk, actor=request.user, complaints=data["complaints"]
                    )
            except RedressError as error:
                add_to_form(form, error)
                return _form_page(request, form, action, status=status_of(error))
            messages.success(request, _("Corrective action “%(title)s” saved.") % {"title": action})
            return redirect("desk:corrective-actions")
        return _form_page(request, form, action, status=400)
    form = CorrectiveActionForm(
        initial={
            "title": action.title,
            "root_causes": list(action.root_causes.values_list("code", flat=True)),
            "owner": action.owner.get_username(),
            "kind": action.kind,
            "due_on": action.due_on,
            "description": action.description,
        },
        linking_label=linking,
    )
    return _form_page(request, form, action)


def _form_page(request, form, action, *, status=200):
    linked = list(action.complaints.values_list("reference", flat=True)) if action else []
    return render(
        request,
        "desk/corrective_action_form.html",
        {"nav": "insights", "form": form, "action": action, "linked": linked},
        status=status,
    )


@staff_required
@require_POST
def action_status(request, action_id: int):
    _require(request, VIEW, _("Corrective actions are for supervisors and complaints managers."))
    action = get_object_or_404(CorrectiveAction, pk=action_id)
    if not _may_move(request.user, action):
        raise PermissionDenied(_("Only the action's owner or a complaints manager may."))
    form = StatusForm(request.POST)
    if not form.is_valid():
        problem = _("%(title)s: choose a status it can move to.") % {"title": action}
        return _list_page(request, problem=problem, status=400)
    try:
        prevention.corrective_action_set_status(
            action_id=action.pk,
            actor=request.user,
            status=form.cleaned_data["status"],
            note=form.cleaned_data["note"],
        )
    except RedressError as error:
        problem = f"{action}: {error.message}"
        return _list_page(request, problem=problem, status=status_of(error))
    messages.success(
        request,
        _("“%(title)s” is now %(status)s.")
        % {"title": action, "status": CorrectiveActionStatus(form.cleaned_data["status"]).label},
    )
    return redirect("desk:corrective-actions")
