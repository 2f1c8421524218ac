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
from django.db import transaction

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
            # Kept to re-check the token while the socket is open, and to close exactly the
            # sockets a revoked token opened.
            scope = dict(scope, user=user, api_token=key, api_token_key=token_key_of(key))
        return await super().__call__(scope, receive, send)


async def _refuse(receive, send) -> None:
    from notifications.consumers import CLOSE_UNAUTHENTICATED, refuse_connection

    await refuse_connection(receive, send, CLOSE_UNAUTHENTICATED)


# -- revocation reaching sockets already open ------------------------------------------------
#
# A socket is authenticated once, on connect. When a credential is revoked, the core
# announces it (``recovery.signals``) and this module sends, after commit, a message to the
# groups the affected sockets listen on; the consumers close themselves
# (``notifications.consumers``). A lost message (Redis down) is caught by the consumers'
# periodic re-check (``CREDENTIAL_RECHECK_S``).

CREDENTIALS_REVOKED = "credentials.revoked"
TRACKING_LINK_CHANGED = "tracking.link_changed"


def token_key_of(key: str) -> str:
    """The lookup prefix knox stores for a token (``AuthToken.token_key``)."""
    from knox.settings import CONSTANTS

    return key[: CONSTANTS.TOKEN_KEY_LENGTH]


def close_user_sockets(user_id: int, *, token_key: str | None = None) -> None:
    """After commit, close the user's sockets opened with ``token_key``, or all of them.

    All of them (``token_key`` None) when every token is revoked, the password changed or
    the account was deactivated: a browser's session socket goes too.
    """
    from notifications import delivery, groups

    message = {"type": CREDENTIALS_REVOKED, "token_key": token_key}
    transaction.on_commit(lambda: delivery.ring([(groups.user_group(user_id), message)]))


def recheck_tracking_sockets(complaint_id: int) -> None:
    """After commit, make the complaint's tracking sockets re-check the link they opened with."""
    from notifications import delivery, groups

    message = {"type": TRACKING_LINK_CHANGED}
    transaction.on_commit(lambda: delivery.ring([(groups.tracking_group(complaint_id), message)]))


def _on_credentials_revoked(sender, *, user_id: int, token_key: str | None, **_kwargs) -> None:
    close_user_sockets(user_id, token_key=token_key)


def _on_tracking_link_changed(sender, *, complaint_id: int, **_kwargs) -> None:
    recheck_tracking_sockets(complaint_id)


def connect_signals() -> None:
    """Listen to the core's revocations (``recovery.signals``); called from ``ready``."""
    from recovery import signals

    signals.credentials_revoked.connect(
        _on_credentials_revoked, dispatch_uid="redress-close-revoked-sockets"
    )
    signals.tracking_link_changed.connect(
        _on_tracking_link_changed, dispatch_uid="redress-recheck-tracking-sockets"
    )
