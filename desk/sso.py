"""Single sign-on pages: the start (to the provider) and the callback (back from it).

The protocol and the account rules live in ``recovery.oidc``; these views add what a person
sees: a page saying why a sign-in was refused, never a 500, and 404 while it is off.
"""

import logging

import requests
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _
from mozilla_django_oidc import views as oidc_views

from desk.landing import landing_url
from recovery import oidc

logger = logging.getLogger(__name__)

SSO_SESSION_KEY = "redress_signed_in_by"


def provider_name() -> str:
    """The name on the "Sign in with …" button; empty when single sign-on is off."""
    return settings.REDRESS_OIDC_PROVIDER_NAME if oidc.enabled() else ""


def signed_in_by_sso(request) -> bool:
    return request.session.get(SSO_SESSION_KEY) == "oidc"


class Start(oidc_views.OIDCAuthenticationRequestView):
    """Sends the browser to the provider's sign-in page, with state and nonce kept."""

    get_settings = staticmethod(oidc.setting)

    def __init__(self, *args, **kwargs):
        # The library reads the endpoint here; ours may need discovery, so in get() instead.
        super(oidc_views.OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request):
        if not oidc.enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc.setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except (requests.RequestException, ValueError, SuspiciousOperation) as error:
            return _provider_unreachable(request, error)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


class Callback(oidc_views.OIDCAuthenticationCallbackView):
    """Back from the provider: sign in, or a page that says why not."""

    get_settings = staticmethod(oidc.setting)

    def get(self, request):
        if not oidc.enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            return super().get(request)
        except oidc.SignInRefused as refusal:
            return self._refused(str(refusal))
        except SuspiciousOperation as error:
            # A forged, expired or replayed answer, or one meant for another client.
            logger.warning("single sign-on refused: %s", error)
            return self._refused(_("The answer from the identity provider was not valid."))
        except (requests.RequestException, ImproperlyConfigured, ValueError) as error:
            return _provider_unreachable(request, error)

    @property
    def success_url(self):
        # The page the sign-in started from (kept in the session by the start, already
        # checked there), else where this account lands: a manager's dashboard, a queue.
        return self.request.session.get("oidc_login_next") or landing_url(self.user)

    def login_success(self):
        response = super().login_success()
        # Marks the session as vouched for by the provider: its factors, not ours, apply.
        self.request.session[SSO_SESSION_KEY] = "oidc"
        return response

    def login_failure(self):
        return self._refused(_("The identity provider did not sign you in."))

    def _refused(self, reason: str):
        user_login_failed.send(
            sender=__name__, credentials={"username": "(single sign-on)"}, request=self.request
        )
        return render(
            self.request,
            "desk/sso_refused.html",
            {"reason": reason, "provider": settings.REDRESS_OIDC_PROVIDER_NAME},
            status=403,
        )


def _provider_unreachable(request, error):
    logger.warning("single sign-on: identity provider unusable: %s", error)
    message = _(
        "The identity provider cannot be reached; try again later or sign in with a password."
    )
    return render(
        request,
        "desk/sso_refused.html",
        {"reason": message, "provider": settings.REDRESS_OIDC_PROVIDER_NAME},
        status=502,
    )
