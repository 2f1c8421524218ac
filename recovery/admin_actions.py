"""Admin actions on complaints and recoveries, each a small form in front of one service.

The admin edits no workflow field itself: assigning, holding for the customer, escalating,
reopening, withdrawing, and deciding or delivering a recovery run the same services as the
desk, so each leaves its timeline event and outbox row, moves the clocks, and is refused
with the service's message.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from common.errors import RedressError
from escalation.services import ladder
from recovery import roles
from recovery.models.complaints import MESSAGE_MAX_CHARS
from recovery.services import lifecycle, remedies, sla


# The same limit as the API's reasons and notes.
class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("reason"), max_length=MESSAGE_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 3})
    )


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("reason"),
        required=False,
        max_length=MESSAGE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AssignForm(OptionalReasonForm):
    assignee = forms.ModelChoiceField(
        label=_("assignee"),
        queryset=roles.staff_members().order_by("username"),
        required=False,
        empty_label=_("nobody (unassign)"),
    )
    field_order = ["assignee", "reason"]


class DeliveryNoteForm(forms.Form):
    note = forms.CharField(
        label=_("how it reached the customer"),
        required=False,
        max_length=MESSAGE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


@dataclass(frozen=True)
class ServiceAction:
    name: str
    description: str
    form_class: type[forms.Form]
    # (the selected row, actor, the form's cleaned data) -> calls one service
    run: Callable


COMPLAINT_SERVICE_ACTIONS = [
    ServiceAction(
        "assign",
        _("Assign to…"),
        AssignForm,
        lambda complaint, actor, data: sla.complaint_assign(
            complaint=complaint, assignee=data["assignee"], actor=actor, reason=data["reason"]
        ),
    ),
    ServiceAction(
        "put_on_hold",
        _("Put on hold for the customer's answer"),
        OptionalReasonForm,
        lambda complaint, actor, data: sla.complaint_set_awaiting_customer(
            complaint=complaint, actor=actor, awaiting=True, reason=data["reason"]
        ),
    ),
    ServiceAction(
        "release_hold",
        _("Release the hold"),
        OptionalReasonForm,
        lambda complaint, actor, data: sla.complaint_set_awaiting_customer(
            complaint=complaint, actor=actor, awaiting=False, reason=data["reason"]
        ),
    ),
    ServiceAction(
        "escalate",
        _("Escalate one level"),
        ReasonForm,
        lambda complaint, actor, data: ladder.complaint_escalate_by_hand(
            complaint=complaint, actor=actor, direction="up", reason=data["reason"]
        ),
    ),
    ServiceAction(
        "de_escalate",
        _("De-escalate one level"),
        ReasonForm,
        lambda complaint, actor, data: ladder.complaint_escalate_by_hand(
            complaint=complaint, actor=actor, direction="down", reason=data["reason"]
        ),
    ),
    ServiceAction(
        "reopen",
        _("Reopen"),
        ReasonForm,
        lambda complaint, actor, data: lifecycle.complaint_reopen(
            complaint=complaint, actor=actor, reason=data["reason"]
        ),
    ),
    ServiceAction(
        "withdraw",
        _("Withdraw"),
        ReasonForm,
        lambda complaint, actor, data: lifecycle.complaint_withdraw(
            complaint=complaint, actor=actor, reason=data["reason"]
        ),
    ),
]


RECOVERY_SERVICE_ACTIONS = [
    ServiceAction(
        "approve",
        _("Approve"),
        ReasonForm,
        lambda action, actor, data: remedies.recovery_decide(
            action_id=action.pk, actor=actor, approve=True, reason=data["reason"]
        ),
    ),
    ServiceAction(
        "decline",
        _("Decline"),
        ReasonForm,
        lambda action, actor, data: remedies.recovery_decide(
            action_id=action.pk, actor=actor, approve=False, reason=data["reason"]
        ),
    ),
    ServiceAction(
        "deliver",
        _("Record as delivered"),
        DeliveryNoteForm,
        lambda action, actor, data: remedies.recovery_deliver(
            action_id=action.pk, actor=actor, note=data["note"]
        ),
    ),
]


def admin_action(spec: ServiceAction):
    """The admin action: first the form, then the service for each selected row.

    A row the service refuses is named with the service's message; the others go ahead
    (each service call is its own transaction).
    """

    def action(modeladmin, request, queryset):
        form = spec.form_class(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            done = 0
            for row in queryset.order_by("pk"):
                try:
                    spec.run(row, request.user, form.cleaned_data)
                except RedressError as error:
                    modeladmin.message_user(request, f"{row}: {error.message}", messages.ERROR)
                else:
                    done += 1
            if done:
                modeladmin.message_user(
                    request,
                    _("%(action)s: done for %(count)d %(rows)s.")
                    % {
                        "action": spec.description,
                        "count": done,
                        "rows": modeladmin.model._meta.verbose_name_plural,
                    },
                    messages.SUCCESS,
                )
            return None
        context = {
            **modeladmin.admin_site.each_context(request),
            "opts": modeladmin.model._meta,
            "title": spec.description,
            "form": form,
            "rows": queryset,
            "action": spec.name,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/service_action.html", context)

    action.__name__ = spec.name
    return admin.action(description=spec.description)(action)


COMPLAINT_ACTIONS = [admin_action(spec) for spec in COMPLAINT_SERVICE_ACTIONS]
RECOVERY_ACTIONS = [admin_action(spec) for spec in RECOVERY_SERVICE_ACTIONS]
