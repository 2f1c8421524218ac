"""Answer 503 with ``Retry-After`` when every pooled database connection stays busy.

A request waits up to ``REDRESS_DB_POOL_TIMEOUT`` for a connection of its process's pool
(config/settings.py); past that the server is overloaded, not broken, and the client is told
to come back rather than shown an error page. Any other uncaught error keeps Django's 500.
"""

import sys

from django.http import HttpResponse, JsonResponse
from django.views import defaults

RETRY_AFTER_SECONDS = 5
MESSAGE = "Every database connection is busy; try again in a few seconds."


def pool_exhausted(exc: BaseException | None) -> bool:
    """Whether ``exc`` (Django wraps the driver's errors) came from a pool wait running out."""
    try:
        from psycopg_pool import PoolTimeout
    except ImportError:  # SQLite only: no pool
        return False
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, PoolTimeout):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def server_error(request):
    """Django's ``handler500``, called while the uncaught exception is being handled."""
    if not pool_exhausted(sys.exc_info()[1]):
        return defaults.server_error(request)
    if request.path.startswith("/api/"):
        response = JsonResponse({"error": "busy", "message": MESSAGE, "details": {}}, status=503)
    else:
        response = HttpResponse(MESSAGE, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
