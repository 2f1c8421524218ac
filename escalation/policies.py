"""Which SLA policy applies to a complaint: ordered policies, first match wins."""

from escalation import configuration
from escalation.models import SlaPolicy


def complaint_facts(complaint) -> dict[str, str]:
    """The values policies match on, read once from the complaint."""
    return {
        "channels": complaint.channel,
        "categories": complaint.category.slug if complaint.category_id else "",
        "severities": complaint.severity,
        "priorities": complaint.priority,
        "segments": complaint.customer.segment,
        "jurisdictions": complaint.jurisdiction,
    }


MATCH_FIELDS = ("channels", "categories", "severities", "priorities", "segments", "jurisdictions")


def policy_matches(policy: SlaPolicy, facts: dict[str, str]) -> bool:
    # An empty list matches anything; otherwise the complaint's value must be listed. A
    # country listed under jurisdictions covers its parts: "GB" matches "GB-SCT".
    return all(_listed(name, getattr(policy, name), facts[name]) for name in MATCH_FIELDS)


def _listed(name: str, listed, value: str) -> bool:
    if not listed:
        return True
    if not isinstance(listed, list):
        return False  # a malformed list (saved before validation) matches nothing
    if name == "jurisdictions":
        return any(value == item or value.startswith(f"{item}-") for item in listed)
    return value in listed


def active_policies() -> list[SlaPolicy]:
    """The active policies in order, with targets, calendar, closures and ladder; read once
    per process until one of them changes (``escalation.configuration``)."""
    return configuration.cached(
        "sla-policies",
        lambda: list(
            SlaPolicy.objects.filter(is_active=True)
            .select_related("calendar", "ladder")
            .prefetch_related("targets", "calendar__closures")
            .order_by("position", "id")
        ),
    )


def matching_policy(complaint) -> SlaPolicy | None:
    facts = complaint_facts(complaint)
    return next((p for p in active_policies() if policy_matches(p, facts)), None)
