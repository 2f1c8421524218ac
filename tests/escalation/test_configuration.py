"""Configuration held per process (escalation.configuration): read once, and read again as soon
as anything changes it, however it was changed."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from escalation import configuration
from escalation.models import ConfigurationVersion, SlaPolicy
from escalation.policies import active_policies
from recovery import roles
from recovery.services import routing
from tests.conftest import api_client


@pytest.fixture(autouse=True)
def _configuration_cache_on(settings):
    """These tests are about the per-process configuration copies: switched on here."""
    settings.REDRESS_CONFIGURATION_CACHE = True


def policy_reads(captured) -> int:
    return sum('FROM "escalation_slapolicy"' in q["sql"] for q in captured)


def names() -> list[str]:
    return [policy.name for policy in active_policies()]


def test_unchanged_configuration_is_read_once(db):
    configuration.forget()
    first = names()
    with CaptureQueriesContext(connection) as captured:
        assert names() == first
    # Outside a request the token is compared on every read, and nothing else is read.
    assert policy_reads(captured) == 0
    assert len(captured) == 1


def test_a_change_by_queryset_update_is_seen_by_the_next_read(db):
    """No model signal fires for ``update()``: the database trigger changes the token."""
    assert "Standard" in names()
    SlaPolicy.objects.filter(name="Standard").update(name="Standard (2027)")
    assert "Standard (2027)" in names()


def test_a_change_made_elsewhere_is_seen_by_the_next_read(db):
    """Another process's change reaches this one only through the token row."""
    names()
    with connection.cursor() as cursor:
        # What another process's commit leaves behind, without any signal in this one.
        cursor.execute("ALTER TABLE escalation_slapolicy DISABLE TRIGGER configuration_changed")
        cursor.execute("UPDATE escalation_slapolicy SET name = 'Renamed' WHERE name = 'Standard'")
        cursor.execute("ALTER TABLE escalation_slapolicy ENABLE TRIGGER configuration_changed")
    assert "Renamed" not in names()  # the token did not change: the copy is kept
    with connection.cursor() as cursor:
        cursor.execute("UPDATE escalation_configurationversion SET token = token + 1")
    assert "Renamed" in names()


def test_a_change_rolled_back_does_not_stay_in_memory(db):
    with pytest.raises(RuntimeError), transaction.atomic():
        SlaPolicy.objects.filter(name="Standard").update(name="Abandoned")
        assert "Abandoned" in names()
        raise RuntimeError
    assert "Abandoned" not in names()
    assert "Standard" in names()


def test_a_request_compares_the_token_once(agent, team, make_complaint):
    client = api_client(agent)
    complaint = make_complaint()
    client.get(f"/api/complaints/{complaint.reference}/")
    with CaptureQueriesContext(connection) as captured:
        answer = client.get(f"/api/complaints/{complaint.reference}/")
    assert answer.status_code == 200
    token_reads = sum("escalation_configurationversion" in q["sql"] for q in captured)
    assert token_reads == 1


def test_token_authentication_brings_the_token_along(agent, team, make_complaint):
    from rest_framework.test import APIClient

    from tests.factories import api_token_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(agent)}")
    complaint = make_complaint()
    client.get(f"/api/complaints/{complaint.reference}/")
    SlaPolicy.objects.filter(name="Standard").update(name="Standard (2027)")
    with CaptureQueriesContext(connection) as captured:
        answer = client.get(f"/api/complaints/{complaint.reference}/")
    assert answer.status_code == 200
    reads = [q["sql"] for q in captured if "escalation_configurationversion" in q["sql"]]
    assert len(reads) == 1 and "knox_authtoken" in reads[0]
    # The change was seen: this process now holds the token the change wrote.
    assert configuration._token == ConfigurationVersion.objects.get(pk=1).token


def test_a_new_routing_rule_routes_the_next_complaint(team):
    from recovery.models import RoutingRule

    facts = routing.Facts("web", "", "", "parcel lost", "", "")
    assert routing.route(facts=facts).how == routing.How.DEFAULT
    RoutingRule.objects.create(name="Parcels", team=team, keywords=["parcel"], position=1)
    chosen = routing.route(facts=facts)
    assert (chosen.how, chosen.team) == (routing.How.RULE, team)


def test_a_permission_taken_from_a_role_is_refused_at_once(groups):
    user = get_user_model().objects.create(username="held")
    user.groups.add(groups[roles.AGENT])
    assert get_user_model().objects.get(pk=user.pk).has_perm("recovery.acknowledge_complaint")
    groups[roles.AGENT].permissions.remove(Permission.objects.get(codename="acknowledge_complaint"))
    fresh = get_user_model().objects.get(pk=user.pk)  # a new request's user
    assert not fresh.has_perm("recovery.acknowledge_complaint")
    assert fresh.has_perm("recovery.resolve_complaint")


def test_a_root_cause_retired_by_queryset_update_is_refused_at_once(db, root_causes):
    """The taxonomy a resolution checks its causes against is held per process too: a cause
    retired without any model signal (migration 0008's trigger) is retired for the next read."""
    from django.utils import timezone

    from recovery.models import RootCause
    from recovery.selectors import root_causes_by_code

    configuration.forget()
    assert root_causes_by_code()["billing.duplicate-charge"].is_active
    assert root_causes_by_code()["billing.duplicate-charge"].path == "Billing > Duplicate charge"
    RootCause.objects.filter(code="billing.duplicate-charge").update(retired_at=timezone.now())
    assert not root_causes_by_code()["billing.duplicate-charge"].is_active
