"""The address of the client behind a request, the one key every rate limit counts by.

``X-Forwarded-For`` is whatever the client wrote, except for the entries that proxies we
run appended: each proxy adds the address it was reached from at the right. With
``REDRESS_TRUSTED_PROXIES = N`` the N-th entry from the right is therefore the last one a
client cannot forge; with 0 (the default) the header is ignored and ``REMOTE_ADDR`` is the
client. Used by the DRF throttles, django-axes and the complaint form's limiter alike, so
that no limiter can be bypassed by writing a new address into the header per request.
"""

import ipaddress

from django.conf import settings


def client_address(request) -> str | None:
    """The client's IP address as text, or None when the request carries none usable."""
    meta = request.META
    proxies = settings.REDRESS_TRUSTED_PROXIES
    if proxies > 0:
        forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if forwarded:
            # Fewer entries than proxies means a proxy was bypassed or misconfigured: the
            # leftmost is then the best we have (Django REST framework's NUM_PROXIES rule).
            candidate = _valid_ip(forwarded[-min(proxies, len(forwarded))])
            if candidate:
                return candidate
    return _valid_ip(meta.get("REMOTE_ADDR", ""))


def _valid_ip(text: str) -> str | None:
    # Limiters store the address (axes in an inet column): anything else must not reach them.
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
