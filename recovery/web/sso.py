"""Single sign-on as the desk sees it: is it on, and was this session opened by it."""

from django.conf import settings

SSO_SESSION_KEY = "redress_signed_in_by"


def provider_name() -> str:
    """The name on the "Sign in with …" button; empty when single sign-on is off."""
    return settings.REDRESS_OIDC_PROVIDER_NAME if settings.REDRESS_OIDC_ENABLED else ""


def signed_in_by_sso(request) -> bool:
    return request.session.get(SSO_SESSION_KEY) == "oidc"
