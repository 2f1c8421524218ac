"""The desk's recovery views: offer a remedy, record its delivery, and the approvals queue
where supervisors and managers decide what was above the proposer's authority."""

from functools import wraps

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from common.errors import AlreadySent, RedressError
from common.form_errors import add_to_form, status_of
from desk import board_cards, desk, forms, selectors, submissions
from desk.remedies import FORM_PREFIX
from recovery import rules
from recovery import selectors as recovery_selectors
from recovery.models import RecoveryAction
from recovery.models.remedies import RecoveryStatus
from recovery.services import remedies


def approver_required(view):
    @desk.staff_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.has_perm("recovery.decide_recoveryaction"):
            return render(request, "403.html", {"reason": "supervisor"}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


@desk.staff_required
@desk.posted_or_back_to_complaint
def offer(request, reference: str):
    complaint, refused = desk.complaint_or_refusal(request, reference)
    if refused is not None:
        return refused
    form = forms.RecoveryOfferForm(
        request.POST,
        prefix=FORM_PREFIX,
        guided=remedies.guideline_for(complaint) is not None,
    )
    if not form.is_valid():
        return desk.render_complaint(request, complaint, bound={"recovery": form}, status=400)
    data = form.cleaned_data
    try:
        action = submissions.once(
            form,
            name=FORM_PREFIX,
            complaint=complaint,
            run=lambda: remedies.recovery_propose(
                complaint=complaint,
                actor=request.user,
                type=data["type"],
                amount=data["amount"],
                currency=data["currency"],
                description=data["description"],
                deviation_reason=data.get("deviation_reason", ""),
            ),
        )
    except AlreadySent:
        messages.info(request, form.already_done)
        return redirect("desk:complaint", reference=complaint.reference)
    except RedressError as error:
        form = desk.with_fresh_token(form)
        add_to_form(form, error)
        return desk.rerender_after_error(
            request, reference, bound={"recovery": form}, status=status_of(error)
        )
    if action.status == RecoveryStatus.AWAITING_APPROVAL:
        messages.success(
            request,
            _("%(action)s is above your limit: it waits for approval by the %(role)s.")
            % {"action": action, "role": action.approver_role.replace("_", " ")},
        )
    else:
        messages.success(request, _("%(action)s offered.") % {"action": action})
    return redirect("desk:complaint", reference=complaint.reference)


@desk.staff_required
@desk.posted_or_back_to_complaint
def deliver(request, reference: str, action_id: int):
    complaint, refused = desk.complaint_or_refusal(request, reference)
    if refused is not None:
        return refused
    if not any(action.pk == action_id for action in complaint.recovery_actions.all()):
        raise Http404(_("No such recovery on this complaint."))
    form = forms.DeliverForm(request.POST)
    try:
        if not form.is_valid():
            raise Http404
        remedies.recovery_deliver(
            action_id=action_id, actor=request.user, note=form.cleaned_data["note"]
        )
    except RedressError as error:
        messages.error(request, error.message)
        return redirect("desk:complaint", reference=complaint.reference)
    messages.success(request, _("Recorded as delivered."))
    return redirect("desk:complaint", reference=complaint.reference)


@approver_required
def approvals(request):
    return _approvals(request)


def _approvals(request, *, bound=None, status: int = 200, error: str = ""):
    last_event_id = selectors.latest_event_id()
    rows = list(recovery_selectors.approvals_queue(request.user))
    board_cards.attach_approval_context(rows, request.user, timezone.now())
    bound = bound or {}
    items = [
        {
            "action": action,
            "form": bound.get(action.pk) or forms.DecisionForm(prefix=f"decide-{action.pk}"),
        }
        for action in rows
    ]
    return render(
        request,
        "desk/approvals.html",
        {
            "items": items,
            "nav": "approvals",
            "last_event_id": last_event_id,
            "error": error,
            # The header's count is this list's length: no second count on this page.
            "desk_approvals_waiting": len(items),
        },
        status=status,
    )


@approver_required
@require_POST
def decide(request, action_id: int):
    action = RecoveryAction.objects.select_related("complaint").filter(pk=action_id).first()
    if action is None or not rules.works_on(action.complaint, request.user):
        raise Http404(_("No such recovery awaiting your decision."))
    form = forms.DecisionForm(request.POST, prefix=f"decide-{action_id}")
    if not form.is_valid():
        return _approvals(request, bound={action_id: form}, status=400)
    try:
        decided = submissions.once(
            form,
            name=form.prefix,
            complaint=action.complaint,
            run=lambda: remedies.recovery_decide(
                action_id=action_id,
                actor=request.user,
                approve=form.cleaned_data["decision"] == "approve",
                reason=form.cleaned_data["reason"],
            ),
        )
    except AlreadySent:
        messages.info(request, form.already_done)
        return redirect("desk:approvals")
    except RedressError as error:
        form = desk.with_fresh_token(form)
        add_to_form(form, error)
        # The action may have left the queue (someone decided first): say so at the top.
        return _approvals(
            request, bound={action_id: form}, status=status_of(error), error=error.message
        )
    messages.success(
        request,
        _("%(action)s on %(reference)s: %(status)s.")
        % {
            "action": decided,
            "reference": decided.complaint.reference,
            "status": decided.get_status_display().lower(),
        },
    )
    return redirect("desk:approvals")
