"""Where signing in leads when no ``next`` says otherwise, whichever door was used (the
password, the second factor's code, single sign-on)."""

from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse

from recovery import roles

# Who oversees rather than works a queue lands on the dashboard of the service's figures.
DASHBOARD_ROLES = (roles.COMPLAINTS_MANAGER, roles.HEAD_OF_CX)


def landing_url(user) -> str:
    """A complaints manager's (or the head of CX's) dashboard, everyone else's own queue."""
    if user is not None and any(roles.has_role(user, role) for role in DASHBOARD_ROLES):
        return reverse("insights:dashboard")
    return resolve_url(settings.LOGIN_REDIRECT_URL)
