"""Refuse a URL path with a NUL in it, before any view looks it up.

PostgreSQL cannot store or compare a NUL in text: a path argument carrying one (``%00``)
reached a query and answered 500. No Redress URL has a NUL in it, so one guard here
answers 400 for every path argument of every view, now and to come.
"""

from django.http import HttpResponseBadRequest, JsonResponse

MESSAGE = "The URL contains a NUL character (%00); no Redress address has one."


class NulInPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path:
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"error": "bad_request", "message": MESSAGE, "details": {}}, status=400
                )
            return HttpResponseBadRequest(MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
