"""The sign-in lockout as a typed error: how long to wait, never whether the password was
right. What a locked-out request sees is ``config.lockout`` (django-axes' callable)."""

import math

from django.conf import settings
from django.utils.translation import ngettext

from common.errors import TooManyAttempts


def lockout_minutes() -> int:
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_message() -> str:
    minutes = lockout_minutes()
    return ngettext(
        "Too many failed attempts; try again in %(minutes)d minute.",
        "Too many failed attempts; try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def lockout_error() -> TooManyAttempts:
    minutes = lockout_minutes()
    return TooManyAttempts(
        lockout_message(),
        details={"retry_after_minutes": minutes},
        retry_after_seconds=minutes * 60,
    )
