"""Answer 405 to methods the web pages never serve, before a view renders a page for them.

The desk, portal and insights views are functions that treat anything but POST as a read:
``TRACE`` or ``OPTIONS`` got the whole page back, and (being "safe" methods to Django) past
the CSRF check. Pages serve GET, HEAD and POST; the API (``/api/``) answers its own methods
(DRF: OPTIONS describes an endpoint; TRACE is a 405 listing the endpoint's methods).
"""

from django.http import HttpResponseNotAllowed

PAGE_METHODS = ("GET", "HEAD", "POST")


class PageMethodsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # The API's views answer their own methods (a 405 there lists the endpoint's own).
        if request.path.startswith("/api/"):
            return self.get_response(request)
        if request.method not in PAGE_METHODS:
            return HttpResponseNotAllowed(PAGE_METHODS)
        return self.get_response(request)
