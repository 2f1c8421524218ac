"""The desk page where a staff member enrols their authenticator app."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django_otp import login as otp_login

from common.errors import TooManyAttempts, ValidationFailed
from desk.desk import staff_required
from desk.signin import CodeForm
from recovery import second_factor


@staff_required
def enrol(request):
    device = second_factor.confirmed_device(request.user)
    if device is not None:
        return render(request, "desk/second_factor.html", {"device": device, "nav": "2fa"})
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = second_factor.enrolment_confirm(
                user=request.user, code=form.cleaned_data["code"]
            )
        except (ValidationFailed, TooManyAttempts) as error:
            form.add_error("code", error.message)
        else:
            # This session has just shown a code: it counts as verified.
            otp_login(request, device)
            messages.success(request, _("Second factor on: sign-ins now ask for a code."))
            next_url = request.GET.get("next", "")
            if url_has_allowed_host_and_scheme(next_url, {request.get_host()}):
                return redirect(next_url)
            return redirect("desk:two-factor")
    # A fresh secret on every visit (second_factor.enrolment_begin); a mistyped code shows
    # the same one again, so the app need not be set up twice.
    pending = form.errors and second_factor.enrolment_pending(request.user)
    pending = pending or second_factor.enrolment_begin(user=request.user)
    context = {
        "form": form,
        "qr_svg": second_factor.provisioning_svg(pending),
        "otpauth_uri": second_factor.provisioning_uri(pending),
        "secret": second_factor.secret_base32(pending),
        "required": second_factor.enrolment_required(request.user),
        "nav": "2fa",
    }
    status = 400 if form.errors else 200
    return render(request, "desk/second_factor.html", context, status=status)
