"""The insight API and pages: who may see them, CSV export, and strict query parameters."""

import csv
import io

import pytest
import time_machine

from recovery.models import CorrectiveAction
from tests.conftest import api_client
from tests.insights.insights_fixtures import at, cause, complaint

MARCH = "start=2026-03-01&end=2026-03-31"


@pytest.fixture
def data(db, manager):
    D = cause("billing.duplicate-charge", "Duplicate charge")
    # A cause name that a spreadsheet would run as a formula.
    F = cause("formula.cause", '=HYPERLINK("http://example.com")')
    done = {"resolved_at": at(2026, 4, 1)}
    complaint(received=at(2026, 3, 2), primary=D, **done)
    complaint(received=at(2026, 3, 3), primary=D, **done)
    complaint(received=at(2026, 3, 4), primary=F, **done)
    capa = CorrectiveAction.objects.create(
        title="Fix it", owner=manager, status="done", done_at=at(2026, 3, 3, 0)
    )
    capa.root_causes.set([D])
    return {"D": D, "F": F, "capa": capa}


def rows_of(answer):
    return list(csv.reader(io.StringIO(answer.content.decode())))


# -- who may see ---------------------------------------------------------------------------

INSIGHT_URLS = [
    f"/api/insights/pareto/?{MARCH}",
    f"/api/insights/trends/?{MARCH}",
    f"/api/insights/repeats/?{MARCH}",
    f"/api/insights/kpis/?{MARCH}&by=channel",
    "/api/insights/alerts/",
]


@pytest.mark.parametrize("url", INSIGHT_URLS)
def test_supervisors_and_managers_see_insights(url, data, supervisor, manager):
    assert api_client(supervisor).get(url).status_code == 200
    assert api_client(manager).get(url).status_code == 200


@pytest.mark.parametrize("url", INSIGHT_URLS)
def test_agents_customers_and_outsiders_do_not(url, data, agent, customer_user, outsider):
    for user in (agent, customer_user, outsider):
        answer = api_client(user).get(url)
        assert answer.status_code == 403, (user, answer.content)
        assert answer.json()["error"] == "permission_denied"
    assert api_client().get(url).status_code in (401, 403)


@time_machine.travel(at(2026, 6, 1), tick=False)
def test_capa_effectiveness_over_the_api(data, supervisor, agent):
    url = f"/api/corrective-actions/{data['capa'].pk}/effectiveness/?weeks=1"
    assert api_client(agent).get(url).status_code == 403
    answer = api_client(supervisor).get(url)
    assert answer.status_code == 200
    body = answer.json()
    # Week -1 (24 Feb - 2 Mar): the 2 March complaint, with D. Week 0: 3 March (D), 4 March.
    assert (body["before"]["classified"], body["before"]["with_cause"]) == (1, 1)
    assert (body["after"]["classified"], body["after"]["with_cause"]) == (2, 1)
    assert body["rate_change_percent"] == -50.0
    csv_answer = api_client(supervisor).get(url + "&format=csv")
    assert rows_of(csv_answer) == [
        ["week", "starts", "complaints", "classified", "with_cause", "rate"],
        ["-1", "2026-02-24T00:00:00+00:00", "1", "1", "1", "1.0"],
        ["0", "2026-03-03T00:00:00+00:00", "2", "2", "1", "0.5"],
    ]


def test_capa_effectiveness_needs_a_done_action(data, supervisor, manager):
    open_action = CorrectiveAction.objects.create(title="Later", owner=manager)
    answer = api_client(supervisor).get(f"/api/corrective-actions/{open_action.pk}/effectiveness/")
    assert answer.status_code == 409
    assert "not set yet" in answer.json()["message"]
    missing = api_client(supervisor).get("/api/corrective-actions/999999/effectiveness/")
    assert missing.status_code == 404
    assert missing.json()["message"] == "No corrective action 999999."


# -- CSV ----------------------------------------------------------------------------------


def test_pareto_as_csv(data, supervisor):
    answer = api_client(supervisor).get(f"/api/insights/pareto/?{MARCH}&format=csv")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "text/csv; charset=utf-8"
    assert answer["Content-Disposition"] == (
        'attachment; filename="redress-pareto-count-2026-03-01_2026-03-31.csv"'
    )
    assert rows_of(answer) == [
        ["rank", "code", "path", "complaints", "percent", "cumulative_percent"],
        ["1", "billing.duplicate-charge", "Duplicate charge", "2", "66.7", "66.7"],
        # The formula-looking name is written as text.
        ["2", "formula.cause", '\'=HYPERLINK("http://example.com")', "1", "33.3", "100.0"],
    ]


def test_csv_by_accept_header_and_every_table(data, supervisor):
    client = api_client(supervisor)
    answer = client.get(f"/api/insights/trends/?{MARCH}", HTTP_ACCEPT="text/csv")
    assert answer["Content-Type"].startswith("text/csv")
    header, *weeks = rows_of(answer)
    assert header == ["week_start", "all_complaints", "billing.duplicate-charge", "formula.cause"]
    assert weeks[1] == ["2026-03-02", "3", "2", "1"]
    kpis = rows_of(client.get(f"/api/insights/kpis/?{MARCH}&by=channel&format=csv"))
    assert kpis[0][:3] == ["group", "label", "complaints"]
    assert kpis[1][:3] == ["web", "Web", "3"]
    sla = rows_of(client.get(f"/api/insights/kpis/?{MARCH}&table=sla&format=csv"))
    assert sla == [["group", "label", "clock", "met", "breached", "met_percent"]]
    repeats = rows_of(client.get(f"/api/insights/repeats/?{MARCH}&table=customers&format=csv"))
    assert repeats == [["customer_id", "name", "repeat_complaints"]]
    cost = rows_of(client.get(f"/api/insights/pareto/?{MARCH}&measure=cost&format=csv"))
    assert cost[0][:5] == ["currency", "rank", "code", "path", "amount"]
    alerts = rows_of(client.get("/api/insights/alerts/?format=csv"))
    assert alerts == [["week_start", "code", "path", "count", "baseline", "raised_at"]]


def test_errors_stay_json_when_csv_is_asked_for(data, supervisor):
    answer = api_client(supervisor).get("/api/insights/pareto/?start=soon&format=csv")
    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/json"
    assert answer.json()["details"] == {"start": ["Give a date as YYYY-MM-DD, such as 2026-01-31."]}


# -- strict parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "fragment"),
    [
        ("start=2026-13-01", "start", "YYYY-MM-DD"),
        ("end=31/03/2026", "end", "YYYY-MM-DD"),
        ("start=2026-04-01&end=2026-03-01", "start", "From 1 Apr 2026 is after To 1 Mar 2026"),
        ("start=2020-01-01&end=2026-03-01", "end", "at most 731"),
        ("start=0001-01-01&end=0001-01-02", "start", "between 1900-01-01"),
        ("channel=pigeon", "channel", "Channel must be one of: web, email"),
        ("team=nobody", "team", "No team 'nobody'"),
        ("touchpoint=moon", "touchpoint", "No touchpoint 'moon'"),
        ("measure=weight", "measure", "Measure must be one of: count, cost"),
        ("measure=cost&causes=all", "causes", "primary cause only"),
        ("colour=blue", "colour", "Unknown field"),
        ("channel=web&channel=email", "channel", "more than once"),
    ],
)
def test_bad_pareto_parameters(query, field, fragment, data, supervisor):
    answer = api_client(supervisor).get(f"/api/insights/pareto/?{query}")
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert body["error"] == "validation_failed"
    assert field in body["details"], body
    assert fragment in " ".join(str(problem) for problem in body["details"][field])
    assert fragment in body["message"] or field in body["message"]


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/insights/kpis/?by=planet", "by"),
        ("/api/insights/kpis/?table=chairs", "table"),
        ("/api/insights/trends/?top=99", "top"),
        ("/api/insights/trends/?top=two", "top"),
        ("/api/insights/trends/?codes=billing.duplicate-charge,no.such", "codes"),
        ("/api/insights/trends/?codes=billing.duplicate-charge&top=2", "top"),
        ("/api/insights/repeats/?within_days=0", "within_days"),
        ("/api/insights/repeats/?within_days=366", "within_days"),
        ("/api/insights/alerts/?start=2026-01-01", "start"),
    ],
)
def test_bad_parameters_of_each_table(url, field, data, supervisor):
    answer = api_client(supervisor).get(url)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["details"]


def test_bad_effectiveness_parameters(data, supervisor):
    base = f"/api/corrective-actions/{data['capa'].pk}/effectiveness/"
    for query in ("weeks=0", "weeks=53", "weeks=many", "since=2026-01-01"):
        answer = api_client(supervisor).get(f"{base}?{query}")
        assert answer.status_code == 400, (query, answer.content)


def test_unknown_format_is_a_400(data, supervisor):
    answer = api_client(supervisor).get("/api/insights/pareto/?format=xml")
    assert answer.status_code == 400
    assert answer.json()["details"] == {"format": ["Choose one of: json, csv."]}


def test_unknown_trend_codes_are_named(data, supervisor):
    answer = api_client(supervisor).get("/api/insights/trends/?codes=x.y,billing.duplicate-charge")
    assert answer.json()["details"]["codes"] == ["Unknown root-cause codes: x.y."]


@time_machine.travel(at(2026, 3, 31, 18), tick=False)
def test_the_default_period_is_the_last_90_days(data, supervisor):
    body = api_client(supervisor).get("/api/insights/pareto/").json()
    assert body["scope"] == {"start": "2026-01-01", "end": "2026-03-31"}
    assert [row["complaints"] for row in body["rows"]] == [2, 1]


# -- pages ------------------------------------------------------------------------------------


PAGES = [
    f"/insights/?{MARCH}",
    f"/insights/?{MARCH}&measure=cost",
    f"/insights/trends/?{MARCH}",
    f"/insights/repeats/?{MARCH}",
    f"/insights/kpis/?{MARCH}&by=team",
]


@pytest.mark.parametrize("url", PAGES)
def test_pages_for_supervisors(url, data, client, supervisor):
    client.force_login(supervisor)
    answer = client.get(url)
    assert answer.status_code == 200
    page = answer.content.decode()
    assert "<svg" in page or "<table" in page
    assert "format=csv" in page


def test_pareto_page_draws_the_chart_and_links_the_csv(data, client, supervisor):
    client.force_login(supervisor)
    page = client.get(f"/insights/?{MARCH}&channel=").content.decode()
    assert '<svg class="chart"' in page
    # The cause by its name, in the chart and the table; its code is for programs (API, CSV).
    assert ">Duplicate charge</text>" in page
    assert '<th scope="row">Duplicate charge</th>' in page
    assert "billing.duplicate-charge" not in page
    # The cause name is escaped inside the SVG and the table, never markup.
    assert "=HYPERLINK(&quot;http://example.com&quot;)" in page
    assert "/api/insights/pareto/?start=2026-03-01&amp;end=2026-03-31&amp;measure=count" in page


@pytest.mark.parametrize("url", PAGES)
def test_pages_refuse_agents_and_customers(url, data, client, agent, customer_user):
    for user in (agent, customer_user):
        client.force_login(user)
        assert client.get(url).status_code == 403


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_a_refused_agent_gets_the_styled_page_saying_why(data, client, agent, debug, settings):
    # The same "cannot open this page" as the desk's refusals, with DEBUG on as off.
    settings.DEBUG = debug
    client.force_login(agent)

    answer = client.get("/insights/")

    assert answer.status_code == 403
    assert "403.html" in [t.name for t in answer.templates]
    page = answer.content.decode()
    assert "Insights are for supervisors and complaints managers." in page
    assert "You cannot open this page" in page


def test_a_page_with_bad_parameters_says_what_is_wrong(data, client, supervisor):
    client.force_login(supervisor)
    answer = client.get("/insights/kpis/?by=planet&start=2026-02-30")
    assert answer.status_code == 400
    page = answer.content.decode()
    assert "<li>Group by must be one of: channel, touchpoint" in page
    assert "Give a date as YYYY-MM-DD" in page


@time_machine.travel(at(2026, 6, 1), tick=False)
def test_effectiveness_page(data, client, supervisor, agent, manager):
    client.force_login(supervisor)
    page = client.get(f"/insights/corrective-actions/{data['capa'].pk}/?weeks=1")
    assert page.status_code == 200
    assert '<svg class="chart"' in page.content.decode()
    open_action = CorrectiveAction.objects.create(title="Later", owner=manager)
    assert client.get(f"/insights/corrective-actions/{open_action.pk}/").status_code == 409
    client.force_login(agent)
    assert client.get(f"/insights/corrective-actions/{data['capa'].pk}/").status_code == 403
