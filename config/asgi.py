"""ASGI entry point: HTTP through Django, websockets through Channels consumers.

In embedded mode the ASGI lifespan start-up also starts the in-process Celery worker and beat
(``config.embedded``); production runs them as separate processes, and the start-up connects
to their broker instead.
"""

import asyncio
import logging
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Django must be set up before anything imports models (consumers, routing).
django.setup(set_prefix=False)

from config.asgi_http import OneHopASGIHandler  # noqa: E402

django_asgi_app = OneHopASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from config.heap import freeze_startup_objects  # noqa: E402
from config.log_filters import RedactSecretsInPaths  # noqa: E402
from notifications.routing import websocket_urlpatterns  # noqa: E402
from notifications.socket_auth import TokenAuthMiddleware  # noqa: E402

# uvicorn's request and socket lines name the full path and query string: a token or a
# signed link in them is a working credential in the log. Added here, not in LOGGING,
# because configuring uvicorn's loggers there would remove the handlers uvicorn gave them.
for _uvicorn_logger in ("uvicorn.access", "uvicorn.error"):
    logging.getLogger(_uvicorn_logger).addFilter(RedactSecretsInPaths())


def ready_to_serve() -> None:
    """What a web process does once, before its first request.

    Starts the embedded runtime, or connects to the broker (``connect_producer``); imports
    every view (Django does so at the first request); then exempts all that from garbage
    collection (``config.heap``).
    """
    if settings.REDRESS_EMBEDDED:
        from config.embedded import start_embedded_runtime

        start_embedded_runtime()
    else:
        from config.celery import connect_producer

        connect_producer()
    get_resolver().url_patterns  # noqa: B018 -- loading the URL patterns imports the views
    freeze_startup_objects()


async def lifespan(scope, receive, send):
    """Answer the ASGI lifespan protocol: ready the process, stop the embedded runtime."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # Off the event loop: building the embedded worker runs Celery's Django fix-up,
            # which closes database connections, and Django refuses that from async code.
            await asyncio.to_thread(ready_to_serve)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if settings.REDRESS_EMBEDDED:
                from config.embedded import stop_embedded_runtime

                await asyncio.to_thread(stop_embedded_runtime)
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin checked against ALLOWED_HOSTS; session cookie or ?token= identifies the user.
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
        "lifespan": lifespan,
    }
)
