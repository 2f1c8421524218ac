"""Authentication rules of Redress: who may sign in, by password or by API token.

One rule (``may_sign_in``) serves the password backend, the API's token authentication and
the websockets' token authentication, so a door closed for one is closed for all. Tokens
also answer to compulsory enrolment (``second_factor.enrolment_required``) on every use.
"""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication
from rest_framework import exceptions

from recovery import roles, second_factor


def may_sign_in(user) -> bool:
    """Active, and not a demo account unless demos are allowed.

    ``seed_demo`` creates accounts with the well-known password ``demo``; on a production
    deployment (``REDRESS_DEMO`` off) they must not open a door even if the data is there,
    nor may a token issued to one while demos were on.
    """
    if not user.is_active:
        return False
    return settings.REDRESS_DEMO or not roles.has_role(user, roles.DEMO)


class RedressModelBackend(ModelBackend):
    """Django's backend, except that demo accounts only log in where demos are allowed."""

    def user_can_authenticate(self, user) -> bool:
        return super().user_can_authenticate(user) and may_sign_in(user)


class RedressTokenAuthentication(TokenAuthentication):
    """django-rest-knox tokens (hashed, expiring), refused to whoever may not sign in."""

    def authenticate_credentials(self, token: bytes):
        # Knox decodes the token as UTF-8 and looks its prefix up in PostgreSQL: raw bytes
        # that are not UTF-8 raised UnicodeDecodeError, a NUL a DataError (both a 500).
        # Issued tokens are printable ASCII, so anything else is simply not one of ours.
        text = token.decode("latin-1")
        if not (text.isascii() and text.isprintable()):
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token) -> bool:
        # Knox also sweeps the owner's other expired tokens here: a query on every request.
        # Only this token's expiry matters to this request; the others are swept when their
        # owner is issued a new one (api_token_issue).
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False

    def validate_user(self, auth_token):
        if not may_sign_in(auth_token.user):
            raise exceptions.AuthenticationFailed(_("This account may not sign in."))
        # Checked on every request, not only at issue: a token from before enrolment became
        # compulsory must not dodge it. No query unless REDRESS_STAFF_2FA_REQUIRED is on.
        if second_factor.enrolment_required(auth_token.user):
            raise exceptions.AuthenticationFailed(
                _("Staff must set up a second factor (desk, Second factor) before using the API.")
            )
        return (auth_token.user, auth_token)


def user_for_token(key: str):
    """The user an API token (as sent by a client) stands for; None if it opens nothing.

    The websockets' ``?token=`` takes this path, the very check the REST API makes.
    """
    try:
        user, _token = RedressTokenAuthentication().authenticate_credentials(key.encode())
    except (exceptions.AuthenticationFailed, UnicodeError):
        return None
    return user
