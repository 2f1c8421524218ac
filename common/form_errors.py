"""Showing a service's typed error on the form that caused it, with the HTTP status the API
would give (api.errors), never as a server error."""

from django.shortcuts import render

from common.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    RedressError,
    TransitionNotAllowed,
    ValidationFailed,
)

STATUS = {
    ValidationFailed: 400,
    PermissionDenied: 403,
    NotFound: 404,
    TransitionNotAllowed: 409,
    Conflict: 409,
}


def status_of(error: RedressError) -> int:
    for kind, status in STATUS.items():
        if isinstance(error, kind):
            return status
    return 400


def add_to_form(form, error: RedressError) -> None:
    """Put the error's field details on those fields, and its message on the form."""
    for field, problems in (error.details or {}).items():
        if field in form.fields and isinstance(problems, list | tuple):
            for problem in problems:
                form.add_error(field, str(problem))
    form.add_error(None, error.message)


def show_error(request, template: str, context: dict, form, error: RedressError):
    add_to_form(form, error)
    return render(request, template, context, status=status_of(error))
