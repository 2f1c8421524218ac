"""Start-up checks: the public URL every emailed link starts with is a usable one."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks


@checks.register()
def public_url(app_configs, **kwargs):
    """Refuse a ``REDRESS_PUBLIC_URL`` that would put broken links in every email.

    Customers follow these links from their mail client: a URL without a scheme or host
    ("redress.example.com", "https://") reaches nobody, and one with a path, query or
    fragment would have ours appended after it.
    """
    url = settings.REDRESS_PUBLIC_URL
    hint = "Give the address people reach Redress at, such as https://complaints.example.com."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError as exc:
        return [_error(url, f"it does not parse ({exc})", hint)]
    if parts.scheme not in ("http", "https"):
        return [_error(url, "it needs a scheme, http:// or https://", hint)]
    if not parts.hostname:
        return [_error(url, "it names no host", hint)]
    if parts.path.strip("/") or parts.query or parts.fragment:
        return [
            _error(
                url,
                "it must be the site's root: no path, query or fragment",
                "Serve Redress at the root of its own host name.",
            )
        ]
    return []


def _error(url: str, why: str, hint: str) -> checks.Error:
    return checks.Error(
        f"REDRESS_PUBLIC_URL={url!r} cannot start emailed links: {why}.",
        hint=hint,
        id="redress.E201",
    )
