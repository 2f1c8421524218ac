"""Websocket authentication by API token, next to Channels' session authentication.

Browsers authenticate with their session cookie (``AuthMiddlewareStack``); API clients send
``?token=<key>`` in the query string, since browsers' WebSocket API cannot set headers.
"""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware


@database_sync_to_async
def _user_for_token(key: str):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


class TokenAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        key = (query.get("token") or [""])[0]
        if key:
            user = await _user_for_token(key[:64])
            if user is not None:
                scope = dict(scope, user=user)
        return await super().__call__(scope, receive, send)
