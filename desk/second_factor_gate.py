"""Middleware: a signed-in session that owes its second factor goes nowhere else.

Only while ``REDRESS_STAFF_2FA_REQUIRED`` is on, so that by default a request pays no query
for it. Then, on desk, admin and session-authenticated API requests:
- an account with a device whose session did not pass a code (it began before the device
  was enrolled, or before the setting was on): signed out, to sign in again with the code;
- staff without a device: sent to enrol.
Single sign-on sessions are exempt: the identity provider asks for its own factors.

With the setting off, the code is asked at every sign-in of an enrolled account (the
sign-in pages), and a session open elsewhere when its account enrols lives on until it ends.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from desk import signin, sso
from recovery import second_factor

# Pages a session owing its second factor may still open: signing in and out, enrolling.
_OPEN_PATHS = ("/desk/login/", "/desk/logout/", "/desk/two-factor/", "/static/", "/oidc/")


class SecondFactorGate:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        answer = self._owed(request)
        return answer or self.get_response(request)

    def _owed(self, request):
        if not settings.REDRESS_STAFF_2FA_REQUIRED:
            return None
        user = request.user
        if not user.is_authenticated or request.path.startswith(_OPEN_PATHS):
            return None
        # is_verified() needs no query beyond OTPMiddleware's; only sessions that did not
        # give a code pay for looking the device up.
        if user.is_verified() or sso.signed_in_by_sso(request):
            return None
        if second_factor.confirmed_device(user) is not None:
            logout(request)
            return self._answer(request, "desk:login", _("Sign in again with your code."))
        if second_factor.enrolment_required(user):
            return self._answer(
                request, "desk:two-factor", _("Set up your second factor before going on.")
            )
        return None

    def _answer(self, request, url_name: str, message: str):
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"error": "second_factor_required", "message": message, "details": {}},
                status=403,
            )
        if url_name == "desk:login":
            # Signed out: a form sent now is lost, and the sign-in page says so.
            return signin.redirect_to_sign_in(request)
        return redirect(f"{reverse(url_name)}?{urlencode({'next': request.get_full_path()})}")
