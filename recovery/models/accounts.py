"""Accounts' links to the outside: who an identity provider's subject is here."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SsoIdentity(models.Model):
    """A staff account's identity at an OpenID Connect provider (recovery.oidc).

    Single sign-on finds the account by (issuer, subject), which the provider never reuses,
    rather than by email address, which many providers let their users change.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="sso_identities",
        verbose_name=_("user"),
    )
    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("single sign-on identity")
        verbose_name_plural = _("single sign-on identities")
        constraints = [
            # The sign-in's lookup, and one account per identity.
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"
