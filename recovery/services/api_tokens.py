"""API tokens: issue, list, revoke one or all (django-rest-knox keeps only their hash).

A token is shown once, when issued; afterwards its owner recognises it by its first
characters (``token_key``, knox's lookup prefix: 15 of 64 hexadecimal characters, which
leaves 196 secret bits). Changing the password or deactivating the account revokes every
token of the account (``revoke_on_credentials_change``), as a changed password must lock
out whoever learned the old one.
"""

from django.contrib.auth.hashers import check_password
from django.db.models import QuerySet
from django.utils import timezone
from knox.models import AuthToken

from common.errors import NotFound
from recovery import signals


def api_token_issue(*, user) -> tuple[AuthToken, str]:
    """A new token for ``user``, expiring after ``REDRESS_TOKEN_TTL_HOURS``; (row, secret).

    The user's expired tokens go at the same time, so they do not pile up.
    """
    AuthToken.objects.filter(user=user, expiry__lte=timezone.now()).delete()
    return AuthToken.objects.create(user=user)


def api_tokens_of(user) -> QuerySet[AuthToken]:
    """The tokens ``user`` holds that still open the API, newest first."""
    return AuthToken.objects.filter(user=user, expiry__gt=timezone.now()).order_by("-created")


def api_token_revoke(*, user, token_key: str) -> None:
    """Revoke one of ``user``'s tokens, named by its first characters."""
    deleted, _ = AuthToken.objects.filter(user=user, token_key=token_key).delete()
    if not deleted:
        raise NotFound(
            "No such token among yours: it may have expired or been revoked already.",
            details={"token_key": token_key},
        )
    signals.credentials_revoked.send(sender=None, user_id=user.pk, token_key=token_key)


def api_tokens_revoke_all(*, user) -> int:
    """Revoke every token of ``user``; how many there were."""
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    # Every socket, not only the token ones: this also runs on a password change or a
    # deactivation (``revoke_on_credentials_change``), which must end session sockets too.
    signals.credentials_revoked.send(sender=None, user_id=user.pk, token_key=None)
    return deleted


# -- revocation when credentials change (signal receivers, connected in RecoveryConfig) ----


def note_credentials_change(sender, instance, raw=False, update_fields=None, **kwargs):
    """pre_save of the user model: mark a password change or a deactivation."""
    instance._redress_revoke_tokens = False
    if raw or instance.pk is None:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # e.g. update_last_login: no query on every sign-in
    before = sender._default_manager.filter(pk=instance.pk).values("password", "is_active")
    before = before.first()
    if before is None:
        return
    deactivated = before["is_active"] and not instance.is_active
    instance._redress_revoke_tokens = deactivated or _password_changed(before["password"], instance)


def _password_changed(old_hash: str, user) -> bool:
    if old_hash == user.password:
        return False
    # Django re-hashes a correct password when its hasher or iteration count changes; the
    # password is the same then (set_password keeps the raw one until save), so no revocation.
    raw = getattr(user, "_password", None)
    return raw is None or not check_password(raw, old_hash)


def revoke_on_credentials_change(sender, instance, raw=False, **kwargs):
    """post_save of the user model: revoke the tokens when pre_save marked a change."""
    if getattr(instance, "_redress_revoke_tokens", False):
        instance._redress_revoke_tokens = False
        api_tokens_revoke_all(user=instance)
