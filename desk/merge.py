"""Merging a duplicate into the complaint on the page: the form is posted twice.

The first post shows both complaints side by side, so the agent sees what they are about to
merge (the reference is typed, and a digit off is another customer's complaint); the second,
with ``confirm``, merges them through ``recovery.services.merge`` and goes back to the
surviving complaint. Both steps are plain forms: no script is needed.
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from common.errors import AlreadySent, NotFound, RedressError
from common.form_errors import add_to_form, status_of
from desk import forms, submissions
from desk.desk import (
    complaint_or_refusal,
    posted_or_back_to_complaint,
    render_complaint,
    rerender_after_error,
    staff_required,
    with_fresh_token,
)
from recovery import selectors as recovery_selectors
from recovery.services import merge as merge_services

FORM_NAME = "merge"


@staff_required
@posted_or_back_to_complaint
def merge(request, reference: str):
    survivor, refused = complaint_or_refusal(request, reference)
    if refused is not None:
        return refused
    form = forms.MergeForm(request.POST, prefix=FORM_NAME)
    if not form.is_valid():
        return render_complaint(request, survivor, bound={FORM_NAME: form}, status=400)
    data = form.cleaned_data
    try:
        duplicate = _duplicate(data["duplicate"], request.user)
        if not data["confirm"]:
            # The same refusals the merge would meet, before asking to confirm it.
            merge_services.ensure_may_merge(
                survivor=survivor, duplicate=duplicate, actor=request.user
            )
            problem = merge_services.merge_problem(survivor=survivor, duplicate=duplicate)
            if problem is not None:
                raise problem
            return _confirmation(request, survivor, duplicate, form)
        # Only the confirmed post merges, so only it is sent once: the confirmation page
        # renders the form afresh, under a token of its own.
        submissions.once(
            form,
            name=FORM_NAME,
            complaint=survivor,
            run=lambda: merge_services.complaint_merge(
                survivor=survivor, duplicate=duplicate, actor=request.user, reason=data["reason"]
            ),
        )
    except AlreadySent:
        messages.info(request, form.already_done)
        return redirect("desk:complaint", reference=survivor.reference)
    except RedressError as error:
        form = with_fresh_token(form)
        add_to_form(form, error)
        return rerender_after_error(
            request, reference, bound={FORM_NAME: form}, status=status_of(error)
        )
    messages.success(
        request,
        _(
            "%(duplicate)s was merged into %(survivor)s: it is withdrawn as a duplicate, its "
            "messages are copied here, and the customer is emailed once."
        )
        % {"duplicate": duplicate.reference, "survivor": survivor.reference},
    )
    return redirect("desk:complaint", reference=survivor.reference)


def _duplicate(reference: str, user):
    """The duplicate as the user may see it; one they may not see is not named as existing."""
    try:
        return recovery_selectors.complaint_to_change(reference=reference, user=user)
    except NotFound as error:
        raise NotFound(
            _("No complaint %(reference)s that you can see.") % {"reference": reference},
            details={"duplicate": [_("Check the reference.")]},
        ) from error


def _confirmation(request, survivor, duplicate, form):
    confirmed = forms.MergeForm(
        prefix=FORM_NAME,
        initial={
            "duplicate": duplicate.reference,
            "reason": form.cleaned_data["reason"],
            "confirm": True,
        },
    )
    return render(
        request,
        "desk/merge_confirm.html",
        {
            "complaint": survivor,
            "survivor": survivor,
            "duplicate": duplicate,
            "form": confirmed,
            "pair": [("survivor", survivor), ("duplicate", duplicate)],
            "earlier_receipt": duplicate.received_at < survivor.received_at,
            "customer_link": merge_services.customer_link(survivor=survivor, duplicate=duplicate),
        },
    )
