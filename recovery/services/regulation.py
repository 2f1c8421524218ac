"""Which regulatory regime a complaint is under: checking the codes given at intake."""

from datetime import datetime

from escalation import regulatory
from recovery.errors import ValidationFailed


def check_codes(
    *,
    profile: str,
    jurisdiction: str,
    received_at: datetime | None = None,
    sent_to_company_at: datetime | None = None,
) -> None:
    """Refuse an unknown profile or jurisdiction code, naming the known ones: a typo must
    never silently take a complaint's legal deadlines away."""
    errors = {}
    found = regulatory.get_profile(profile)
    if profile and found is None:
        known = ", ".join(regulatory.PROFILES)
        errors["regulatory_profile"] = [f"Unknown regulatory profile {profile!r}; known: {known}."]
    elif found is not None and found.requires_region and jurisdiction not in found.regions_by_code:
        regions = ", ".join(found.regions_by_code)
        errors["jurisdiction"] = [
            f"{found.code} counts on the public holidays of the member state the complaint is "
            f"handled in: give jurisdiction as one of {regions}."
        ]
    if "jurisdiction" not in errors and not regulatory.is_known_jurisdiction(jurisdiction):
        known = ", ".join(regulatory.known_jurisdictions())
        errors["jurisdiction"] = [
            f"Unknown jurisdiction {jurisdiction!r}; use one of {known}, or an ISO 3166 "
            "country or subdivision code such as FR or US-CA."
        ]
    if sent_to_company_at and received_at and sent_to_company_at < received_at:
        errors["sent_to_company_at"] = ["Cannot be before the complaint was received."]
    if errors:
        field = next(iter(errors))
        raise ValidationFailed(errors[field][0], details=errors)
