"""The queue, GET /api/complaints/: a fixed number of queries per page, and honest filters."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from recovery.models import Channel, Complaint, JourneyStage, Severity, State, Touchpoint
from tests.factories import CategoryFactory, CustomerFactory, api_token_for

PAGE_SIZES = (1, 10, 50, 200)
# Rows in the queue: more than the largest page, so every page is full and paginated.
QUEUE_ROWS = 230
# token + user, the user's groups, user and group permissions, the count, the page.
STAFF_QUEUE_QUERIES = 6
# token + user, the user's groups, their customer record, the count, the page.
CUSTOMER_QUEUE_QUERIES = 5
STATES = [choice for choice, _ in State.choices]
CHANNELS = [choice for choice, _ in Channel.choices]
SEVERITIES = [choice for choice, _ in Severity.choices]


@pytest.fixture
def queue(team, other_team, agent, other_agent, supervisor, customer_user, other_customer_user):
    """Complaints with every kind of related row, some missing, in shifting combinations.

    Written directly rather than through intake: the queue reads rows, however they came
    to be, and 230 intakes would only slow the test down. Cycle lengths are pairwise
    co-prime-ish so that teams, assignees, categories and so on combine differently.
    """
    categories = [CategoryFactory(), CategoryFactory(default_team=other_team), None]
    touchpoints = [
        Touchpoint.objects.create(name=name, slug=name.lower().replace(" ", "-"))
        for name in ("Website", "Call centre", "Store", "Courier")
    ] + [None]
    stages = [
        JourneyStage.objects.get_or_create(slug=slug, defaults={"name": slug.title()})[0]
        for slug in ("purchase", "delivery", "billing")
    ] + [None]
    customers = [
        customer_user.customer,
        other_customer_user.customer,
        *CustomerFactory.create_batch(5),
    ]
    teams = [team, other_team, None]
    assignees = [agent, other_agent, supervisor, None]
    now = timezone.now()
    complaints = [
        Complaint(
            reference=f"RDR-2000-{n:06d}",
            customer=customers[n % len(customers)],
            channel=CHANNELS[n % len(CHANNELS)],
            severity=SEVERITIES[n % len(SEVERITIES)],
            team=teams[n % len(teams)],
            assignee=assignees[n % len(assignees)],
            category=categories[n % len(categories)],
            touchpoint=touchpoints[n % len(touchpoints)],
            journey_stage=stages[n % len(stages)],
            # The queue reads a state however it was reached.
            state=STATES[n % len(STATES)],
            subject=f"Complaint {n}",
            description="Something went wrong.",
            received_at=now - timedelta(minutes=n),
        )
        for n in range(QUEUE_ROWS)
    ]
    return Complaint.objects.bulk_create(complaints)


def token_client(user) -> APIClient:
    """A client that authenticates every request afresh, as a real API client does.

    ``force_authenticate`` would hand the same user object to every request, and its
    permission cache would make the first request cost more queries than the rest.
    """
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(user)}")
    return client


def queries_for_page(client, page_size: int, **filters) -> tuple[int, dict]:
    # A running process has read its configuration already (escalation.configuration):
    # count a page as it costs then, not the first request's one-off read.
    client.get("/api/complaints/", {"page_size": 1})
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/complaints/", {"page_size": page_size, **filters})
    assert response.status_code == 200, response.json()
    return len(queries), response.json()


@pytest.mark.django_db
def test_queue_costs_the_same_queries_whatever_the_page_size(queue, manager):
    # A manager sees every complaint (recovery.access), so the pages are full.
    client = token_client(manager)
    counts = {}
    for size in PAGE_SIZES:
        counts[size], body = queries_for_page(client, size)
        assert body["count"] == QUEUE_ROWS
        assert len(body["results"]) == size

    assert len(set(counts.values())) == 1, f"queries by page size: {counts}"
    assert counts[1] <= STAFF_QUEUE_QUERIES, f"queries by page size: {counts}"
    # The largest page really carried the related rows that would cost a query each.
    rows = body["results"]
    for related in ("team", "assignee", "category", "touchpoint", "journey_stage"):
        shown = {(row[related] or {}).get("id") or (row[related] or {}).get("slug") for row in rows}
        assert len(shown - {None}) >= 2, f"the page shows too few distinct {related}s"
        assert None in shown, f"the page shows no complaint without a {related}"


@pytest.mark.django_db
def test_customer_queue_costs_the_same_queries_whatever_the_page_size(queue, customer_user):
    client = token_client(customer_user)
    own = [c for c in queue if c.customer_id == customer_user.customer.pk]
    counts = {}
    for size in (1, 10, len(own)):
        counts[size], body = queries_for_page(client, size)
        assert body["count"] == len(own)
        assert len(body["results"]) == size

    assert len(set(counts.values())) == 1, f"queries by page size: {counts}"
    assert counts[1] <= CUSTOMER_QUEUE_QUERIES, f"queries by page size: {counts}"


@pytest.mark.django_db
def test_an_agent_s_queue_costs_the_same_queries_and_holds_only_what_they_may_see(
    queue, agent, other_team
):
    # The access policy is subqueries of the one page query, not queries of its own.
    client = token_client(agent)
    visible = {
        c.reference
        for c in queue
        if c.team_id is None
        or c.assignee_id == agent.pk
        or agent.teams.filter(pk=c.team_id).exists()
    }
    counts = {}
    for size in (1, 10, 50):
        counts[size], body = queries_for_page(client, size)
        assert body["count"] == len(visible) < QUEUE_ROWS
    assert len(set(counts.values())) == 1, f"queries by page size: {counts}"
    assert counts[1] <= STAFF_QUEUE_QUERIES, f"queries by page size: {counts}"
    # Another team's complaints: only those assigned to the agent.
    assigned_elsewhere = {
        c.reference for c in queue if c.team_id == other_team.pk and c.assignee_id == agent.pk
    }
    assert assigned_elsewhere
    assert _references(client, team=other_team.slug) == assigned_elsewhere


@pytest.mark.django_db
def test_filtered_queue_costs_the_same_queries_whatever_the_page_size(queue, agent, team):
    client = token_client(agent)
    filters = {"state": ["received", "acknowledged"], "team": team.slug}
    counts = {size: queries_for_page(client, size, **filters)[0] for size in (1, 10, 50)}
    assert len(set(counts.values())) == 1, f"queries by page size: {counts}"


def _references(client, **filters) -> set[str]:
    response = client.get("/api/complaints/", {"page_size": 200, **filters})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["next"] is None, "the filter returned more than one page"
    return {row["reference"] for row in body["results"]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filters", "wanted"),
    [
        ({"state": "received"}, lambda c, p: c.state == "received"),
        (
            {"state": ["resolved", "loop_closed"]},
            lambda c, p: c.state in {"resolved", "loop_closed"},
        ),
        ({"team": "billing"}, lambda c, p: c.team_id == p["team"].pk),
        ({"assignee": "other_agent"}, lambda c, p: c.assignee_id == p["other_agent"].pk),
        ({"channel": "email"}, lambda c, p: c.channel == "email"),
        ({"channel": ["phone", "chat"]}, lambda c, p: c.channel in {"phone", "chat"}),
        ({"severity": "critical"}, lambda c, p: c.severity == "critical"),
        (
            {"state": "acknowledged", "team": "delivery", "severity": ["high", "critical"]},
            lambda c, p: (
                c.state == "acknowledged"
                and c.team_id == p["other_team"].pk
                and c.severity in {"high", "critical"}
            ),
        ),
        (
            {"assignee": "agent", "channel": "web"},
            lambda c, p: c.assignee_id == p["agent"].pk and c.channel == "web",
        ),
    ],
    ids=[
        "one-state",
        "two-states",
        "team",
        "assignee",
        "channel",
        "two-channels",
        "severity",
        "state-team-severities",
        "assignee-channel",
    ],
)
def test_queue_filters_return_exactly_the_matching_complaints(
    queue, manager, agent, other_agent, team, other_team, filters, wanted
):
    personas = {"agent": agent, "other_agent": other_agent, "team": team, "other_team": other_team}
    expected = {c.reference for c in queue if wanted(c, personas)}
    # A filter that matched nothing, or everything, would pass without proving anything.
    assert 0 < len(expected) < QUEUE_ROWS

    # A manager sees every complaint (recovery.access): the filter alone narrows the list.
    assert _references(token_client(manager), **filters) == expected


@pytest.mark.django_db
def test_queue_refuses_a_filter_value_it_does_not_know(queue, agent):
    response = token_client(agent).get("/api/complaints/", {"state": "lost"})

    # Ignoring the typo would show the whole queue as if it were the filtered one.
    assert response.status_code == 400, response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["received_before", "team", "state"])
def test_queue_refuses_a_filter_given_empty(queue, agent, name):
    response = token_client(agent).get("/api/complaints/", {name: ""})

    # "?received_before=" would otherwise show the whole queue as if it were filtered.
    assert response.status_code == 400, response.json()
    assert name in response.json()["details"]
