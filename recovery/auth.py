"""Authentication rules of Redress: who may sign in, by password or by API token.

One rule (``may_sign_in``) serves the password backend, the API's token authentication and
the websockets' token authentication, so a door closed for one is closed for all. Tokens
also answer to compulsory enrolment (``second_factor.enrolment_required``) on every use.
"""

import binascii
from hmac import compare_digest

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import OuterRef, Value
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions

from common.compiled_queries import CompiledQuery
from escalation import configuration
from recovery import roles, second_factor
from recovery.models import Team


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

    def get_user(self, user_id):
        """The session's user, with what every request asks of it (``session_user``)."""
        user = session_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_group_permissions(self, user_obj, obj=None) -> set[str]:
        """As Django's, from the user's group names (``roles``, read once per request) and
        each group's permissions held per process (``escalation.configuration``), instead
        of a join over permissions and content types on every request."""
        if user_obj.is_superuser or not user_obj.is_active or user_obj.is_anonymous or obj:
            return super().get_group_permissions(user_obj, obj)
        if not hasattr(user_obj, "_group_perm_cache"):
            by_group = configuration.cached("group-permissions", _permissions_by_group)
            perms = set()
            for name in roles.group_names(user_obj):
                perms |= by_group.get(name, frozenset())
            user_obj._group_perm_cache = perms
        return user_obj._group_perm_cache


def _permissions_by_group() -> dict[str, frozenset[str]]:
    from django.contrib.auth.models import Group

    by_group: dict[str, set[str]] = {}
    rows = Group.objects.values_list(
        "name", "permissions__content_type__app_label", "permissions__codename"
    )
    for name, app_label, codename in rows:
        perms = by_group.setdefault(name, set())
        if codename:
            perms.add(f"{app_label}.{codename}")
    return {name: frozenset(perms) for name, perms in by_group.items()}


class RedressTokenAuthentication(TokenAuthentication):
    """django-rest-knox tokens (hashed, expiring), refused to whoever may not sign in."""

    def _cleanup_token(self, auth_token) -> bool:
        # Knox also sweeps the owner's other expired tokens here: a query on every request.
        # Only this token's expiry matters to this request; the others are swept when their
        # owner is issued a new one (api_token_issue).
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False

    def authenticate_credentials(self, token: bytes):
        """Knox's, with what every request asks of its user read in the same query: the
        customer profile, the group names and the user's own permissions, and the
        configuration token the request would otherwise read on its own (PostgreSQL)."""
        msg = _("Invalid token.")
        # Raw bytes that are not UTF-8 raised UnicodeDecodeError, a NUL a DataError in the
        # lookup (both a 500). Issued tokens are printable ASCII: anything else is not ours.
        token = token.decode("latin-1")
        if not (token.isascii() and token.isprintable()):
            raise exceptions.AuthenticationFailed(msg)
        for auth_token in _tokens_with_user(token[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(token)
            except (TypeError, binascii.Error) as exc:
                raise exceptions.AuthenticationFailed(msg) from exc
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                _remember_user_facts(auth_token)
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(msg)

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


def _tokens_with_user(token_key: str):
    if connection.vendor != "postgresql":
        return AuthToken.objects.filter(token_key=token_key).select_related("user__customer")
    # Compiled once per process: building this query cost more than running it.
    return _TOKENS_WITH_USER_FACTS.run(token_key=token_key)


def _tokens_with_user_facts(token_key: str):
    # Subqueries, not joins with GROUP BY: the grouped form was estimated at thousands of rows,
    # over PostgreSQL's JIT threshold, and compiled on every request (60 ms of its CPU).
    user = get_user_model()
    tokens = AuthToken.objects.filter(token_key=token_key).select_related("user__customer")
    return tokens.annotate(
        configuration_token=configuration.token_query(),
        group_names=ArraySubquery(
            user.groups.through.objects.filter(user_id=OuterRef("user_id")).values("group__name")
        ),
        own_permissions=ArraySubquery(
            user.user_permissions.through.objects.filter(user_id=OuterRef("user_id"))
            .annotate(
                name=Concat(
                    "permission__content_type__app_label", Value("."), "permission__codename"
                )
            )
            .values("name")
        ),
        team_ids=ArraySubquery(
            Team.members.through.objects.filter(user_id=OuterRef("user_id")).values("team_id")
        ),
    )


_TOKENS_WITH_USER_FACTS = CompiledQuery(_tokens_with_user_facts, token_key=str)


def _remember_user_facts(auth_token) -> None:
    """Put the annotated facts where ``roles``, ``access`` and Django's ModelBackend look for
    them first, and the configuration token where ``escalation.configuration`` does."""
    if getattr(auth_token, "group_names", None) is None:
        return
    _remember_facts(auth_token.user, auth_token)
    auth_token.user._redress_team_ids = frozenset(auth_token.team_ids)


def _remember_facts(user, row) -> None:
    """The group names, own permissions and configuration token ``row`` was annotated with
    (``_user_facts``), put on ``user``."""
    configuration.token_read(row.configuration_token)
    user._redress_groups = frozenset(name for name in row.group_names if name)
    # For this request's lists only (recovery.access.teams_read_with): not for who works a
    # complaint, which rules.works_on asks afresh (a socket keeps its user for hours).
    user._redress_request_team_ids = frozenset(row.team_ids)
    if not user.is_superuser:  # Django gives a superuser every permission there is
        user._user_perm_cache = {perm for perm in row.own_permissions if perm}


def _user_facts(user_ref: str = "pk") -> dict:
    """``annotate()`` arguments bringing a user's group names, own permissions and teams,
    and the configuration token, along in the query that reads the user (PostgreSQL).
    Subqueries, not joins: two joins would multiply each other's rows."""
    from django.contrib.auth.models import Group, Permission

    return {
        "configuration_token": configuration.token_query(),
        "team_ids": ArraySubquery(
            Team.members.through.objects.filter(user_id=OuterRef(user_ref)).values("team_id")
        ),
        "group_names": ArraySubquery(
            Group.objects.filter(user=OuterRef(user_ref)).order_by().values("name")
        ),
        "own_permissions": ArraySubquery(
            Permission.objects.filter(user=OuterRef(user_ref))
            .order_by()
            .values(
                dotted=Concat("content_type__app_label", Value("."), "codename"),
            )
        ),
    }


def session_user(user_id):
    """The user a session names, or None: its customer profile, group names and own
    permissions, its teams and the configuration token, read in one query (PostgreSQL), as
    the API's token authentication reads them. The teams serve this request's lists (the
    queue, ``recovery.access.teams_read_with``), not who works a complaint: a socket keeps
    its user for hours, and that must follow a change of team at once (``rules.works_on``)."""
    if connection.vendor != "postgresql":
        return (
            get_user_model()._default_manager.select_related("customer").filter(pk=user_id).first()
        )
    try:
        user_id = get_user_model()._meta.pk.to_python(user_id)
    except ValidationError:  # a session naming no possible user names nobody
        return None
    # Compiled once per process: Django built this query's SQL (four subqueries) on every
    # request, a sixth of a queue page's CPU.
    found = _SESSION_USER.run(user_id=user_id)
    if not found:
        return None
    user = found[0]
    _remember_facts(user, user)
    return user


def _session_user(user_id: int):
    users = get_user_model()._default_manager.select_related("customer")
    # What ``first()`` reads.
    return users.annotate(**_user_facts()).filter(pk=user_id).order_by("pk")[:1]


_SESSION_USER = CompiledQuery(_session_user, user_id=int)


def user_for_token(key: str):
    """The user an API token (as sent by a client) stands for; None if it opens nothing.

    The websockets' ``?token=`` takes this path, the very check the REST API makes.
    """
    try:
        user, _token = RedressTokenAuthentication().authenticate_credentials(key.encode())
    except (exceptions.AuthenticationFailed, UnicodeError):
        return None
    return user
