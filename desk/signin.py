"""Staff sign-in on the desk and the admin: the password, then the code when enrolled.

Both doors share the two steps, so neither can be used to skip the second factor. The
account is signed in (``auth.login``: session, audit log, last_login) only after the code.
"""

from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, auth
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.views import LoginView, LogoutView, redirect_to_login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp import login as otp_login

from common.errors import TooManyAttempts, ValidationFailed
from desk import sso
from desk.landing import landing_url
from recovery import second_factor
from recovery.lockout import lockout_minutes


def redirect_to_sign_in(request):
    """To the sign-in page, then back where the user was.

    A GET comes back to itself. Anything else was a form sent after the session ended: its
    URL only takes a POST (a GET of it is a 405 or an empty form), so the user comes back to
    the page the form was on (the Referer, when it is this site's) or else to their queue,
    and the sign-in page says what was sent was not saved.
    """
    if request.method in ("GET", "HEAD"):
        return redirect_to_login(request.get_full_path())
    return redirect_to_login(form_page(request), f"{reverse('desk:login')}?expired=1")


def form_page(request) -> str:
    host = {request.get_host()}
    secure = request.is_secure()
    referer = request.headers.get("Referer", "")
    if url_has_allowed_host_and_scheme(referer, allowed_hosts=host, require_https=secure):
        parts = urlsplit(referer)
        page = parts.path + (f"?{parts.query}" if parts.query else "")
        # The path alone must be safe too: "//other.example/" is another site's address.
        if url_has_allowed_host_and_scheme(page, allowed_hosts=host, require_https=secure):
            return page
    return reverse("desk:my-queue")


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code from your authenticator app"),
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class PasswordStep(LoginView):
    """Django's login page, which defers to the code step for an enrolled account."""

    template_name = "desk/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        # Kept through a wrong password by the form's hidden field.
        expired = "expired" in self.request.GET or "expired" in self.request.POST
        return super().get_context_data(**kwargs, sso=sso.provider_name(), expired=expired)

    def get_default_redirect_url(self):
        # The account that just gave its password (not yet signed in when a code follows).
        return landing_url(getattr(self, "signing_in", None) or self.request.user)

    def form_valid(self, form):
        user = form.get_user()
        self.signing_in = user
        if second_factor.confirmed_device(user) is None:
            return super().form_valid(form)
        second_factor.pending_begin(self.request, user=user, next_url=self.get_success_url())
        return redirect("desk:login-code")


class AdminPasswordStep(PasswordStep):
    """The admin's login page (its form requires ``is_staff``), with the same code step.

    As ``AdminSite.login``: a signed-in account that may use the admin goes to it, any other
    sees the form (sending it to ``next`` would loop between the admin and this page).
    """

    template_name = "admin/login.html"
    authentication_form = AdminAuthenticationForm
    redirect_authenticated_user = False

    def dispatch(self, request, *args, **kwargs):
        if request.method == "GET" and admin.site.has_permission(request):
            return redirect("admin:index")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(admin.site.each_context(self.request), title=_("Log in"))
        return context

    def get_default_redirect_url(self):
        # Where a missing or unsafe ``next`` leads (LoginView checked it): the admin's index.
        return reverse("admin:index")


class SignOut(LogoutView):
    """Signing out stays a POST (a link could sign anyone out); a GET, from a typed or
    bookmarked address, shows a page with the button rather than the browser's 405."""

    http_method_names = ["get", "post", "options"]

    def get(self, request, *args, **kwargs):
        return render(request, "desk/logout.html")


def code_step(request):
    pending = second_factor.pending_user(request)
    if pending is None:
        return redirect("desk:login")
    user, backend, next_url = pending
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            device = second_factor.code_verify(
                request=request, user=user, code=form.cleaned_data["code"]
            )
        except TooManyAttempts as error:
            form.add_error(None, error.message)
            status = 429
        except ValidationFailed as error:
            form.add_error("code", error.message)
        else:
            second_factor.pending_clear(request)
            auth.login(request, user, backend=backend)
            otp_login(request, device)
            return redirect(next_url)
    response = render(request, "desk/login_code.html", {"form": form}, status=status)
    if status == 429:
        response["Retry-After"] = str(lockout_minutes() * 60)
    return response
