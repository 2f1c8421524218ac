"""One place where errors become HTTP answers: every error body has the same shape.

``{"error": code, "message": what to do, "details": {...}}``
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common import errors
from common.rest.parsers import RequestTooLarge

STATUS_BY_ERROR = {
    errors.TransitionNotAllowed: status.HTTP_409_CONFLICT,
    errors.Conflict: status.HTTP_409_CONFLICT,
    errors.PermissionDenied: status.HTTP_403_FORBIDDEN,
    errors.ValidationFailed: status.HTTP_400_BAD_REQUEST,
    errors.NotFound: status.HTTP_404_NOT_FOUND,
    errors.TooManyAttempts: status.HTTP_429_TOO_MANY_REQUESTS,
    errors.Gone: status.HTTP_410_GONE,
}


def exception_handler(exc, context):
    if isinstance(exc, errors.RedressError):
        # The nearest class in the hierarchy decides (OutsideYourQueue is a PermissionDenied).
        code = next(
            (STATUS_BY_ERROR[kind] for kind in type(exc).__mro__ if kind in STATUS_BY_ERROR),
            status.HTTP_400_BAD_REQUEST,
        )
        response = Response(
            {"error": exc.code, "message": exc.message, "details": exc.details}, status=code
        )
        if isinstance(exc, errors.TooManyAttempts):
            response["Retry-After"] = str(exc.retry_after_seconds)
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        # Django's own cap on a body read whole (DATA_UPLOAD_MAX_MEMORY_SIZE), met before our
        # parser's smaller one when DRF reads a JSON body in full: the same 413, not Django's
        # HTML 400 page.
        exc = RequestTooLarge(
            f"The request body is over the limit of {settings.REDRESS_MAX_JSON_BODY_BYTES:,} bytes."
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "error": "validation_failed",
            "message": _summarise(exc.detail),
            "details": exc.detail
            if isinstance(exc.detail, dict)
            else {"non_field_errors": exc.detail},
        }
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        response.data = {
            "error": getattr(detail, "code", None) or exc.default_code,
            "message": str(detail),
            "details": {},
        }
    return response


@csrf_exempt  # it changes nothing; a token client's POST gets this 404, not a CSRF page
def no_such_endpoint(request):
    """The last pattern under /api/: an address no endpoint matched gets the API's error body.
    As a view, not only as ``handler404``, so it answers the same with DEBUG on (Django's
    debug 404 page would list every URL pattern, in HTML)."""
    return JsonResponse(
        {
            "error": "not_found",
            "message": f"No API endpoint at {request.path}; /api/schema/ lists them.",
            "details": {},
        },
        status=status.HTTP_404_NOT_FOUND,
    )


def not_found(request, exception):
    """Django's 404 with DEBUG off: under /api/ the API's error body, elsewhere the site's
    page."""
    if request.path.startswith("/api/"):
        return no_such_endpoint(request)
    return defaults.page_not_found(request, exception)


def _summarise(detail) -> str:
    return "Invalid request. " + "; ".join(_problems(detail))


def _problems(detail, prefix: str = "") -> list[str]:
    """Flatten nested field errors into ``field.sub: message`` lines."""
    if isinstance(detail, dict):
        lines = []
        for field, problems in detail.items():
            name = f"{prefix}.{field}" if prefix else str(field)
            lines.extend(_problems(problems, name))
        return lines
    if isinstance(detail, list):
        if detail and all(not isinstance(item, dict | list) for item in detail):
            return [f"{prefix}: {detail[0]}" if prefix else str(detail[0])]
        lines = []
        for item in detail:
            lines.extend(_problems(item, prefix))
        return lines
    return [f"{prefix}: {detail}" if prefix else str(detail)]
