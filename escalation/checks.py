"""Start-up checks: the regulatory defaults name a known profile and jurisdiction."""

from django.conf import settings
from django.core import checks

from escalation import regulatory


@checks.register()
def regulatory_defaults(app_configs, **kwargs):
    problems = []
    profile = settings.REDRESS_REGULATORY_PROFILE
    if profile and regulatory.get_profile(profile) is None:
        problems.append(
            checks.Error(
                f"REDRESS_REGULATORY_PROFILE={profile!r} is not a known regulatory profile.",
                hint=f"Use one of: {', '.join(regulatory.PROFILES)}; or leave it empty.",
                id="redress.E101",
            )
        )
    jurisdiction = settings.REDRESS_JURISDICTION
    if not regulatory.is_known_jurisdiction(jurisdiction):
        problems.append(
            checks.Error(
                f"REDRESS_JURISDICTION={jurisdiction!r} is not a known jurisdiction.",
                hint=f"Use one of {', '.join(regulatory.known_jurisdictions())}, or an ISO "
                "3166 country or subdivision code such as FR or US-CA; or leave it empty.",
                id="redress.E102",
            )
        )
    return problems
