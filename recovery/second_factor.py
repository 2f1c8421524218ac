"""The staff's second factor: TOTP devices (django-otp), enrolment, codes, reset.

A password sign-in of an account with a confirmed device is *pending* until the code is
given: the password step keeps the account in the session (``pending_begin``), the code
step signs in (``code_verify`` then ``django.contrib.auth.login``). Wrong codes count as
failed sign-ins for the lockout (django-axes), and each device also slows down guesses on
its own (django-otp's throttle), so a stolen password does not buy unlimited guessing.
"""

import logging
import math
import time
from base64 import b32encode

import segno
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from common.errors import PermissionDenied, TooManyAttempts, ValidationFailed
from recovery import roles
from recovery.lockout import lockout_error
from recovery.services import api_tokens

logger = logging.getLogger(__name__)

PENDING_SESSION_KEY = "redress_2fa_pending"
CODE_DIGITS = 6


def confirmed_device(user) -> TOTPDevice | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def enrolment_required(user) -> bool:
    """Staff must enrol before anything else when ``REDRESS_STAFF_2FA_REQUIRED`` is on."""
    return (
        settings.REDRESS_STAFF_2FA_REQUIRED
        and roles.is_staff_member(user)
        and confirmed_device(user) is None
    )


# -- enrolment -------------------------------------------------------------------------------


@transaction.atomic
def enrolment_begin(*, user) -> TOTPDevice:
    """A new, unconfirmed device with a fresh secret; an earlier unconfirmed one is dropped.

    The secret is shown once, on the enrolment page that called this; leaving the page
    and coming back makes a new one, so a secret glimpsed on a screen is soon worthless.
    """
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=_("Authenticator app"), confirmed=False)


def enrolment_pending(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def enrolment_confirm(*, user, code: str) -> TOTPDevice:
    """Confirm the device being enrolled with a first code from the authenticator app."""
    device = enrolment_pending(user)
    if device is None:
        raise ValidationFailed(
            _("No enrolment in progress: open the second factor page again."),
            details={"code": ["no enrolment in progress"]},
        )
    _verify_or_raise(device, code)
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        # One device per account: the one just confirmed replaces any older one.
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        # Tokens issued on the password alone would go on dodging the new factor: revoke
        # them, as a password change does. The owner asks for new ones with a code.
        api_tokens.api_tokens_revoke_all(user=user)
    logger.info("second factor enrolled: user %s", user.pk)
    return device


def provisioning_uri(device: TOTPDevice) -> str:
    return device.config_url


def provisioning_svg(device: TOTPDevice) -> str:
    """The otpauth URI as a QR code, inline SVG (no image request carries the secret)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#000", light="#fff")


def secret_base32(device: TOTPDevice) -> str:
    return b32encode(device.bin_key).decode()


# -- sign-in -----------------------------------------------------------------------------


def pending_begin(request, *, user, next_url: str) -> None:
    """Remember that ``user`` gave the right password and now owes the code."""
    request.session[PENDING_SESSION_KEY] = {
        "user": user.pk,
        "backend": user.backend,
        "next": next_url,
        "at": time.time(),
    }


def pending_user(request):
    """(user, backend, next URL) of the pending sign-in; None if there is none or it expired."""
    pending = request.session.get(PENDING_SESSION_KEY)
    if not pending:
        return None
    if time.time() - pending["at"] > settings.REDRESS_2FA_PENDING_SECONDS:
        pending_clear(request)
        return None
    user = get_user_model()._default_manager.filter(pk=pending["user"]).first()
    if user is None or not user.is_active:
        pending_clear(request)
        return None
    return user, pending["backend"], pending["next"]


def pending_clear(request) -> None:
    request.session.pop(PENDING_SESSION_KEY, None)


def code_verify(*, request, user, code: str) -> TOTPDevice:
    """The user's device if ``code`` is its current code; else a typed error.

    1. a locked-out account or address is refused before the code is looked at;
    2. the device's own throttle refuses codes too soon after a wrong one;
    3. a wrong code is a failed sign-in for django-axes (which may lock out now).
    """
    credentials = {"username": user.get_username()}
    if not AxesProxyHandler.is_allowed(request, credentials):
        raise lockout_error()
    device = confirmed_device(user)
    if device is None:
        raise ValidationFailed(
            _("This account has no second factor."), details={"code": ["no device"]}
        )
    try:
        _verify_or_raise(device, code)
    except ValidationFailed:
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if getattr(request, "axes_locked_out", False):
            raise lockout_error() from None
        raise
    return device


def token_check(*, request, user, code: str | None) -> None:
    """Before an API token is issued: an enrolled account's code, checked as on the desk;
    staff who must enrol, enrol first (the token would dodge the desk's enrolment)."""
    if confirmed_device(user) is not None:
        if not code:
            raise ValidationFailed(
                _(
                    "This account has a second factor: send the code of its authenticator "
                    "app as otp."
                ),
                details={"otp": [_("This field is required for this account.")]},
            )
        code_verify(request=request, user=user, code=code)
    elif enrolment_required(user):
        raise PermissionDenied(
            _("Staff must set up a second factor (desk, Second factor) before using the API.")
        )


def _verify_or_raise(device: TOTPDevice, code: str) -> None:
    code = (code or "").replace(" ", "")
    if len(code) != CODE_DIGITS or not code.isdigit():
        raise ValidationFailed(
            _("Enter the 6-digit code from your authenticator app."),
            details={"code": ["six digits expected"]},
        )
    allowed, data = device.verify_is_allowed()
    if not allowed:
        locked_until = (data or {}).get("locked_until") or timezone.now()
        raise TooManyAttempts(
            _("Too many wrong codes; wait a few seconds and try again."),
            details={"locked_until": locked_until.isoformat()},
            retry_after_seconds=math.ceil((locked_until - timezone.now()).total_seconds()),
        )
    if not device.verify_token(code):
        raise ValidationFailed(
            _("That code is not right (or was already used); try the next one."),
            details={"code": ["wrong code"]},
        )


# -- recovery ------------------------------------------------------------------------------


def may_reset_devices(actor) -> bool:
    return actor.is_superuser or roles.has_role(actor, roles.COMPLAINTS_MANAGER)


def devices_reset(*, actor, user) -> int:
    """Remove ``user``'s second factor (a lost phone); they sign in with the password alone
    (or must enrol again when it is required). Logged; the admin action records it too."""
    if not may_reset_devices(actor):
        raise PermissionDenied(_("Only complaints managers and superusers reset second factors."))
    deleted, _rows = TOTPDevice.objects.filter(user=user).delete()
    logger.warning("second factor reset: user %s by %s", user.pk, actor.pk)
    return deleted
