"""Give a chunked request the ``Content-Length`` it never declared.

HTTP/1.1 lets a client send its body in chunks, with no ``Content-Length``. DRF takes a
missing length for "no body" (``Request._load_stream``), so a chunked sign-in read as
empty ("username: This field is required") and no size limit, all of which look at the
declared length first, was ever applied. Under ASGI, Django's handler has already joined
the chunks into the request's body file before any middleware runs, so its size is known:
declaring it here mends every API view and every limit at once.
"""

import os


class ChunkedBodyLengthMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.META.get("CONTENT_LENGTH") and _is_chunked(request):
            size = _buffered_size(request)
            if size is not None:
                request.META["CONTENT_LENGTH"] = str(size)
        return self.get_response(request)


def _is_chunked(request) -> bool:
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


def _buffered_size(request) -> int | None:
    """Size of the ASGI handler's body file; None where the body is a live stream (WSGI)."""
    body_file = getattr(request, "_stream", None)
    if body_file is None or not hasattr(body_file, "seekable") or not body_file.seekable():
        return None
    here = body_file.tell()
    size = body_file.seek(0, os.SEEK_END)
    body_file.seek(here)
    return size - here
