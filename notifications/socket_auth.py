"""Websocket authentication by API token, next to Channels' session authentication.

Browsers authenticate with their session cookie (``AuthMiddlewareStack``); API clients send
``?token=<key>`` in the query string, since browsers' WebSocket API cannot set headers. The
token is checked exactly as the REST API checks it (``recovery.auth.user_for_token``):
hashed lookup, expiry, revocation, and the demo-account rule. As on the API, a token that
opens nothing is refused on every route (the tracking socket included), rather than taken
for an anonymous visitor: a client holding an expired or revoked token is told so.
"""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware

# A knox token is 64 characters; anything much longer is not one and is not hashed.
TOKEN_MAX_CHARS = 128


@database_sync_to_async
def _user_for_token(key: str):
    from recovery.auth import user_for_token

    return user_for_token(key)


class TokenAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        key = (query.get("token") or [""])[0]
        if key:
            user = await _user_for_token(key) if len(key) <= TOKEN_MAX_CHARS else None
            if user is None:
                return await _refuse(receive, send)
            scope = dict(scope, user=user)
        return await super().__call__(scope, receive, send)


async def _refuse(receive, send) -> None:
    from notifications.consumers import CLOSE_UNAUTHENTICATED, refuse_connection

    await refuse_connection(receive, send, CLOSE_UNAUTHENTICATED)
