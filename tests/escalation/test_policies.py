"""Which SLA policy times a complaint: ordered policies, first active match wins.

Policies match on channel, category, severity, priority, customer segment and jurisdiction;
an empty list matches anything. The default "Standard" policy (position 1000, matches
everything) is the catch-all from migration 0002. Each policy made here sets only an
acknowledge target with its own length, so a clock shows which policy started it.
"""

from datetime import UTC, datetime

import pytest

from escalation.models import (
    BusinessCalendar,
    Clock,
    EscalationLadder,
    EscalationLevel,
    SlaPolicy,
    SlaTarget,
)
from escalation.policies import complaint_facts, matching_policy, policy_matches
from tests.factories import CategoryFactory

HOUR = 3600

ANY_FACTS = {
    "channels": "email",
    "categories": "cards",
    "severities": "high",
    "priorities": "urgent",
    "segments": "vip",
    "jurisdictions": "GB",
}


# --- the rule, without a database -------------------------------------------------------------


@pytest.mark.parametrize("field", list(ANY_FACTS))
def test_a_listed_value_matches_and_an_unlisted_one_does_not(field):
    listed = SlaPolicy(**{field: [ANY_FACTS[field], "other"]})
    unlisted = SlaPolicy(**{field: ["something-else"]})
    assert policy_matches(listed, ANY_FACTS)
    assert not policy_matches(unlisted, ANY_FACTS)


def test_an_empty_list_matches_anything_including_a_blank_value():
    blank = dict.fromkeys(ANY_FACTS, "")
    assert policy_matches(SlaPolicy(), ANY_FACTS)
    assert policy_matches(SlaPolicy(), blank)


def test_every_listed_field_must_match():
    policy = SlaPolicy(channels=["email"], severities=["critical"])
    assert not policy_matches(policy, ANY_FACTS)
    assert policy_matches(policy, {**ANY_FACTS, "severities": "critical"})


# --- against complaints -----------------------------------------------------------------------


@pytest.fixture
def office_hours(db):
    return BusinessCalendar.objects.get(slug="office-hours")


@pytest.fixture
def make_policy(office_hours):
    def make(name: str, *, position: int = 10, ack_hours: int, **match) -> SlaPolicy:
        policy = SlaPolicy.objects.create(
            name=name, position=position, calendar=office_hours, **match
        )
        SlaTarget.objects.create(policy=policy, clock="acknowledge", seconds=ack_hours * HOUR)
        return policy

    return make


@pytest.fixture
def monday(time_machine):
    time_machine.move_to(datetime(2026, 3, 2, 10, tzinfo=UTC), tick=False)


def ack_clock(complaint) -> Clock:
    return Clock.objects.get(complaint=complaint, kind="acknowledge")


def test_the_standard_policy_catches_what_nothing_else_matches(make_complaint, make_policy, monday):
    make_policy("Email only", ack_hours=2, channels=["email"])
    complaint = make_complaint(channel="web")
    assert matching_policy(complaint).name == "Standard"
    assert ack_clock(complaint).target_seconds == 8 * HOUR


def test_the_lower_position_wins_among_matching_policies(make_complaint, make_policy, monday):
    make_policy("Later", position=20, ack_hours=3, channels=["email"])
    make_policy("Earlier", position=10, ack_hours=2, channels=["email"])
    complaint = make_complaint(channel="email")
    assert ack_clock(complaint).policy.name == "Earlier"
    assert ack_clock(complaint).target_seconds == 2 * HOUR


def test_on_equal_positions_the_older_policy_wins(make_complaint, make_policy, monday):
    make_policy("First made", position=10, ack_hours=2)
    make_policy("Second made", position=10, ack_hours=3)
    assert ack_clock(make_complaint()).policy.name == "First made"


def test_an_inactive_policy_is_skipped(make_complaint, make_policy, monday):
    retired = make_policy("Retired", position=1, ack_hours=1)
    retired.is_active = False
    retired.save()
    make_policy("Current", position=2, ack_hours=2)
    assert ack_clock(make_complaint()).policy.name == "Current"


def test_channel_matches(make_complaint, make_policy, monday):
    make_policy("Phone", ack_hours=1, channels=["phone", "letter"])
    assert ack_clock(make_complaint(channel="letter")).policy.name == "Phone"
    assert ack_clock(make_complaint(channel="web")).policy.name == "Standard"


def test_category_matches_by_slug(make_complaint, make_policy, monday):
    CategoryFactory(slug="cards", name="Cards")
    CategoryFactory(slug="loans", name="Loans")
    make_policy("Cards", ack_hours=1, categories=["cards"])
    assert ack_clock(make_complaint(category="cards")).policy.name == "Cards"
    assert ack_clock(make_complaint(category="loans")).policy.name == "Standard"
    # No category at all is not "cards".
    assert ack_clock(make_complaint()).policy.name == "Standard"


def test_severity_matches(make_complaint, make_policy, monday):
    make_policy("Critical", ack_hours=1, severities=["critical"])
    assert ack_clock(make_complaint(severity="critical")).policy.name == "Critical"
    assert ack_clock(make_complaint(severity="high")).policy.name == "Standard"


def test_priority_matches(make_complaint, make_policy, monday):
    make_policy("Urgent", ack_hours=1, priorities=["urgent"])
    assert ack_clock(make_complaint(priority="urgent")).policy.name == "Urgent"
    # The default priority is "normal".
    assert ack_clock(make_complaint()).policy.name == "Standard"


def test_customer_segment_matches(make_complaint, make_policy, customer_user, monday):
    make_policy("VIP", ack_hours=1, segments=["vip"])
    assert ack_clock(make_complaint()).policy.name == "Standard"
    customer_user.customer.segment = "vip"
    customer_user.customer.save()
    assert ack_clock(make_complaint()).policy.name == "VIP"


def test_jurisdiction_matches(make_complaint, make_policy, monday):
    make_policy("Australia", ack_hours=1, jurisdictions=["AU"])
    assert ack_clock(make_complaint(jurisdiction="AU")).policy.name == "Australia"
    assert ack_clock(make_complaint(jurisdiction="GB")).policy.name == "Standard"


def test_first_match_is_by_order_not_by_how_specific_a_policy_is(
    make_complaint, make_policy, monday
):
    make_policy("Broad", position=1, ack_hours=4)
    make_policy("Narrow", position=2, ack_hours=1, channels=["email"], severities=["high"])
    assert ack_clock(make_complaint(channel="email", severity="high")).policy.name == "Broad"


def test_complaint_facts_read_every_matched_field(make_complaint, customer_user, monday):
    CategoryFactory(slug="cards", name="Cards")
    customer_user.customer.segment = "vip"
    customer_user.customer.save()
    complaint = make_complaint(
        channel="email", category="cards", severity="high", priority="urgent", jurisdiction="GB"
    )
    assert complaint_facts(complaint) == ANY_FACTS


def test_a_policy_without_a_target_for_a_clock_does_not_start_it(
    make_complaint, make_policy, monday
):
    # The policy that matches sets only acknowledge: no resolve clock, and no falling back
    # to a later policy for the missing target.
    make_policy("Acknowledge only", ack_hours=2)
    complaint = make_complaint()
    assert list(Clock.objects.filter(complaint=complaint).values_list("kind", flat=True)) == [
        "acknowledge"
    ]


def test_no_matching_policy_means_no_clocks(make_complaint, monday):
    SlaPolicy.objects.update(is_active=False)
    complaint = make_complaint()
    assert matching_policy(complaint) is None
    assert not Clock.objects.filter(complaint=complaint).exists()
    complaint.refresh_from_db()
    assert complaint.next_deadline_at is None


def test_a_clock_uses_its_policys_ladder_else_the_default_one(make_complaint, make_policy, monday):
    vip_ladder = EscalationLadder.objects.create(name="VIP ladder")
    EscalationLevel.objects.create(ladder=vip_ladder, level=1, target="complaints_manager")
    vip = make_policy("Phone", ack_hours=1, channels=["phone"])
    vip.ladder = vip_ladder
    vip.save()

    assert ack_clock(make_complaint(channel="phone")).ladder == vip_ladder
    # Standard names the default ladder; a policy naming none gets the default too.
    make_policy("Email", ack_hours=2, channels=["email"])
    default = EscalationLadder.objects.get(is_default=True)
    assert ack_clock(make_complaint(channel="email")).ladder == default
    assert ack_clock(make_complaint(channel="web")).ladder == default
