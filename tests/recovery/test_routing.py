"""Routing: every new complaint lands in a team's queue, whichever way it came in.

Personas: ``customer_user`` complains through the API; ``agent`` (on Billing) submits for a
customer and may name a team; ``root`` edits the rules in the admin. ``team`` is Billing,
``other_team`` Delivery; Triage is made by the data migration.
"""

from email.message import EmailMessage

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from notifications.ingest import ingest_message
from notifications.models import Outbox
from recovery.models import Category, Channel, Complaint, RoutingRule, Team
from recovery.services import intake, routing
from tests.conftest import api_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

COMPLAINTS = "/api/complaints/"


def facts(**given) -> routing.Facts:
    values = {
        "channel": Channel.WEB,
        "category": "",
        "product": "",
        "text": "My parcel never arrived",
        "regulatory_profile": "",
        "segment": "",
    }
    values.update(given)
    return routing.Facts(**values)


def rule(team, name="Rule", position=100, **lists) -> RoutingRule:
    made = RoutingRule(name=name, position=position, team=team, **lists)
    made.full_clean()
    made.save()
    return made


def submit(actor, **fields) -> Complaint:
    complaint, _ = intake.complaint_submit(
        actor=actor,
        intake=intake.ComplaintIntake(
            subject=fields.pop("subject", "Charged twice"),
            description=fields.pop("description", "My card was charged twice."),
            **fields,
        ),
    )
    return complaint


def routed_event(complaint: Complaint) -> dict:
    return complaint.events.get(type="routed").parameters


# -- matching ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keywords", "text", "found"),
    [
        (["refund"], "I want a REFUND!", True),
        (["refund"], "Refunded twice, thanks", False),
        (["refund"], "nonrefund policy", False),
        (["money back"], "I want my money\n back now", True),
        (["money back"], "moneyback guarantee", False),
        (["C++"], "the C++ course was cancelled", True),
        (["Überweisung"], "meine ÜBERWEISUNG fehlt", True),
        (["refund", "chargeback"], "I filed a chargeback.", True),
    ],
)
def test_keywords_are_whole_words_or_phrases_in_any_case(team, keywords, text, found):
    assert routing.matches(rule(team, keywords=keywords), facts(text=text)) is found


def test_every_list_given_must_match_and_an_empty_list_matches_anything(team):
    cards_by_email = rule(team, channels=["email"], categories=[], segments=["VIP"])

    assert routing.matches(cards_by_email, facts(channel="email", segment="vip"))
    assert not routing.matches(cards_by_email, facts(channel="web", segment="VIP"))
    assert not routing.matches(cards_by_email, facts(channel="email", segment="Standard"))


def test_a_segment_of_several_tags_matches_any_of_them(team):
    servicemembers = rule(team, segments=["Servicemember"])

    assert routing.matches(servicemembers, facts(segment="Older American, Servicemember"))
    assert not routing.matches(servicemembers, facts(segment="Older American"))


def test_products_and_profiles_match_the_complaints_own(team):
    cards = rule(team, products=["Credit card"], regulatory_profiles=["uk_fca_disp"])

    assert routing.matches(cards, facts(product=" credit CARD ", regulatory_profile="uk_fca_disp"))
    assert not routing.matches(cards, facts(product="Credit card", regulatory_profile=""))
    assert not routing.matches(cards, facts(product="Debit card", regulatory_profile="uk_fca_disp"))


def test_a_malformed_list_saved_around_validation_matches_nothing(team):
    broken = RoutingRule.objects.create(name="Broken", team=team, channels="email")

    assert not routing.matches(broken, facts(channel="email"))


# -- intake --------------------------------------------------------------------------------


def test_the_first_matching_rule_by_position_wins(customer_user, team, other_team):
    rule(other_team, name="Anything by API", position=20, channels=["api"])
    rule(team, name="Refunds keywords", position=10, keywords=["refund"])

    complaint = submit(customer_user, description="Please refund the second charge.")

    assert complaint.team == team
    assert routed_event(complaint) == {
        "team_id": team.pk,
        "team": "Billing",
        "by": "rule",
        "rule_id": RoutingRule.objects.get(name="Refunds keywords").pk,
        "rule_name": "Refunds keywords",
    }
    assert (
        routing.describe(routed_event(complaint)) == "Routed to Billing by rule 'Refunds keywords'"
    )


def test_inactive_rules_are_skipped(customer_user, team, other_team):
    off = rule(team, name="Off", position=1, channels=["api"])
    off.is_active = False
    off.save()
    rule(other_team, name="On", position=2, channels=["api"])

    assert submit(customer_user).team == other_team


def test_a_complaint_no_rule_matches_goes_to_triage_by_default(customer_user, team):
    rule(team, name="Email only", channels=["email"])

    complaint = submit(customer_user)

    triage = Team.objects.get(is_triage=True)
    assert (triage.name, triage.slug) == ("Triage", "triage")
    assert complaint.team == triage
    assert routed_event(complaint)["by"] == "default"
    assert routing.describe(routed_event(complaint)) == "Routed to Triage by default"


def test_a_category_default_team_is_used_when_no_rule_matches(customer_user, other_team):
    Category.objects.create(name="Delivery", slug="delivery", default_team=other_team)

    complaint = submit(customer_user, category="delivery")

    assert complaint.team == other_team
    assert routed_event(complaint)["by"] == "category"


def test_a_rule_outranks_the_category_default_team(customer_user, team, other_team):
    Category.objects.create(name="Delivery", slug="delivery", default_team=other_team)
    rule(team, name="Refunds", keywords=["charged"])

    assert submit(customer_user, category="delivery").team == team


def test_without_a_triage_team_intake_makes_one_rather_than_leave_a_complaint_unrouted(
    customer_user,
):
    Team.objects.filter(is_triage=True).update(is_triage=False)
    Team.objects.filter(slug="triage").delete()

    complaint = submit(customer_user)

    assert complaint.team == Team.objects.get(is_triage=True, slug="triage")


def test_a_second_triage_team_is_refused_by_the_database(db):
    from django.db import IntegrityError, transaction

    assert Team.objects.filter(is_triage=True).count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        Team.objects.create(name="Second", slug="second", is_triage=True)


def test_staff_naming_a_team_keep_it_over_every_rule(agent, team, other_team):
    rule(team, name="Everything", position=1)

    answer = api_client(agent).post(
        COMPLAINTS,
        {
            "subject": "Lost parcel",
            "description": "Never came.",
            "customer": {"name": "Ada", "email": "ada@example.com"},
            "team": other_team.slug,
        },
        format="json",
    )

    assert answer.status_code == 201, answer.json()
    complaint = Complaint.objects.get(reference=answer.json()["reference"])
    assert complaint.team == other_team
    assert routed_event(complaint)["by"] == "caller"


def test_a_customer_may_not_name_a_team_and_nothing_is_written(customer_user, team):
    answer = api_client(customer_user).post(
        COMPLAINTS,
        {"subject": "Lost", "description": "Never came.", "team": team.slug},
        format="json",
    )

    assert answer.status_code == 403
    assert answer.json()["message"] == "Only staff may route a complaint to a team."
    assert not Complaint.objects.exists()


def test_the_customer_segment_routes(agent, team, customer_user):
    customer = customer_user.customer
    customer.segment = "VIP"
    customer.save()
    rule(team, name="VIPs", segments=["vip"])

    assert submit(customer_user).team == team


def test_the_received_event_tells_the_routed_team_and_the_routed_event_tells_nobody(
    customer_user, team
):
    rule(team, name="Refunds", keywords=["charged"])

    complaint = submit(customer_user)

    received = Outbox.objects.get(complaint_id=complaint.pk, event_type="complaint.received")
    routed = Outbox.objects.get(complaint_id=complaint.pk, event_type="complaint.routed")
    assert received.audience["teams"] == [team.pk]
    assert routed.audience == {"teams": [], "users": [], "customer": None}


def test_the_customer_never_sees_how_their_complaint_was_routed(customer_user, team):
    rule(team, name="Difficult customers", keywords=["charged"])
    complaint = submit(customer_user)

    answer = api_client(customer_user).get(f"{COMPLAINTS}{complaint.reference}/")

    assert [event["type"] for event in answer.json()["timeline"]] == ["received"]
    assert "Difficult customers" not in answer.content.decode()


def test_the_public_form_routes_by_its_category_and_keywords(groups, team, other_team):
    Category.objects.create(name="Card payments", slug="card-payments")
    rule(other_team, name="Web cards", channels=["web"], categories=["card-payments"])

    answer = Client().post(
        "/",
        {
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "description": "I was charged twice for one order.",
            "category": "card-payments",
            "website": "",
        },
    )

    assert answer.status_code == 302
    complaint = Complaint.objects.get()
    assert (complaint.channel, complaint.team) == (Channel.WEB, other_team)
    assert routed_event(complaint)["rule_name"] == "Web cards"


def test_an_emailed_complaint_is_routed_by_its_words(groups, team):
    rule(team, name="Parcels", channels=["email"], keywords=["parcel"])
    message = EmailMessage()
    message["From"] = "Jana <jana@example.org>"
    message["To"] = "complaints@redress.invalid"
    message["Subject"] = "My parcel never arrived"
    message["Message-ID"] = "<routing-1@mail.example.org>"
    message.set_content("I ordered a lamp and it never came.")

    result = ingest_message(message.as_bytes(), source="test")

    complaint = Complaint.objects.get(pk=result.inbound.complaint_id)
    assert complaint.team == team
    assert routed_event(complaint)["rule_name"] == "Parcels"


def test_an_import_routes_each_complaint_reading_the_rules_once_per_batch(team, tmp_path, settings):
    settings.REDRESS_CONFIGURATION_CACHE = True  # the rules held per process
    from tests.imports.test_import_cfpb import cfpb_row, import_cfpb, write_csv

    rule(team, name="Servicemembers", segments=["Servicemember"])
    rows = [cfpb_row(complaint_id=str(n), tags="Servicemember") for n in range(1, 21)]
    rows.append(cfpb_row(complaint_id="99", tags=""))

    import_cfpb(write_csv(tmp_path / "r.csv", *rows))

    teams = dict(Complaint.objects.values_list("external_id", "team__slug"))
    assert teams == {**{str(n): "billing" for n in range(1, 21)}, "99": "triage"}
    # The rules are read once for a batch, not once per row; unchanged since the last read,
    # they are not read again at all (held per process, escalation.configuration).
    more = [cfpb_row(complaint_id=str(n), tags="Servicemember") for n in range(100, 160)]
    with CaptureQueriesContext(connection) as counted:
        import_cfpb(write_csv(tmp_path / "s.csv", *more))
    assert sum('FROM "recovery_routingrule"' in query["sql"] for query in counted) == 0
    assert Complaint.objects.filter(team=team).count() == 80
    # A rule changed: the next batch reads the rules once, and routes by the change.
    RoutingRule.objects.filter(name="Servicemembers").get().delete()
    last = [cfpb_row(complaint_id=str(n), tags="Servicemember") for n in range(200, 205)]
    with CaptureQueriesContext(connection) as counted:
        import_cfpb(write_csv(tmp_path / "t.csv", *last))
    assert sum('FROM "recovery_routingrule"' in query["sql"] for query in counted) == 1
    assert Complaint.objects.filter(team=team).count() == 80
    assert Complaint.objects.filter(team__slug="triage").count() == 6


# -- the admin -----------------------------------------------------------------------------


@pytest.fixture
def root(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def admin_post(root, to_team, **fields):
    data = {
        "name": "Refunds keywords",
        "position": "10",
        "is_active": "on",
        "team": str(to_team.pk),
        "channels": "[]",
        "categories": "[]",
        "products": "[]",
        "keywords": '["refund"]',
        "regulatory_profiles": "[]",
        "segments": "[]",
    }
    data.update(fields)
    return root.post("/admin/recovery/routingrule/add/", data)


def test_a_second_triage_team_is_refused_in_the_admin_with_a_message(root, team):
    answer = root.post(
        f"/admin/recovery/team/{team.pk}/change/",
        {"name": "Billing", "slug": "billing", "is_triage": "on"},
    )

    assert answer.status_code == 200
    assert "Another team is already the triage team." in answer.content.decode()
    assert not Team.objects.get(pk=team.pk).is_triage


def test_a_rule_is_added_in_the_admin(root, team):
    answer = admin_post(root, team, channels='["email", "web"]')

    assert answer.status_code == 302
    saved = RoutingRule.objects.get()
    assert (saved.team, saved.channels, saved.keywords) == (team, ["email", "web"], ["refund"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("channels", '["fax"]', "Unknown: fax. Known: api, chat, email"),
        ("categories", '["no-such"]', "Unknown: no-such."),
        ("regulatory_profiles", '["mars"]', "Unknown: mars."),
        ("keywords", '"refund"', 'A JSON list of texts, e.g. ["refund"], or [] for any.'),
        ("keywords", '["   "]', "A JSON list of texts"),
        ("keywords", '["!!"]', "Each keyword needs at least one letter or digit."),
        ("segments", "[1, 2]", "A JSON list of texts"),
        ("products", "not json", "Enter a valid JSON."),
        ("team", "999999", "Select a valid choice."),
    ],
)
def test_a_bad_rule_is_refused_with_what_is_wrong(root, team, field, value, message):
    answer = admin_post(root, team, **{field: value})

    assert answer.status_code == 200
    errors = answer.context["adminform"].form.errors
    assert message in " ".join(errors.get(field, [])), errors
    assert not RoutingRule.objects.exists()


def test_saving_a_rule_reroutes_no_complaint(root, customer_user, team):
    complaint = submit(customer_user)
    before = list(Complaint.objects.values_list("pk", "team_id", "updated_at"))

    assert admin_post(root, team, keywords='["charged"]').status_code == 302

    assert list(Complaint.objects.values_list("pk", "team_id", "updated_at")) == before
    assert complaint.events.filter(type="routed").count() == 1
