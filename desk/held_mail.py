"""The desk's Held mail queue: inbound email waiting for a person to say what it is.

Held mail (threaded onto a complaint by someone who is not its customer, or failing DMARC)
is listed for whoever may work the complaint it claims; quarantined mail (unreadable, no
usable sender) for supervisors and up: the rules are ``recovery.access``'s, read through
``notifications.selectors``. Each decision posts to its own URL, runs one service
(``notifications.inbound_review``) and redirects back (post/redirect/get); a refusal
re-renders the queue with the message and the status the API would answer.
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from common.errors import RedressError
from common.form_errors import status_of
from desk import desk, forms
from notifications import selectors as notifications_selectors

FORM_PREFIX = "held"


def _refused(request):
    return render(request, "403.html", {"reason": "staff"}, status=403)


@desk.staff_required
def held_mail(request):
    if not notifications_selectors.may_open_review_queue(request.user):
        return _refused(request)
    return _page(request)


def _page(request, *, form=None, failed=None, status: int = 200):
    queue = notifications_selectors.review_queue(request.user)
    if failed not in {email.id for email in (*queue.held, *queue.quarantined)}:
        # Reviewed by someone else meanwhile (or beyond the page): the error goes on top.
        failed = None
    return render(
        request,
        "desk/held_mail.html",
        {
            "queue": queue,
            "nav": "held-mail",
            "form": form,
            "failed": failed,
        },
        status=status,
    )


@desk.staff_required
@require_POST
def review(request, inbound_id: int):
    # Who may decide is checked before the form is read: nobody learns anything of an email
    # they may not review from how their post was answered.
    if not notifications_selectors.may_review(request.user, inbound_id):
        return _refused(request)
    data = request.POST.copy()
    data[f"{FORM_PREFIX}-inbound"] = str(inbound_id)
    form = forms.HeldEmailReviewForm(data, prefix=FORM_PREFIX)
    if not form.is_valid():
        return _page(request, form=form, failed=inbound_id, status=400)
    try:
        reviewed = desk.review_held_email(request.user, form)
    except RedressError as error:
        form.add_error(None, error.message)
        return _page(request, form=form, failed=inbound_id, status=status_of(error))
    messages.success(request, _review_message(form.cleaned_data["decision"], reviewed))
    return redirect("desk:held-mail")


def _review_message(decision: str, reviewed) -> str:
    if decision == forms.HeldEmailReviewForm.ACCEPT:
        return _("Email #%(id)s was added to its complaint as the customer's.") % {
            "id": reviewed.pk
        }
    if decision == forms.HeldEmailReviewForm.OPEN:
        return _("Email #%(id)s was opened as a new complaint.") % {"id": reviewed.pk}
    return _("Email #%(id)s was discarded.") % {"id": reviewed.pk}
