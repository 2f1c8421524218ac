"""Start-up checks: the public URL every emailed link starts with is a usable one; in
production, the address customer emails come from is a real one."""

from email.utils import parseaddr
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


@checks.register(deploy=True)
def from_address(app_configs, **kwargs):
    """Warn (``check --deploy``, DEBUG off) when customer emails would come from ``.invalid``.

    ``.invalid`` (RFC 2606) is the default when neither ``DEFAULT_FROM_EMAIL`` nor
    ``REDRESS_EMAIL_DOMAIN`` is set: fine for development, but customers' replies to it go
    nowhere and receiving servers reject or junk mail from a domain that cannot exist.
    """
    if settings.DEBUG:
        return []
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    domain = address.rpartition("@")[2].lower().rstrip(".")
    if domain != "invalid" and not domain.endswith(".invalid"):
        return []
    return [
        checks.Warning(
            f"Customer emails would come from {settings.DEFAULT_FROM_EMAIL!r}, on the reserved "
            "domain .invalid: replies to it go nowhere.",
            hint="Set REDRESS_EMAIL_DOMAIN (From becomes complaints@ that domain) or "
            "DEFAULT_FROM_EMAIL; see docs/operations.md.",
            id="redress.W202",
        )
    ]


def _error(url: str, why: str, hint: str) -> checks.Error:
    return checks.Error(
        f"REDRESS_PUBLIC_URL={url!r} cannot start emailed links: {why}.",
        hint=hint,
        id="redress.E201",
    )
