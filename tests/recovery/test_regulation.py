"""A complaint's regulatory regime: checked at intake, changed after receipt only through
``complaint_change_regulation`` (API, admin), which re-plans the statutory clocks from the
original start and records who, why and the deadlines before and after.

Personas: ``supervisor`` may change the regime of their team's complaints; ``agent`` works
the complaint but may not change its regime; ``customer_user`` owns it; ``outsider`` has no
role. Expected deadlines are counted by hand (see tests/escalation/test_regulatory.py).
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from common.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from escalation.models import Clock, ClockState
from escalation.services.sweeper import sweep
from recovery.models import Complaint, ComplaintEvent, EventType
from recovery.services import messages
from recovery.services.regulation import complaint_change_regulation
from tests.conftest import acknowledge, api_client, resolve

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
LAST = 999999


def statutory(complaint, kind: str) -> Clock:
    return Clock.objects.exclude(regulatory_profile="").get(complaint=complaint, kind=kind)


def internal(complaint, kind: str) -> Clock:
    return Clock.objects.get(complaint=complaint, kind=kind, regulatory_profile="")


@pytest.fixture
def thursday_before_easter(time_machine):
    time_machine.move_to(datetime(2026, 4, 2, 10, tzinfo=LONDON), tick=False)


@pytest.mark.django_db
def test_a_profile_added_after_receipt_counts_from_receipt(
    make_complaint, agent, supervisor, thursday_before_easter, time_machine
):
    complaint = make_complaint()
    acknowledge(complaint, agent)
    resolve_target = internal(complaint, "resolve").due_at
    time_machine.move_to(datetime(2026, 4, 10, 12, tzinfo=LONDON), tick=False)

    complaint_change_regulation(
        complaint=complaint,
        actor=supervisor,
        regulatory_profile="uk_fca_disp",
        jurisdiction="GB-SCT",
        reason="A regulated credit agreement: DISP applies.",
    )

    complaint.refresh_from_db()
    assert (complaint.regulatory_profile, complaint.jurisdiction) == ("uk_fca_disp", "GB-SCT")
    # Eight weeks from Thu 2 Apr: the end of Thu 28 May (BST).
    eight_weeks = statutory(complaint, "resolve")
    assert eight_weeks.started_at == datetime(2026, 4, 2, 10, tzinfo=LONDON)
    assert eight_weeks.due_at == datetime(2026, 5, 28, 22, 59, 59, LAST, tzinfo=UTC)
    assert eight_weeks.state == ClockState.RUNNING
    # Scotland works Easter Monday: Mon 6, Tue 7, Wed 8; the summary window has passed.
    summary = statutory(complaint, "summary_resolution")
    assert summary.due_at == datetime(2026, 4, 8, 17, tzinfo=LONDON)
    # The internal target is untouched.
    assert internal(complaint, "resolve").due_at == resolve_target

    event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.REGULATION_CHANGED)
    assert event.actor == supervisor
    assert event.parameters["reason"] == "A regulated credit agreement: DISP applies."
    assert event.parameters["before"]["regulatory_profile"] == ""
    assert event.parameters["after"]["jurisdiction"] == "GB-SCT"
    assert event.parameters["deadlines"]["resolve"] == {
        "before": None,
        "after": "2026-05-28T22:59:59.999999+00:00",
    }
    # The summary window has passed: the next sweep breaches it, without escalating.
    sweep(datetime(2026, 4, 10, 12, tzinfo=LONDON))
    summary.refresh_from_db()
    assert summary.state == ClockState.BREACHED
    assert not summary.escalations.exists()


@pytest.mark.django_db
def test_moving_to_another_part_of_the_uk_moves_business_day_deadlines(
    make_complaint, supervisor, thursday_before_easter
):
    complaint = make_complaint(regulatory_profile="uk_fca_disp", jurisdiction="GB-ENG")
    # England: Good Friday and Easter Monday off; Tue 7, Wed 8, Thu 9.
    assert statutory(complaint, "summary_resolution").due_at == datetime(
        2026, 4, 9, 17, tzinfo=LONDON
    )

    complaint_change_regulation(
        complaint=complaint, actor=supervisor, jurisdiction="GB-SCT", reason="Edinburgh branch."
    )

    summary = statutory(complaint, "summary_resolution")
    # Still its first cycle: cycles count reopenings (and deadlines the ladder climbed for).
    assert (summary.due_at, summary.jurisdiction, summary.cycle) == (
        datetime(2026, 4, 8, 17, tzinfo=LONDON),
        "GB-SCT",
        1,
    )
    event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.REGULATION_CHANGED)
    assert event.parameters["deadlines"]["summary_resolution"] == {
        "before": "2026-04-09T16:00:00+00:00",
        "after": "2026-04-08T16:00:00+00:00",
    }


@pytest.mark.django_db
def test_dropping_a_profile_cancels_its_obligations(
    make_complaint, supervisor, thursday_before_easter
):
    complaint = make_complaint(regulatory_profile="us_cfpb")
    complaint_change_regulation(
        complaint=complaint,
        actor=supervisor,
        regulatory_profile="",
        reason="Not a CFPB complaint after all.",
    )
    assert set(
        Clock.objects.exclude(regulatory_profile="")
        .filter(complaint=complaint)
        .values_list("state", flat=True)
    ) == {ClockState.CANCELLED}
    complaint.refresh_from_db()
    assert complaint.next_deadline_at == min(
        Clock.objects.filter(complaint=complaint, state="running").values_list("due_at", flat=True)
    )


@pytest.mark.django_db
def test_a_corrected_cfpb_sent_time_replans_from_it(make_complaint, supervisor, time_machine):
    time_machine.move_to(datetime(2026, 11, 2, 10, tzinfo=NEW_YORK), tick=False)
    complaint = make_complaint(regulatory_profile="us_cfpb")
    time_machine.move_to(datetime(2026, 11, 12, 10, tzinfo=NEW_YORK), tick=False)
    complaint_change_regulation(
        complaint=complaint,
        actor=supervisor,
        sent_to_company_at=datetime(2026, 11, 11, 10, tzinfo=NEW_YORK),
        reason="The portal shows it was sent on Veterans Day.",
    )
    # 11 Nov + 15 days: the end of Thanksgiving Day, Thu 26 Nov (EST).
    assert statutory(complaint, "initial_response").due_at == datetime(
        2026, 11, 27, 4, 59, 59, LAST, tzinfo=UTC
    )


@pytest.mark.django_db
def test_a_holding_reply_after_a_change_to_payment_services_extends(
    make_complaint, agent, supervisor, time_machine
):
    time_machine.move_to(datetime(2027, 3, 18, 12, tzinfo=LONDON), tick=False)
    complaint = make_complaint()
    complaint_change_regulation(
        complaint=complaint,
        actor=supervisor,
        regulatory_profile="uk_fca_psd",
        reason="A card payment: payment services rules apply.",
    )
    assert statutory(complaint, "resolve").due_at == datetime(2027, 4, 12, 16, tzinfo=UTC)
    time_machine.move_to(datetime(2027, 4, 9, 12, tzinfo=LONDON), tick=False)
    messages.complaint_send_holding_reply(
        complaint=Complaint.objects.get(pk=complaint.pk),
        actor=agent,
        message="We are waiting for the card scheme.",
        exceptional=True,
    )
    assert statutory(complaint, "resolve").due_at == datetime(2027, 5, 11, 16, tzinfo=UTC)


@pytest.mark.django_db
def test_refused_once_resolved_for_agents_without_a_reason_and_for_no_change(
    make_complaint, agent, supervisor, root_causes, thursday_before_easter
):
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    with pytest.raises(PermissionDenied):
        complaint_change_regulation(
            complaint=complaint, actor=agent, regulatory_profile="", reason="Typo."
        )
    with pytest.raises(ValidationFailed) as no_reason:
        complaint_change_regulation(
            complaint=complaint, actor=supervisor, regulatory_profile="", reason="  "
        )
    assert no_reason.value.details == {"reason": ["This field is required."]}
    with pytest.raises(ValidationFailed) as same:
        complaint_change_regulation(
            complaint=complaint,
            actor=supervisor,
            regulatory_profile="uk_fca_disp",
            reason="Again.",
        )
    assert "Nothing would change" in same.value.message
    with pytest.raises(ValidationFailed) as unknown:
        complaint_change_regulation(
            complaint=complaint, actor=supervisor, jurisdiction="GB-XYZ", reason="Oops."
        )
    assert "GB-SCT" in unknown.value.details["jurisdiction"][0]

    acknowledge(complaint, agent)
    resolve(Complaint.objects.get(pk=complaint.pk), agent)
    with pytest.raises(TransitionNotAllowed) as closed:
        complaint_change_regulation(
            complaint=complaint, actor=supervisor, regulatory_profile="", reason="Late."
        )
    assert "only while it is open" in closed.value.message
    assert not ComplaintEvent.objects.filter(type=EventType.REGULATION_CHANGED).exists()


# --- over the API ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_changes_the_regime_and_answers_the_new_clocks(
    make_complaint, supervisor, thursday_before_easter
):
    complaint = make_complaint()
    response = api_client(supervisor).post(
        f"/api/complaints/{complaint.reference}/regulation/",
        {"regulatory_profile": "au_asic_rg271", "jurisdiction": "AU-VIC", "reason": "Melbourne."},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["regulatory_profile"], body["jurisdiction"]) == ("au_asic_rg271", "AU-VIC")
    rules = {(c["kind"], c["statutory"], c["rule"]) for c in body["clocks"]}
    assert ("resolve", True, "RG 271.56") in rules
    assert ("resolve", False, "") in rules


@pytest.mark.django_db
def test_api_refuses_with_a_precise_error(
    make_complaint, agent, supervisor, customer_user, outsider, root_causes
):
    complaint = make_complaint()
    url = f"/api/complaints/{complaint.reference}/regulation/"
    typo = api_client(supervisor).post(
        url, {"regulatory_profile": "uk_fca", "reason": "x"}, format="json"
    )
    assert typo.status_code == 400
    assert "uk_fca_disp" in str(typo.json()) and "not a known regulatory profile" in str(
        typo.json()
    )
    assert (
        api_client(agent)
        .post(url, {"jurisdiction": "GB", "reason": "x"}, format="json")
        .status_code
        == 403
    )
    assert api_client(customer_user).post(
        url, {"jurisdiction": "GB", "reason": "x"}, format="json"
    ).status_code in (403, 404)
    assert api_client(outsider).post(
        url, {"jurisdiction": "GB", "reason": "x"}, format="json"
    ).status_code in (
        403,
        404,
    )
    unknown_field = api_client(supervisor).post(url, {"subject": "x", "reason": "x"}, format="json")
    assert unknown_field.status_code == 400
    acknowledge(complaint, agent)
    resolve(Complaint.objects.get(pk=complaint.pk), agent)
    late = api_client(supervisor).post(url, {"jurisdiction": "GB", "reason": "x"}, format="json")
    assert late.status_code == 409
    assert late.json()["error"] == "transition_not_allowed"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "known"),
    [
        ("regulatory_profile", "uk_fca", "uk_fca_disp"),
        ("jurisdiction", "GB-XX", "GB-SCT"),
        ("jurisdiction", "Scotland", "GB-SCT"),
        ("jurisdiction", "GB-", "GB-SCT"),
    ],
)
def test_intake_refuses_unknown_codes_naming_the_known(agent, field, value, known):
    response = api_client(agent).post(
        "/api/complaints/",
        {
            "subject": "Charged twice",
            "description": "Twice.",
            "customer": {"name": "Ann", "email": "ann@example.com"},
            field: value,
        },
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert known in str(response.json())
    assert not Complaint.objects.exists()


@pytest.mark.django_db
def test_intake_accepts_a_region_or_an_iso_code(agent):
    for jurisdiction in ("GB-SCT", "FR", "US-CA", ""):
        response = api_client(agent).post(
            "/api/complaints/",
            {
                "subject": "Charged twice",
                "description": "Twice.",
                "customer": {"name": "Ann", "email": "ann@example.com"},
                "jurisdiction": jurisdiction,
            },
            format="json",
        )
        assert response.status_code == 201, (jurisdiction, response.json())


# --- in the admin ---------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    return client


@pytest.mark.django_db
def test_admin_shows_the_regime_read_only_and_changes_it_through_the_service(
    admin_client, make_complaint, thursday_before_easter
):
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    page = admin_client.get(reverse("admin:recovery_complaint_change", args=[complaint.pk]))
    assert page.status_code == 200
    assert 'name="regulatory_profile"' not in page.content.decode()
    url = reverse("admin:recovery_complaint_regulation", args=[complaint.pk])
    assert url in page.content.decode()

    bad = admin_client.post(url, {"regulatory_profile": "uk_fca_disp", "jurisdiction": "XX-1"})
    assert bad.status_code == 200
    assert "This field is required" in bad.content.decode()  # the reason
    unknown = admin_client.post(
        url, {"regulatory_profile": "uk_fca_disp", "jurisdiction": "GB-XYZ", "reason": "x"}
    )
    assert "Unknown jurisdiction" in unknown.content.decode()

    done = admin_client.post(
        url,
        {"regulatory_profile": "uk_fca_disp", "jurisdiction": "GB-NIR", "reason": "Belfast."},
    )
    assert done.status_code == 302
    assert statutory(complaint, "resolve").jurisdiction == "GB-NIR"
    event = ComplaintEvent.objects.get(complaint=complaint, type=EventType.REGULATION_CHANGED)
    assert event.parameters["reason"] == "Belfast."


# --- the installation's default regime ----------------------------------------------------------


@pytest.mark.django_db
def test_complaints_naming_no_regime_are_under_the_installation_default(
    make_complaint, settings, thursday_before_easter
):
    settings.REDRESS_REGULATORY_PROFILE = "uk_fca_disp"
    settings.REDRESS_JURISDICTION = "GB-SCT"
    complaint = make_complaint()
    assert (complaint.regulatory_profile, complaint.jurisdiction) == ("uk_fca_disp", "GB-SCT")
    assert statutory(complaint, "summary_resolution").due_at == datetime(
        2026, 4, 8, 17, tzinfo=LONDON
    )
    # A complaint that names its own regime keeps it.
    cfpb = make_complaint(regulatory_profile="us_cfpb", jurisdiction="US")
    assert (cfpb.regulatory_profile, cfpb.jurisdiction) == ("us_cfpb", "US")


def test_unknown_defaults_stop_start_up(settings):
    from escalation.checks import regulatory_defaults

    settings.REDRESS_REGULATORY_PROFILE = "uk_fca"
    settings.REDRESS_JURISDICTION = "Scotland"
    problems = regulatory_defaults(None)
    assert [p.id for p in problems] == ["redress.E101", "redress.E102"]
    assert "uk_fca_disp" in problems[0].hint and "GB-SCT" in problems[1].hint
    settings.REDRESS_REGULATORY_PROFILE = "uk_fca_disp"
    settings.REDRESS_JURISDICTION = "GB-SCT"
    assert regulatory_defaults(None) == []


@pytest.mark.django_db
def test_an_imported_complaint_without_clocks_can_be_planned_with_its_own_values(
    make_complaint, supervisor, time_machine
):
    time_machine.move_to(datetime(2026, 11, 2, 10, tzinfo=NEW_YORK), tick=False)
    complaint = make_complaint(regulatory_profile="us_cfpb")
    Clock.objects.filter(complaint=complaint).exclude(regulatory_profile="").delete()
    complaint_change_regulation(
        complaint=complaint,
        actor=supervisor,
        regulatory_profile="us_cfpb",
        reason="Worked from now on.",
    )
    assert statutory(complaint, "resolve").state == ClockState.RUNNING


# --- found by a newcomer's trial -----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        # Year 9999 once overflowed the deadline arithmetic into a 500.
        (
            {"regulatory_profile": "us_cfpb", "sent_to_company_at": "9999-12-31T23:59:59Z"},
            "sent_to_company_at",
            "Cannot be in the future.",
        ),
        (
            {"regulatory_profile": "uk_fca_disp", "sent_to_company_at": "2020-01-01T00:00:00Z"},
            "sent_to_company_at",
            "us_cfpb",
        ),
        ({"regulatory_profile": "uk_fca_disp", "jurisdiction": "AU-VIC"}, "jurisdiction", "GB-SCT"),
        (
            {"regulatory_profile": "au_asic_rg271", "jurisdiction": "GB-SCT"},
            "jurisdiction",
            "AU-VIC",
        ),
    ],
)
def test_intake_refuses_a_regime_that_cannot_be_counted(agent, fields, field, says):
    response = api_client(agent).post(
        "/api/complaints/",
        {
            "subject": "Charged twice",
            "description": "Twice.",
            "customer": {"name": "Ann", "email": "ann@example.com"},
            **fields,
        },
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert says in " ".join(response.json()["details"][field])
    assert not Complaint.objects.exists()


@pytest.mark.django_db
def test_a_state_of_the_profiles_country_is_accepted(agent):
    response = api_client(agent).post(
        "/api/complaints/",
        {
            "subject": "Charged twice",
            "description": "Twice.",
            "customer": {"name": "Ann", "email": "ann@example.com"},
            "regulatory_profile": "us_cfpb",
            "jurisdiction": "US-CA",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()


@pytest.mark.django_db
def test_a_customer_cannot_choose_the_regime_over_the_api(customer_user):
    response = api_client(customer_user).post(
        "/api/complaints/",
        {
            "subject": "Charged twice",
            "description": "Twice.",
            "regulatory_profile": "au_asic_rg271",
        },
        format="json",
    )
    assert response.status_code == 403
    assert "Only staff" in response.json()["message"]


@pytest.mark.django_db
def test_a_change_that_changes_nothing_names_no_field(make_complaint, supervisor):
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    response = api_client(supervisor).post(
        f"/api/complaints/{complaint.reference}/regulation/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["details"] == {"non_field_errors": ["No change."]}


@pytest.mark.django_db
def test_a_regime_change_keeps_an_extension_a_cycle_and_a_recorded_breach(
    make_complaint, agent, supervisor, root_causes, time_machine
):
    # 1. Payment services: the holding reply's extension survives a move to Scotland.
    time_machine.move_to(datetime(2026, 12, 1, 12, tzinfo=LONDON), tick=False)
    psd = make_complaint(regulatory_profile="uk_fca_psd")
    time_machine.move_to(datetime(2026, 12, 10, 12, tzinfo=LONDON), tick=False)
    messages.complaint_send_holding_reply(
        complaint=Complaint.objects.get(pk=psd.pk),
        actor=agent,
        message="We are waiting for the card scheme.",
        exceptional=True,
    )
    extended = statutory(psd, "resolve")
    assert extended.rule == "DISP 1.6.2AR(2)"
    complaint_change_regulation(
        complaint=psd, actor=supervisor, jurisdiction="GB-SCT", reason="Edinburgh branch."
    )
    moved = statutory(psd, "resolve")
    assert (moved.rule, moved.jurisdiction) == ("DISP 1.6.2AR(2)", "GB-SCT")

    # 2. A reopened complaint's resolve obligation counts from the reopening.
    time_machine.move_to(datetime(2026, 9, 1, 12, tzinfo=LONDON), tick=False)
    fca = make_complaint(regulatory_profile="uk_fca_disp")
    # Resolved on 10 September: after the summary window (Fri 4 Sep) closed.
    time_machine.move_to(datetime(2026, 9, 10, 12, tzinfo=LONDON), tick=False)
    acknowledge(fca, agent)
    resolve(Complaint.objects.get(pk=fca.pk), agent)
    reopened_at = datetime(2026, 12, 7, 12, tzinfo=UTC)
    time_machine.move_to(reopened_at, tick=False)
    from recovery.services import lifecycle

    lifecycle.complaint_reopen(
        complaint=Complaint.objects.get(pk=fca.pk), actor=supervisor, reason="Not fixed."
    )
    cycle_due = statutory(fca, "resolve").due_at
    complaint_change_regulation(
        complaint=fca, actor=supervisor, jurisdiction="GB-SCT", reason="Edinburgh branch."
    )
    again = statutory(fca, "resolve")
    assert (again.started_at, again.due_at) == (reopened_at, cycle_due)

    # 3. A breach once recorded stays one: the summary window was missed.
    summary = statutory(fca, "summary_resolution")
    assert summary.state == ClockState.BREACHED
    complaint_change_regulation(
        complaint=fca,
        actor=supervisor,
        regulatory_profile="au_asic_rg271",
        jurisdiction="",
        reason="Sydney.",
    )
    summary.refresh_from_db()
    assert summary.state == ClockState.BREACHED


@pytest.mark.django_db
def test_a_late_answer_and_a_late_step_found_by_a_change_are_breaches_on_the_timeline(
    make_complaint, agent, supervisor, time_machine
):
    # ASIC: received Monday 10:00 Sydney, acknowledged on Thursday, before any sweep.
    time_machine.move_to(datetime(2026, 11, 9, 10, tzinfo=ZoneInfo("Australia/Sydney")), tick=False)
    asic = make_complaint(regulatory_profile="au_asic_rg271")
    time_machine.move_to(
        datetime(2026, 11, 12, 10, tzinfo=ZoneInfo("Australia/Sydney")), tick=False
    )
    acknowledge(asic, agent)
    late = ComplaintEvent.objects.filter(complaint=asic, type=EventType.CLOCK_BREACHED)
    # (The internal target was late too: its breach is recorded beside.)
    assert [e.parameters["rule"] for e in late if e.parameters["statutory"]] == ["RG 271.51"]

    # An FCA complaint acknowledged late, then put under ASIC: its acknowledgement
    # obligation is planned as missed, and says so.
    time_machine.move_to(datetime(2026, 11, 9, 10, tzinfo=LONDON), tick=False)
    fca = make_complaint(regulatory_profile="uk_fca_disp")
    time_machine.move_to(datetime(2026, 11, 13, 10, tzinfo=LONDON), tick=False)
    acknowledge(fca, agent)
    complaint_change_regulation(
        complaint=fca, actor=supervisor, regulatory_profile="au_asic_rg271", reason="Sydney."
    )
    found = ComplaintEvent.objects.filter(complaint=fca, type=EventType.CLOCK_BREACHED)
    assert [e.parameters["clock"] for e in found if e.parameters["statutory"]] == ["acknowledge"]


@pytest.mark.django_db
def test_an_obligation_met_under_another_profile_gives_way_to_the_new_regimes(
    make_complaint, agent, supervisor, time_machine
):
    from datetime import date

    time_machine.move_to(datetime(2026, 12, 1, 12, tzinfo=LONDON), tick=False)
    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    acknowledge(complaint, agent)
    messages.complaint_send_written_response(
        complaint=Complaint.objects.get(pk=complaint.pk),
        actor=agent,
        reason="Waiting for the card scheme.",
        expected_by=date(2027, 1, 15),
    )
    assert statutory(complaint, "resolve").state == ClockState.MET

    # Same profile, another part of the UK: the written response still met it.
    complaint_change_regulation(
        complaint=complaint, actor=supervisor, jurisdiction="GB-SCT", reason="Edinburgh."
    )
    assert statutory(complaint, "resolve").state == ClockState.MET
    # Payment services has no written response: its own 15 business days run from receipt.
    complaint_change_regulation(
        complaint=complaint, actor=supervisor, regulatory_profile="uk_fca_psd", reason="A card."
    )
    resolve_clock = statutory(complaint, "resolve")
    # Received Tue 1 Dec: Wed 2 .. Fri 4 (3), Mon 7 .. Fri 11 (8), Mon 14 .. Fri 18 (13),
    # Mon 21 (14), Tue 22 Dec (15), 17:00 GMT.
    assert (resolve_clock.state, resolve_clock.rule, resolve_clock.due_at) == (
        ClockState.RUNNING,
        "DISP 1.6.2AR(1)",
        datetime(2026, 12, 22, 17, tzinfo=UTC),
    )


@pytest.mark.django_db
def test_a_letter_cannot_promise_a_date_more_than_a_year_away(make_complaint, agent):
    from datetime import date

    complaint = make_complaint(regulatory_profile="uk_fca_disp")
    with pytest.raises(ValidationFailed) as far:
        messages.complaint_send_written_response(
            complaint=complaint, actor=agent, reason="Waiting.", expected_by=date(9999, 12, 31)
        )
    assert "more than a year away" in far.value.message
    with pytest.raises(ValidationFailed) as none:
        messages.complaint_send_written_response(
            complaint=make_complaint(), actor=agent, reason="Waiting.", expected_by=date(2027, 1, 1)
        )
    assert "None" not in str(none.value.details)
