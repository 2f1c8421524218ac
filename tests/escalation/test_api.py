"""The escalation endpoints: hand escalation, customers' escalation requests, SLA compliance.

Personas: ``supervisor`` supervises ``team`` and may escalate; ``agent`` works ``team`` and
may not; ``manager`` is the complaints manager; ``customer_user`` owns the complaints made
here; ``other_customer_user`` and ``outsider`` have nothing to do with them.
"""

from datetime import UTC, datetime

import pytest

from escalation.models import Escalation
from recovery.models import Complaint, ComplaintEvent, EventType
from recovery.services import lifecycle, sla
from tests.conftest import acknowledge, api_client, resolve

pytestmark = pytest.mark.django_db


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def complaint(make_complaint, time_machine):
    time_machine.move_to(utc(3, 2, 10), tick=False)
    return make_complaint()


def escalations_url(complaint) -> str:
    return f"/api/complaints/{complaint.reference}/escalations/"


def requests_url(complaint) -> str:
    return f"/api/complaints/{complaint.reference}/escalation-requests/"


def withdraw(complaint, customer_user):
    lifecycle.complaint_withdraw(
        complaint=Complaint.objects.get(pk=complaint.pk), actor=customer_user, reason="Sorted."
    )


# --- POST /api/complaints/{ref}/escalations/ --------------------------------------------------


def test_a_supervisor_escalates_by_hand(complaint, supervisor, manager):
    answer = api_client(supervisor).post(
        escalations_url(complaint),
        {"direction": "up", "reason": "Customer is vulnerable."},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert {k: body[k] for k in ("level", "previous_level", "target", "manual", "clock")} == {
        "level": 1,
        "previous_level": 0,
        "target": "team_supervisor",
        "manual": True,
        "clock": None,
    }
    assert body["owner"] == {"id": supervisor.pk, "username": "supervisor"}
    assert body["actor"] == {"id": supervisor.pk, "username": "supervisor"}
    assert body["reason"] == "Customer is vulnerable."

    down = api_client(supervisor).post(
        escalations_url(complaint), {"direction": "down", "reason": "Handled."}, format="json"
    )
    assert down.status_code == 201, down.json()
    assert (down.json()["level"], down.json()["owner"]) == (0, None)
    complaint.refresh_from_db()
    assert complaint.escalation_level == 0


@pytest.mark.parametrize("persona", ["agent", "customer_user"])
def test_escalating_by_hand_is_refused_to_agents_and_customers(complaint, request, persona):
    answer = api_client(request.getfixturevalue(persona)).post(
        escalations_url(complaint), {"direction": "up", "reason": "Please."}, format="json"
    )
    assert answer.status_code == 403, answer.json()
    assert answer.json()["error"] == "permission_denied"
    assert not Escalation.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"direction": "up"}, "reason"),
        ({"direction": "up", "reason": ""}, "reason"),
        ({"direction": "up", "reason": "   "}, "reason"),
        ({"reason": "Because."}, "direction"),
        ({"direction": "sideways", "reason": "Because."}, "direction"),
        ({"direction": "up", "reason": "Because.", "level": 3}, "level"),
    ],
)
def test_hand_escalation_needs_a_direction_and_a_reason(complaint, supervisor, payload, field):
    answer = api_client(supervisor).post(escalations_url(complaint), payload, format="json")
    assert answer.status_code == 400, answer.json()
    assert field in answer.json()["details"]
    assert not Escalation.objects.exists()


def test_hand_escalation_stays_between_level_0_and_3(complaint, supervisor):
    client = api_client(supervisor)
    below = client.post(
        escalations_url(complaint), {"direction": "down", "reason": "Calm."}, format="json"
    )
    assert below.status_code == 400, below.json()
    for _ in range(3):
        assert (
            client.post(
                escalations_url(complaint), {"direction": "up", "reason": "Worse."}, format="json"
            ).status_code
            == 201
        )
    above = client.post(
        escalations_url(complaint), {"direction": "up", "reason": "Worse."}, format="json"
    )
    assert above.status_code == 400, above.json()
    assert Escalation.objects.count() == 3


def test_hand_escalation_of_a_closed_complaint_is_a_conflict(complaint, supervisor, customer_user):
    withdraw(complaint, customer_user)
    answer = api_client(supervisor).post(
        escalations_url(complaint), {"direction": "up", "reason": "Late."}, format="json"
    )
    assert answer.status_code == 409, answer.json()
    assert answer.json()["details"]["state"] == "withdrawn"


def test_hand_escalation_of_an_unknown_complaint_is_not_found(supervisor):
    answer = api_client(supervisor).post(
        "/api/complaints/RDR-2026-999999/escalations/",
        {"direction": "up", "reason": "?"},
        format="json",
    )
    assert answer.status_code == 404


# --- POST /api/complaints/{ref}/escalation-requests/ ------------------------------------------


def test_the_customer_asks_for_escalation(complaint, customer_user, supervisor):
    answer = api_client(customer_user).post(
        requests_url(complaint), {"reason": "Three weeks without news."}, format="json"
    )
    assert answer.status_code == 202, answer.json()
    request = ComplaintEvent.objects.get(complaint=complaint, type=EventType.ESCALATION_REQUESTED)
    assert request.parameters == {"reason": "Three weeks without news."}
    # The customer sees their own request on their timeline.
    timeline = api_client(customer_user).get(f"/api/complaints/{complaint.reference}/").json()
    assert "escalation_requested" in [e["type"] for e in timeline["timeline"]]


def test_another_customer_cannot_even_see_the_complaint(complaint, other_customer_user):
    # Not 403: answering "forbidden" would confirm that the reference exists.
    answer = api_client(other_customer_user).post(
        requests_url(complaint), {"reason": "Me too."}, format="json"
    )
    assert answer.status_code == 404
    assert not ComplaintEvent.objects.filter(type=EventType.ESCALATION_REQUESTED).exists()


def test_staff_do_not_file_escalation_requests(complaint, agent):
    answer = api_client(agent).post(requests_url(complaint), {"reason": "Hmm."}, format="json")
    assert answer.status_code == 403


def test_an_escalation_request_needs_a_reason(complaint, customer_user):
    answer = api_client(customer_user).post(requests_url(complaint), {}, format="json")
    assert answer.status_code == 400
    assert "reason" in answer.json()["details"]


def test_an_escalation_request_on_a_closed_complaint_is_a_conflict(complaint, customer_user):
    withdraw(complaint, customer_user)
    answer = api_client(customer_user).post(
        requests_url(complaint), {"reason": "Why?"}, format="json"
    )
    assert answer.status_code == 409, answer.json()


# --- GET /api/sla/compliance/ -----------------------------------------------------------------


@pytest.fixture
def compliance_fixture(
    make_complaint, agent, other_agent, other_team, customer_user, root_causes, time_machine
):
    """Clocks whose outcome is counted by hand (Standard policy, acknowledge due Tue 10:00):

    - A (billing, agent): acknowledged Mon 11:00, acknowledge met; resolve running.
    - B (billing, agent): acknowledged Tue 11:00, acknowledge breached; resolve running.
    - C (delivery, other_agent): acknowledged Mon 12:00 (met), resolved Tue 12:00 (met);
      close_loop started Tue 12:00, running.
    - D (delivery, other_agent): withdrawn Mon 12:00; its clocks are cancelled, not counted.
    - E (billing, agent): received and acknowledged in February, outside March.
    """
    time_machine.move_to(utc(2, 20, 10), tick=False)
    e = make_complaint()
    time_machine.move_to(utc(2, 20, 11), tick=False)
    acknowledge(e, agent)

    time_machine.move_to(utc(3, 2, 10), tick=False)
    a, b = make_complaint(), make_complaint()
    c, d = make_complaint(routed_to=other_team), make_complaint(routed_to=other_team)
    for complaint, assignee in ((a, agent), (b, agent), (c, other_agent), (d, other_agent)):
        sla.complaint_assign(complaint=complaint, assignee=assignee)
    time_machine.move_to(utc(3, 2, 11), tick=False)
    acknowledge(a, agent)
    time_machine.move_to(utc(3, 2, 12), tick=False)
    acknowledge(c, other_agent)
    lifecycle.complaint_withdraw(complaint=d, actor=customer_user, reason="Not needed.")
    time_machine.move_to(utc(3, 3, 11), tick=False)
    acknowledge(b, agent)
    time_machine.move_to(utc(3, 3, 12), tick=False)
    resolve(Complaint.objects.get(pk=c.pk), other_agent)
    time_machine.move_to(utc(3, 10, 9), tick=False)


def row(clock, group, met, breached, running, met_percent, breached_percent, profile=""):
    return {
        "clock": clock,
        "statutory": bool(profile),
        "regulatory_profile": profile,
        "group": group,
        "met": met,
        "breached": breached,
        "running": running,
        "met_percent": met_percent,
        "breached_percent": breached_percent,
    }


def compliance(user, **params):
    return api_client(user).get("/api/sla/compliance/", params)


def test_compliance_for_a_period(compliance_fixture, supervisor):
    answer = compliance(supervisor, start="2026-03-01", end="2026-04-01")
    assert answer.status_code == 200, answer.json()
    assert answer.json() == {
        "start": "2026-03-01",
        "end": "2026-04-01",
        "rows": [
            row("acknowledge", None, 2, 1, 0, 66.7, 33.3),
            row("close_loop", None, 0, 0, 1, None, None),
            row("resolve", None, 1, 0, 2, 100.0, 0.0),
        ],
    }


def test_compliance_counts_clocks_started_in_the_half_open_period(compliance_fixture, manager):
    # [2 March, 3 March): the complaints received on Monday, not C's close_loop of Tuesday.
    rows = compliance(manager, start="2026-03-02", end="2026-03-03").json()["rows"]
    assert [r["clock"] for r in rows] == ["acknowledge", "resolve"]
    rows = compliance(manager, start="2026-03-03", end="2026-03-04").json()["rows"]
    assert rows == [row("close_loop", None, 0, 0, 1, None, None)]


def test_compliance_by_team(compliance_fixture, supervisor):
    answer = compliance(supervisor, start="2026-03-01", end="2026-04-01", group_by="team")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["rows"] == [
        row("acknowledge", "billing", 1, 1, 0, 50.0, 50.0),
        row("acknowledge", "delivery", 1, 0, 0, 100.0, 0.0),
        row("close_loop", "delivery", 0, 0, 1, None, None),
        row("resolve", "billing", 0, 0, 2, None, None),
        row("resolve", "delivery", 1, 0, 0, 100.0, 0.0),
    ]


def test_compliance_by_agent(compliance_fixture, supervisor):
    answer = compliance(supervisor, start="2026-03-01", end="2026-04-01", group_by="agent")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["rows"] == [
        row("acknowledge", "agent", 1, 1, 0, 50.0, 50.0),
        row("acknowledge", "other_agent", 1, 0, 0, 100.0, 0.0),
        row("close_loop", "other_agent", 0, 0, 1, None, None),
        row("resolve", "agent", 0, 0, 2, None, None),
        row("resolve", "other_agent", 1, 0, 0, 100.0, 0.0),
    ]


def test_compliance_counts_statutory_obligations_apart_from_internal_targets(
    make_complaint, agent, root_causes, supervisor, time_machine
):
    """Met the law, missed our promise: an FCA complaint resolved in week five."""
    time_machine.move_to(utc(3, 2, 10), tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    time_machine.move_to(utc(3, 2, 11), tick=False)
    acknowledge(complaint, agent)
    time_machine.move_to(utc(4, 6, 11), tick=False)
    resolve(Complaint.objects.get(pk=complaint.pk), agent)

    rows = compliance(supervisor, start="2026-03-01", end="2026-04-01").json()["rows"]
    assert rows == [
        row("acknowledge", None, 1, 0, 0, 100.0, 0.0),
        # (close_loop started in April, outside the period.)
        row("resolve", None, 0, 1, 0, 0.0, 100.0),
        row("resolve (statutory)", None, 1, 0, 0, 100.0, 0.0, profile="uk_fca_disp"),
        # Resolved after the third business day: the summary window was missed.
        row("summary_resolution (statutory)", None, 0, 1, 0, 0.0, 100.0, "uk_fca_disp"),
    ]


def test_compliance_defaults_to_the_last_30_days(compliance_fixture, supervisor):
    # Today is 10 March 2026: from 8 February to 11 March (exclusive), so E counts too.
    body = compliance(supervisor).json()
    assert (body["start"], body["end"]) == ("2026-02-08", "2026-03-11")
    assert body["rows"][0] == row("acknowledge", None, 3, 1, 0, 75.0, 25.0)


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-02-30"},
        {"start": "01/03/2026"},
        {"end": "tomorrow"},
        {"start": "2026-03-10", "end": "2026-03-10"},
        {"start": "2026-03-10", "end": "2026-03-01"},
        {"start": "2025-01-01", "end": "2026-03-01"},
        {"group_by": "customer"},
        {"team": "billing"},
    ],
)
def test_compliance_refuses_bad_queries(supervisor, params):
    answer = compliance(supervisor, **params)
    assert answer.status_code == 400, answer.json()
    assert answer.json()["error"] == "validation_failed"


@pytest.mark.parametrize("persona", ["customer_user", "outsider"])
def test_compliance_is_for_staff_only(request, persona):
    answer = compliance(request.getfixturevalue(persona))
    assert answer.status_code == 403


def test_compliance_needs_a_login(db):
    assert api_client().get("/api/sla/compliance/").status_code == 401


# -- regulatory profiles ----------------------------------------------------------------------


def test_integrators_read_every_profile_with_its_obligations_and_citations(customer_user):
    answer = api_client(customer_user).get("/api/regulatory-profiles/")

    assert answer.status_code == 200
    by_code = {profile["code"]: profile for profile in answer.json()}
    assert set(by_code) == {
        "uk_fca_disp",
        "uk_fca_psd",
        "us_cfpb",
        "us_reg_e",
        "us_reg_e_pos_foreign",
        "us_reg_e_new_account",
        "us_reg_z",
        "eu_psd2",
        "ie_cbi_cpc",
        "au_asic_rg271",
        "au_asic_rg271_credit",
        "au_asic_rg271_super",
    }
    disp = by_code["uk_fca_disp"]
    assert disp["regulator"] == "Financial Conduct Authority"
    assert disp["applies_to"].startswith("Complaints to UK-regulated firms")
    assert [(o["clock"], o["rule"], o["amount"], o["citation"]) for o in disp["obligations"]] == [
        ("summary_resolution", "business_days_close", 3, "DISP 1.5.1R"),
        ("resolve", "calendar_days", 56, "DISP 1.6.2R"),
    ]
    assert disp["letters"] == [
        {
            "kind": "written_response",
            "clock": "resolve",
            "effect": "meets",
            "citation": "DISP 1.6.2R(2)",
            "title": disp["letters"][0]["title"],
        }
    ]
    defaults = [r["code"] for r in disp["regions"] if r["default"]]
    assert defaults == ["GB-ENG"]
    assert {"code": "GB-SCT", "name": "Scotland", "time_zone": "Europe/London"}.items() <= next(
        r for r in disp["regions"] if r["code"] == "GB-SCT"
    ).items()

    psd2 = by_code["eu_psd2"]
    assert psd2["requires_region"] is True
    assert (psd2["extension_ground"], psd2["extended_obligations"][0]["amount"]) == (
        "holding_reply",
        35,
    )
    reg_e = by_code["us_reg_e"]
    assert reg_e["extension_ground"] == "provisional_credit"
    assert reg_e["extended_obligations"][0]["citation"] == "12 CFR 1005.11(c)(2)"
    assert [o["clock"] for o in by_code["ie_cbi_cpc"]["obligations"]] == [
        "acknowledge",
        "customer_update",
        "resolve",
    ]


def test_one_profile_and_an_unknown_one(outsider):
    client = api_client(outsider)
    assert client.get("/api/regulatory-profiles/au_asic_rg271_super/").json()["name"] == (
        "Australia ASIC RG 271: superannuation trustees"
    )
    missing = client.get("/api/regulatory-profiles/mars/")
    assert missing.status_code == 404
    assert missing.json()["message"].startswith("No regulatory profile 'mars'; known: uk_fca_disp")
    assert api_client().get("/api/regulatory-profiles/").status_code == 401
