"""Single sign-on for staff with OpenID Connect (mozilla-django-oidc, authorization code).

What Redress adds to the library:
- endpoints from the provider's discovery document (``REDRESS_OIDC_ISSUER``) unless given
  one by one, fetched when first needed, never at start-up;
- the ID token's issuer and audience are checked, and its expiry required (the library
  checks the signature, the expiry when present, and the nonce);
- accounts are found by (issuer, subject), never by email address, which many providers let
  users change;
- roles and teams come from claims on every sign-in (``REDRESS_OIDC_ROLE_CLAIMS``,
  ``REDRESS_OIDC_TEAM_CLAIMS``); claims that map to no staff role, a customer account or an
  account that may not sign in (``may_sign_in``) are refused with a reason
  (``SignInRefused``), which the callback page shows.
"""

import logging
import time

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import transaction
from django.utils.translation import gettext as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from recovery import roles
from recovery.auth import may_sign_in, session_user
from recovery.models import SsoIdentity, Team

logger = logging.getLogger(__name__)

# The discovery document changes when the provider rotates endpoints, which is rare; an hour
# bounds how long a change goes unseen while sparing the provider a fetch per sign-in.
DISCOVERY_TTL_SECONDS = 3600
# Seconds to wait on the provider per request: a dead provider fails the sign-in quickly.
PROVIDER_TIMEOUT_SECONDS = 10

_discovered: dict[str, tuple[float, dict]] = {}


class SignInRefused(Exception):
    """The provider vouched for the person, but Redress does not let them in; says why."""


def enabled() -> bool:
    return settings.REDRESS_OIDC_ENABLED


def provider_metadata() -> dict:
    """The provider's discovery document (cached), or {} when endpoints are set one by one."""
    url = settings.REDRESS_OIDC_DISCOVERY_URL
    if not url:
        return {}
    cached = _discovered.get(url)
    if cached and time.monotonic() - cached[0] < DISCOVERY_TTL_SECONDS:
        return cached[1]
    response = requests.get(url, timeout=PROVIDER_TIMEOUT_SECONDS)
    response.raise_for_status()
    metadata = response.json()
    issuer = settings.REDRESS_OIDC_ISSUER
    if issuer and metadata.get("issuer") != issuer:
        # OpenID Connect Discovery 1.0, section 4.3: the issuer must match exactly.
        raise SuspiciousOperation(f"Discovery names issuer {metadata.get('issuer')!r}.")
    _discovered[url] = (time.monotonic(), metadata)
    return metadata


# Our settings for mozilla-django-oidc's, filled from discovery when not given.
_ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


def setting(name: str, *default):
    """mozilla-django-oidc's ``get_settings``, with endpoints from discovery."""
    value = getattr(settings, name, None)
    if value not in (None, ""):
        return value
    if name in _ENDPOINTS:
        found = provider_metadata().get(_ENDPOINTS[name])
        if found:
            return found
    if default:
        return default[0]
    raise ImproperlyConfigured(f"Single sign-on: {name} is not set and not discovered.")


def mapped_roles(claims: dict) -> list[str]:
    return _mapped(claims, settings.REDRESS_OIDC_GROUPS_CLAIM, settings.REDRESS_OIDC_ROLE_CLAIMS)


def mapped_teams(claims: dict) -> list[str]:
    return _mapped(claims, settings.REDRESS_OIDC_TEAMS_CLAIM, settings.REDRESS_OIDC_TEAM_CLAIMS)


def _mapped(claims: dict, claim: str, mapping: dict[str, str]) -> list[str]:
    values = claims.get(claim) or []
    if isinstance(values, str):
        values = values.split()  # some providers send a space-separated string
    return sorted({mapping[value] for value in values if value in mapping})


class RedressOIDCBackend(OIDCAuthenticationBackend):
    # The library reads its settings in __init__, which Django runs for every sign-in, the
    # password ones included; ours are read (and discovered) only when an OIDC sign-in runs.
    def __init__(self, *args, **kwargs):
        self.UserModel = get_user_model()
        self.OIDC_RP_SIGN_ALGO = "RS256"
        self.OIDC_RP_IDP_SIGN_KEY = None

    get_settings = staticmethod(setting)

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self):
        return setting("OIDC_OP_TOKEN_ENDPOINT")

    @property
    def OIDC_OP_USER_ENDPOINT(self):
        return setting("OIDC_OP_USER_ENDPOINT", "")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self):
        return setting("OIDC_OP_JWKS_ENDPOINT")

    @property
    def OIDC_RP_CLIENT_ID(self):
        return settings.OIDC_RP_CLIENT_ID

    @property
    def OIDC_RP_CLIENT_SECRET(self):
        return settings.OIDC_RP_CLIENT_SECRET

    def authenticate(self, request, **kwargs):
        if not enabled() or request is None or "nonce" not in kwargs:
            return None  # a password sign-in: not ours
        return super().authenticate(request, **kwargs)

    def user_can_authenticate(self, user) -> bool:
        return super().user_can_authenticate(user) and may_sign_in(user)

    def get_user(self, user_id):
        """The session's user, read as the password backend reads it (``session_user``)."""
        return session_user(user_id)

    def verify_token(self, token, **kwargs):
        try:
            payload = super().verify_token(token, **kwargs)
        except jwt.InvalidTokenError as error:
            # The library turns only a bad signature into SuspiciousOperation; an expired
            # token (and PyJWT's other refusals) would otherwise escape as a 500.
            raise SuspiciousOperation(f"ID token refused: {error}") from None
        if not kwargs.get("nonce"):
            return payload  # a signed userinfo answer, not an ID token
        issuer = settings.REDRESS_OIDC_ISSUER or setting("OIDC_OP_ISSUER", "")
        if issuer and payload.get("iss") != issuer:
            raise SuspiciousOperation("ID token from another issuer.")
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if settings.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token for another client.")
        if "exp" not in payload:
            raise SuspiciousOperation("ID token without expiry.")
        self._id_claims = payload
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims, completed by the userinfo endpoint's when there is one."""
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = super().get_userinfo(access_token, id_token, payload)
            # OpenID Connect Core 5.3.2: userinfo about another subject must not be used.
            if userinfo.get("sub") != payload.get("sub"):
                raise SuspiciousOperation("Userinfo names another subject.")
            claims.update(userinfo)
        return claims

    def verify_claims(self, claims) -> bool:
        return bool(claims.get("sub"))

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        if not self.verify_claims(claims):
            raise SuspiciousOperation("Claims without a subject.")
        return sign_in_from_claims(claims=claims, issuer=payload.get("iss", ""))


@transaction.atomic
def sign_in_from_claims(*, claims: dict, issuer: str):
    """The account for these claims, created or updated, with roles and teams from them.

    1. the staff roles the claims map to; none: refused (and no account is made);
    2. the account linked to (issuer, subject), or a new one;
    3. refused if it is a customer's or may not sign in (deactivated, demo);
    4. its staff roles and mapped teams set to what the claims say.
    """
    role_names = mapped_roles(claims)
    if not role_names:
        raise SignInRefused(
            _("Your account at %(provider)s gives you no role in Redress; ask your administrator.")
            % {"provider": settings.REDRESS_OIDC_PROVIDER_NAME}
        )
    identity = (
        SsoIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=claims["sub"])
        .first()
    )
    user = identity.user if identity else _new_account(claims)
    if identity is None:
        SsoIdentity.objects.create(user=user, issuer=issuer, subject=claims["sub"])
    if roles.is_customer(user):
        raise SignInRefused(_("Customers do not sign in here."))
    if not may_sign_in(user):
        raise SignInRefused(_("This account is deactivated; ask your administrator."))
    _update_account(user, claims, role_names)
    return user


def _new_account(claims: dict):
    model = get_user_model()
    wanted = (claims.get("preferred_username") or claims.get("email") or claims["sub"])[:140]
    username, number = wanted, 1
    while model.objects.filter(username=username).exists():
        number += 1
        username = f"{wanted}-{number}"
    user = model(username=username)
    user.set_unusable_password()  # signs in through the provider only
    user.save()
    return user


def _update_account(user, claims: dict, role_names: list[str]) -> None:
    user.email = claims.get("email", user.email) or ""
    user.first_name = (claims.get("given_name") or user.first_name)[:150]
    user.last_name = (claims.get("family_name") or user.last_name)[:150]
    user.save(update_fields=["email", "first_name", "last_name"])
    # The provider is the source of the staff roles: those it no longer gives are removed.
    user.groups.remove(*Group.objects.filter(name__in=roles.STAFF_ROLES))
    user.groups.add(*Group.objects.filter(name__in=role_names))
    user._redress_groups = None
    # Teams named in the mapping follow the claims; teams it does not name are left alone.
    managed = Team.objects.filter(slug__in=settings.REDRESS_OIDC_TEAM_CLAIMS.values())
    wanted = set(mapped_teams(claims))
    for team in managed:
        if team.slug in wanted:
            team.members.add(user)
        else:
            team.members.remove(user)
    unknown = wanted - {team.slug for team in managed}
    if unknown:
        logger.warning("single sign-on: no team with slug %s", ", ".join(sorted(unknown)))
