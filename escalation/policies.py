"""Which SLA policy applies to a complaint: ordered policies, first match wins."""

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
    # An empty list matches anything; otherwise the complaint's value must be listed.
    return all(
        not getattr(policy, name) or facts[name] in getattr(policy, name) for name in MATCH_FIELDS
    )


def matching_policy(complaint) -> SlaPolicy | None:
    facts = complaint_facts(complaint)
    policies = (
        SlaPolicy.objects.filter(is_active=True)
        .select_related("calendar", "ladder")
        .prefetch_related("targets")
        .order_by("position", "id")
    )
    return next((p for p in policies if policy_matches(p, facts)), None)
