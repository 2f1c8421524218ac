"""What a locked-out sign-in sees (django-axes' ``AXES_LOCKOUT_CALLABLE``).

The desk and admin sign-in pages re-render with the message and 429; the API answers 429
in its usual error shape. Both say how long to wait, never whether the password was right.
"""

import math

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.forms.utils import ErrorDict
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import ngettext

from common.errors import TooManyAttempts


def lockout_minutes() -> int:
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_message() -> str:
    minutes = lockout_minutes()
    return ngettext(
        "Too many failed attempts; try again in %(minutes)d minute.",
        "Too many failed attempts; try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def lockout_error() -> TooManyAttempts:
    minutes = lockout_minutes()
    return TooManyAttempts(
        lockout_message(),
        details={"retry_after_minutes": minutes},
        retry_after_seconds=minutes * 60,
    )


def lockout_response(request, original_response=None, credentials=None):
    retry_after = str(lockout_minutes() * 60)
    if request.path.startswith("/api/"):
        error = lockout_error()
        response = JsonResponse(
            {"error": error.code, "message": error.message, "details": error.details},
            status=429,
        )
    else:
        # Unbound: validating the form would try the password again (and count a failure).
        form = AuthenticationForm(request, initial={"username": request.POST.get("username")})
        form.cleaned_data = {}
        form._errors = ErrorDict()
        form.add_error(None, lockout_message())
        template = "admin/login.html" if request.path.startswith("/admin/") else "desk/login.html"
        context = {"form": form, "next": request.POST.get("next", "")}
        if template.startswith("admin/"):
            from django.contrib import admin

            context.update(admin.site.each_context(request), title="Log in")
        response = render(request, template, context, status=429)
    response["Retry-After"] = retry_after
    return response
