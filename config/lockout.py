"""What a locked-out sign-in sees (django-axes' ``AXES_LOCKOUT_CALLABLE``).

The desk and admin sign-in pages re-render with the message and 429; the API answers 429
in its usual error shape. Both say how long to wait, never whether the password was right.
"""

from django.contrib.auth.forms import AuthenticationForm
from django.forms.utils import ErrorDict
from django.http import JsonResponse
from django.shortcuts import render

from recovery.lockout import lockout_error, lockout_message, lockout_minutes


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
