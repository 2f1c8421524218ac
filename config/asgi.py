"""ASGI entry point: HTTP through Django, routed by Channels (websockets join this router).

In embedded mode the ASGI lifespan start-up also starts the in-process Celery worker and beat
(``config.embedded``); production runs them as separate processes.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Django must be set up before anything imports models (consumers, routing).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402


async def lifespan(scope, receive, send):
    """Answer the ASGI lifespan protocol; start the embedded runtime when configured."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if settings.REDRESS_EMBEDDED:
                from config.embedded import start_embedded_runtime

                start_embedded_runtime()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "lifespan": lifespan,
    }
)
