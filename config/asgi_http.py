"""Django's ASGI handler with each request's whole path in one hop to a worker thread.

Django's own handler builds the middleware chain for async: the view runs in a thread, and
every middleware that can run either way is run async. With ours (sync only) in the middle
of the list, each request crossed between the event loop and the worker thread half a
dozen times (the sync middleware, then the async messages, clickjacking and django-axes
middleware, each of their hooks handed back to a thread, then the view): a fifth of a
complaint's API read went on those crossings. Here the chain is built as under WSGI, all
sync, and the event loop hands the request to it once. No view is async; an async one
would still run (Django adapts it as under WSGI).
"""

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class OneHopASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        # thread_sensitive: the same worker thread as Django's own ASGI handler gives views.
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)
