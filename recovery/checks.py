"""Start-up checks: single sign-on maps claims to roles that exist."""

from django.conf import settings
from django.core import checks

from recovery import roles


@checks.register()
def sso_role_mapping(app_configs, **kwargs):
    wrong = sorted(set(settings.REDRESS_OIDC_ROLE_CLAIMS.values()) - set(roles.STAFF_ROLES))
    if not wrong:
        return []
    return [
        checks.Error(
            f"REDRESS_OIDC_ROLE_CLAIMS maps to {', '.join(wrong)}, not staff roles.",
            hint=f"Map claim values to one of: {', '.join(roles.STAFF_ROLES)}.",
            id="redress.E201",
        )
    ]
