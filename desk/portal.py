"""The customer portal: the public complaint form, its confirmation, and the tracking page.

No account is needed. The tracking page is reached by a link signed with the site's key
(``recovery.services.tracking_links``): it names one complaint and cannot be guessed or
turned into a link to another; staff can revoke it, and it expires a while after the
complaint is closed (a page saying so, 410). Every form posts and redirects, so it works without
JavaScript; with it, the tracking page follows the complaint live over ``ws/track/<token>/``.
"""

from functools import wraps

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from common.errors import Conflict, Gone, NotFound, RedressError
from common.form_errors import add_to_form, show_error, status_of
from desk import selectors, throttle
from desk.accounts import portal_account
from desk.forms import (
    ComplaintForm,
    CustomerReplyForm,
    EscalationRequestForm,
    SurveyForm,
    checked_uploads,
    new_submission_token,
)
from escalation.services import ladder
from recovery import attachment_selectors
from recovery.models import AttachmentSource, Channel, Complaint, State, Survey
from recovery.services import address_proof, attachments, surveys, tracking_links
from recovery.services.intake import (
    ComplaintIntake,
    CustomerDetails,
    complaint_submit,
    complaint_submitted_before,
    request_fingerprint,
)
from recovery.services.messages import customer_message_add

# Signed tokens are about 40 characters; anything far longer is not one of ours, and is
# refused before the signature is even checked.
TOKEN_MAX_CHARS = 200


@require_http_methods(["GET", "POST"])
def complain(request):
    if request.method != "POST":
        return render(request, "portal/complain.html", {"form": ComplaintForm()})
    form = ComplaintForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "portal/complain.html", {"form": form}, status=400)
    data = form.cleaned_data
    # The form's one-time token, as the intake's idempotency key: a second submit of the
    # same form (a double-click) gets the first complaint's confirmation, not a second one.
    submission = data["submission"]
    filed = {
        name: value
        for name, value in data.items()
        if name not in ("submission", "website", "attachments")
    }
    if submission:
        # A form already accepted, sent again (a refresh, back and resend): it files
        # nothing, so it is answered before the rate limit and does not count against it.
        try:
            earlier = complaint_submitted_before(
                actor=portal_account(),
                idempotency_key=_idempotency_key(submission),
                request_hash=request_fingerprint(filed),
            )
        except Conflict:
            return _sent_already(request)
        if earlier is not None:
            return redirect("portal:received", token=tracking_links.tracking_token(earlier))
    verdict = throttle.hit("complaint-form", throttle.client_address(request))
    if not verdict.allowed:
        minutes = max(1, round(verdict.retry_after / 60))
        form.add_error(
            None,
            _(
                "We have received several complaints from your connection in the last few "
                "minutes. Please try again in %(minutes)s minutes; what you wrote is kept below."
            )
            % {"minutes": minutes},
        )
        response = render(request, "portal/complain.html", {"form": form}, status=429)
        response["Retry-After"] = str(verdict.retry_after)
        return response
    if form.is_spam:
        form.add_error(None, _("This form could not be sent. Leave the last field empty."))
        return render(request, "portal/complain.html", {"form": form}, status=400)
    try:
        files = checked_uploads(form)
    except RedressError as error:
        return show_error(request, "portal/complain.html", {"form": form}, form, error)
    try:
        # One transaction: a complaint is never filed without the files that came with it.
        with transaction.atomic():
            complaint, created = _submit(form, data, submission, filed)
            if created:
                attachments.attachments_add(
                    complaint=complaint, files=files, source=AttachmentSource.FORM
                )
    except Conflict:
        return _sent_already(request)
    except RedressError as error:
        return show_error(request, "portal/complain.html", {"form": form}, form, error)
    return redirect("portal:received", token=tracking_links.tracking_token(complaint))


def _sent_already(request):
    """The same form sent again with other words (back, edit, send): it filed once
    already; a new form (a new token) files the new complaint."""
    resent = request.POST.copy()
    resent["submission"] = new_submission_token()
    form = ComplaintForm(resent)
    form.is_valid()  # it was: only the token is new
    form.add_error(
        None,
        _(
            "This form was already sent and your complaint filed. Check what is below "
            "and send it again to make another complaint."
        ),
    )
    return render(request, "portal/complain.html", {"form": form}, status=409)


def _idempotency_key(submission: str) -> str:
    return f"portal-form:{submission}"


def _submit(form, data, submission, filed):
    return complaint_submit(
        actor=portal_account(),
        intake=ComplaintIntake(
            subject=form.subject(),
            description=data["description"],
            channel=Channel.WEB,
            remedy_sought=data["remedy_sought"].strip(),
            customer=CustomerDetails(name=data["name"], email=data["email"]),
            category=data["category"].slug if data["category"] else "",
            touchpoint=data["touchpoint"].slug if data["touchpoint"] else "",
            occurred_on=data["occurred_on"],
            # Anyone may type any address here: an existing customer's is proven by the
            # link in the receipt before the complaint joins their record.
            address_proven=False,
        ),
        idempotency_key=_idempotency_key(submission) if submission else None,
        request_hash=request_fingerprint(filed) if submission else "",
    )


class LinkGone(Exception):
    """A tracking link that was ours: revoked or expired (answered with a 410 page)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LinkInvalid(Exception):
    """A link that was never ours: cut short, mistyped or tampered with (a 404 page)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _complaint_of(token: str) -> Complaint:
    try:
        return tracking_links.complaint_of_link(token)
    except NotFound as error:
        raise LinkInvalid(_("This link is not valid. Check that you copied all of it.")) from error
    except Gone as error:
        raise LinkGone(error.message) from error


def answers_bad_links(view):
    """A bad link gets the portal's own page saying so, never a 500, and never Django's
    debug 404 page when DEBUG is on (that is why this is not an ``Http404``): 410 for a
    revoked or expired link, 404 for one that was never ours."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except LinkGone as gone:
            return render(request, "portal/link_gone.html", {"message": gone.message}, status=410)
        except LinkInvalid as invalid:
            return render(
                request, "portal/link_invalid.html", {"message": invalid.message}, status=404
            )

    return wrapper


@answers_bad_links
def received(request, token: str):
    complaint = _complaint_of(token)
    tracking_url = request.build_absolute_uri(reverse("portal:track", args=[token]))
    return render(
        request,
        "portal/received.html",
        {"complaint": complaint, "token": token, "tracking_url": tracking_url},
    )


def _tracking_page(request, token: str, *, forms=None, status: int = 200):
    complaint = _complaint_of(token)
    last_event_id = selectors.latest_event_id(complaint.pk)
    view = selectors.tracking(complaint.pk)
    forms = forms or {}
    context = {
        "token": token,
        "last_event_id": last_event_id,
        "complaint": view.complaint,
        "tracking": view,
        "reply_form": forms.get("reply") or CustomerReplyForm(),
        "escalation_form": forms.get("escalation") or EscalationRequestForm(),
        "can_reply": view.complaint.state != State.WITHDRAWN,
        "can_escalate": view.complaint.is_open,
        "asked_for_escalation": any(
            event.type == "escalation_requested" for event in view.timeline
        ),
        "survey_url": _survey_url(view.complaint),
        **_merged_into(view.complaint),
        "attachments": attachment_selectors.complaint_attachments(view.complaint),
    }
    return render(request, "portal/track.html", context, status=status)


def _merged_into(complaint: Complaint) -> dict:
    """A complaint merged into another as its duplicate points to the other's tracking page:
    the same customer's (``recovery.services.merge`` merges no one else's)."""
    if complaint.duplicate_of_id is None:
        return {}
    found = tracking_links.reference_and_token_of(complaint.duplicate_of_id)
    if found is None:
        return {}
    reference, token = found
    return {"merged_into": reference, "merged_into_url": reverse("portal:track", args=[token])}


def _survey_url(complaint: Complaint) -> str:
    """The survey link for the tracking page, while the survey waits for an answer."""
    found = Survey.objects.filter(complaint=complaint, submitted_at__isnull=True).first()
    if found is None:
        return ""
    return reverse("portal:survey", args=[surveys.survey_token(found)])


@answers_bad_links
def track(request, token: str):
    return _tracking_page(request, token)


@require_POST
@answers_bad_links
def track_reply(request, token: str):
    complaint = _complaint_of(token)
    form = CustomerReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        return _tracking_page(request, token, forms={"reply": form}, status=400)
    submission = form.cleaned_data["submission"]
    try:
        files = checked_uploads(form)
        with transaction.atomic():
            message = customer_message_add(
                complaint=complaint,
                body=form.cleaned_data["body"],
                channel=Channel.WEB,
                idempotency_key=f"portal-reply:{submission}" if submission else "",
            )
            # The same form sent again finds its message, whose files are stored already.
            if not attachment_selectors.message_has_attachments(message.pk):
                attachments.attachments_add(
                    complaint=complaint,
                    files=files,
                    source=AttachmentSource.TRACKING,
                    actor=complaint.customer.user,
                    message=message,
                )
    except Conflict as error:
        # The same form sent again with other words (back, edit, send): the first message
        # stands; a fresh token lets the customer send this one as a new message.
        resent = request.POST.copy()
        resent["submission"] = new_submission_token()
        form = CustomerReplyForm(resent)
        form.is_valid()  # it was: only the token is new
        form.add_error(None, error.message)
        return _tracking_page(request, token, forms={"reply": form}, status=409)
    except RedressError as error:
        add_to_form(form, error)
        return _tracking_page(request, token, forms={"reply": form}, status=status_of(error))
    messages.success(request, _("Your message was sent. We will answer it soon."))
    return redirect("portal:track", token=token)


@require_POST
@answers_bad_links
def track_escalate(request, token: str):
    complaint = _complaint_of(token)
    form = EscalationRequestForm(request.POST)
    if not form.is_valid():
        return _tracking_page(request, token, forms={"escalation": form}, status=400)
    try:
        ladder.customer_request_escalation(complaint=complaint, reason=form.cleaned_data["reason"])
    except RedressError as error:
        form.add_error(None, error.message)
        return _tracking_page(request, token, forms={"escalation": form}, status=status_of(error))
    messages.success(
        request, _("Your request for escalation was recorded and sent to a supervisor.")
    )
    return redirect("portal:track", token=token)


# -- confirming an address -----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def confirm_address(request, token: str):
    """The receipt's "Confirm this complaint is yours". Opening the link changes nothing
    (mail scanners open links); the owner's submit links the complaint, once."""
    try:
        if request.method != "POST":
            complaint = address_proof.complaint_to_confirm(token)
            return render(request, "portal/confirm.html", {"complaint": complaint})
        complaint = address_proof.customer_address_confirm(token=token)
    except Gone as gone:
        return render(request, "portal/link_gone.html", {"message": gone.message}, status=410)
    except RedressError as error:
        return render(
            request, "portal/link_invalid.html", {"message": error.message}, status=status_of(error)
        )
    return render(request, "portal/confirm.html", {"complaint": complaint, "confirmed": True})


# -- the survey ------------------------------------------------------------------------------


def _survey_of(token: str):
    if len(token) > TOKEN_MAX_CHARS:
        raise LinkInvalid(_("This survey link is not valid."))
    try:
        return surveys.survey_for_token(token)
    except NotFound as error:
        raise LinkInvalid(error.message) from error


@require_http_methods(["GET", "POST"])
@answers_bad_links
def survey(request, token: str):
    """Three questions after the loop is closed. Opening the link records nothing (mail
    scanners open links); only a person's submit answers it, and only once."""
    found = _survey_of(token)
    if found.is_answered:
        return render(request, "portal/survey_done.html", {"survey": found, "already": True})
    if request.method != "POST":
        return render(request, "portal/survey.html", {"survey": found, "form": SurveyForm()})
    form = SurveyForm(request.POST)
    if not form.is_valid():
        return render(request, "portal/survey.html", {"survey": found, "form": form}, status=400)
    try:
        surveys.survey_submit(token=token, **form.cleaned_data)
    except RedressError as error:
        return show_error(
            request, "portal/survey.html", {"survey": found, "form": form}, form, error
        )
    return redirect("portal:survey-thanks", token=token)


@answers_bad_links
def survey_thanks(request, token: str):
    found = _survey_of(token)
    return render(request, "portal/survey_done.html", {"survey": found, "already": False})
