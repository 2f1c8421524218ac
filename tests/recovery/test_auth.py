"""Who may log in, and what each role may do.

Demo accounts (``seed_demo``, password ``demo``) exist for trying Redress out; settings with
``REDRESS_DEMO`` off refuse both the command and any login by a demo account, while every
other account logs in as usual (``recovery.auth.RedressModelBackend``).
"""

import csv
import io

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import Client, RequestFactory, override_settings

from demo.management.commands.seed_demo import CFPB_HISTORY
from notifications.models import Outbox
from recovery import roles
from recovery.models import Complaint, ComplaintEvent, ComplaintRootCause, State
from tests.conftest import api_client
from tests.factories import UserFactory

DEMO_LOGINS = ["agent1", "supervisor1", "manager1", "customer1", "customer2"]
DEMO_PASSWORD = "demo"


@pytest.fixture(scope="module")
def seeded_once(django_db_setup, django_db_blocker):
    """``seed_demo`` once for this module, in a transaction rolled back after its last test.

    Seeding runs dozens of complaints through every service, which is too slow to repeat
    per test; each test still runs in its own savepoint inside this transaction.
    """
    with django_db_blocker.unblock(), override_settings(REDRESS_DEMO=True), transaction.atomic():
        call_command("seed_demo", verbosity=0)
        yield
        transaction.set_rollback(True)


@pytest.fixture
def demo(seeded_once, db):
    """The demo data, as ``./redress run`` seeds it."""


def sign_in_request():
    # Every sign-in carries its request: django-axes counts failures by its client address.
    return RequestFactory().post("/desk/login/")


def request_token(username: str, password: str):
    return api_client().post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )


def seeded_counts() -> dict[str, int]:
    return {
        "users": get_user_model().objects.count(),
        "complaints": Complaint.objects.count(),
        "timeline events": ComplaintEvent.objects.count(),
    }


# -- seed_demo -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_is_refused_when_demos_are_off(settings, django_assert_num_queries):
    settings.REDRESS_DEMO = False

    # Refused before it reads or writes anything.
    with (
        django_assert_num_queries(0),
        pytest.raises(CommandError, match="Demo data is refused by these settings"),
    ):
        call_command("seed_demo", verbosity=0)


def test_seed_demo_again_leaves_what_it_seeded_once(demo, settings):
    settings.REDRESS_DEMO = True
    first = seeded_counts()

    call_command("seed_demo", verbosity=0)

    assert seeded_counts() == first


def test_seed_demo_fills_every_state(demo):
    states = set(Complaint.objects.values_list("state", flat=True))

    assert states == {state.value for state in State}
    assert Complaint.objects.count() >= 24


def test_seed_demo_imports_real_cfpb_history(demo):
    # The vendored CFPB file, counted with the csv module: every complaint in it, once,
    # with its cause, and no notification for history.
    with CFPB_HISTORY.open(newline="", encoding="utf-8") as source:
        ids = {row["Complaint ID"] for row in csv.DictReader(source)}
    imported = Complaint.objects.filter(source="cfpb")

    assert set(imported.values_list("external_id", flat=True)) == ids
    assert ComplaintRootCause.objects.filter(complaint__in=imported, is_primary=True).count() == (
        len(ids)
    )
    assert not Outbox.objects.filter(complaint_id__in=imported.values("pk")).exists()


def test_seed_demo_shows_the_history_import_progressing(demo, settings):
    settings.REDRESS_DEMO = True
    # As before the first start's import (the history is kept by other events: not deleted).
    Complaint.objects.filter(source="cfpb").update(source="cfpb-before")
    out, err = io.StringIO(), io.StringIO()

    call_command("seed_demo", stdout=out, stderr=err)

    # Not a terminal: a line per tenth of the file read, ending at 100 %.
    lines = err.getvalue().splitlines()
    assert [line.split()[-1] for line in lines][-1] == "100%"
    assert len(lines) >= 5
    assert all(line.startswith("Importing CFPB complaint history [") for line in lines)
    assert "Demo complaints already present" in out.getvalue()
    assert Complaint.objects.filter(source="cfpb").exists()


def test_seed_demo_again_shows_no_progress_bar_when_the_history_is_there(demo, settings):
    settings.REDRESS_DEMO = True
    out, err = io.StringIO(), io.StringIO()

    call_command("seed_demo", stdout=out, stderr=err)

    assert err.getvalue() == ""
    assert out.getvalue().splitlines() == [
        "Demo accounts, teams and categories…",
        "Demo complaints already present; accounts and data checked.",
    ]


def test_prepare_demo_skips_migrate_when_up_to_date_and_writes_the_welcome(
    demo, settings, tmp_path
):
    settings.REDRESS_DEMO = True
    welcome = tmp_path / "welcome.txt"
    out = io.StringIO()

    call_command("prepare_demo", url="http://127.0.0.1:8137", welcome_file=welcome, stdout=out)

    assert out.getvalue().startswith("Database up to date: nothing to migrate.\n")
    assert "Demo complaints already present" in out.getvalue()
    assert welcome.read_text().startswith("Redress is ready at http://127.0.0.1:8137/\n")
    assert "\n  agent1 " in welcome.read_text()


def test_prepare_demo_seeds_nothing_where_demos_are_refused(demo, settings, tmp_path):
    settings.REDRESS_DEMO = False
    welcome = tmp_path / "welcome.txt"
    out = io.StringIO()

    call_command("prepare_demo", welcome_file=welcome, stdout=out)

    assert "Demo" not in out.getvalue()
    assert "agent1" not in welcome.read_text()


def test_seeded_accounts_share_one_hash_of_the_demo_password(demo):
    hashes = set(
        get_user_model().objects.filter(username__in=DEMO_LOGINS).values_list("password", flat=True)
    )

    assert len(hashes) == 1
    assert get_user_model().objects.get(username="agent1").check_password(DEMO_PASSWORD)


# -- where to go once started (manage.py welcome, printed by ./redress run) -----------------


def test_welcome_lists_the_pages_at_the_address_given_and_the_demo_logins(demo, settings):
    settings.REDRESS_DEMO = True
    out = io.StringIO()

    call_command("welcome", url="http://127.0.0.1:8137/", stdout=out)

    text = out.getvalue()
    assert text.startswith("Redress is ready at http://127.0.0.1:8137/\n")
    for page in ["/", "/desk/", "/desk/board/", "/insights/", "/api/docs/", "/admin/"]:
        assert f" http://127.0.0.1:8137{page} " in text
    for username in DEMO_LOGINS:
        assert f"\n  {username} " in text
    assert "password 'demo'" in text


def test_welcome_names_teams_in_words_and_keeps_customers_off_the_desk_login(demo, settings):
    settings.REDRESS_DEMO = True
    out = io.StringIO()

    call_command("welcome", url="http://127.0.0.1:8137", stdout=out)

    text = out.getvalue()
    assert "[" not in text and "'billing'" not in text
    assert "\n  agent1       agent, billing team\n" in text
    assert "\n  supervisor1  supervisor, billing and triage teams\n" in text
    assert "\n  manager1     complaints manager\n" in text
    desk_login, customers = text.split("at http://127.0.0.1:8137/desk/login/:")[1].split(
        "Demo customers"
    )
    assert "customer1" not in desk_login
    assert "tracking links in their emails" in customers
    assert "http://127.0.0.1:8137/api/auth/token/" in customers
    assert "\n  customer1    customer (Casey Customer)\n" in customers


def test_welcome_names_no_demo_login_where_demos_are_refused(demo, settings):
    settings.REDRESS_DEMO = False
    out = io.StringIO()

    call_command("welcome", url="https://complaints.example.com", stdout=out)

    assert " https://complaints.example.com/desk/ " in out.getvalue()
    assert "agent1" not in out.getvalue()
    assert "demo" not in out.getvalue()


def test_welcome_leaves_out_demo_accounts_that_were_deactivated(demo, settings):
    settings.REDRESS_DEMO = True
    get_user_model().objects.filter(username="agent2").update(is_active=False)
    out = io.StringIO()

    call_command("welcome", stdout=out)

    assert "agent1" in out.getvalue()
    assert "agent2" not in out.getvalue()


# -- logging in ----------------------------------------------------------------------------


@pytest.mark.parametrize("username", DEMO_LOGINS)
def test_demo_logins_work_where_demos_are_allowed(demo, settings, username):
    settings.REDRESS_DEMO = True

    assert authenticate(sign_in_request(), username=username, password=DEMO_PASSWORD) is not None

    answer = request_token(username, DEMO_PASSWORD)

    assert answer.status_code == 200, answer.json()
    assert answer.json()["token"]


@pytest.mark.parametrize("username", DEMO_LOGINS)
def test_demo_logins_are_refused_where_demos_are_off(demo, settings, username):
    # The data is there (seeded earlier, or restored from a demo database): the settings
    # alone must keep the well-known password from opening anything.
    settings.REDRESS_DEMO = False

    assert authenticate(sign_in_request(), username=username, password=DEMO_PASSWORD) is None
    answer = request_token(username, DEMO_PASSWORD)
    assert answer.status_code == 400
    assert answer.json()["error"] == "validation_failed"
    assert (
        Client().login(request=sign_in_request(), username=username, password=DEMO_PASSWORD)
        is False
    )


def test_an_ordinary_account_logs_in_where_demos_are_off(settings, groups):
    settings.REDRESS_DEMO = False
    # A real agent, not in the demo group.
    agent = UserFactory(username="real_agent", password="a-real-password")
    agent.groups.add(groups[roles.AGENT])

    assert (
        authenticate(sign_in_request(), username="real_agent", password="a-real-password") == agent
    )
    answer = request_token("real_agent", "a-real-password")
    assert answer.status_code == 200, answer.json()


def test_a_wrong_password_gets_no_token(agent):
    answer = request_token(agent.username, "not-the-password")

    assert answer.status_code == 400
    assert answer.json() == {
        "error": "validation_failed",
        "message": "Unable to log in with the username and password given.",
        "details": {"non_field_errors": ["Invalid credentials."]},
    }


def test_demo_customers_see_only_their_own_complaints(demo):
    customer1 = get_user_model().objects.get(username="customer1")
    # A complaints manager sees every complaint; an agent only their teams' (recovery.access).
    manager1 = get_user_model().objects.get(username="manager1")

    own = api_client(customer1).get("/api/complaints/", {"page_size": 200}).json()
    everyone = api_client(manager1).get("/api/complaints/", {"page_size": 200}).json()

    assert 0 < own["count"] < everyone["count"] == Complaint.objects.count()
    assert {c["customer"]["id"] for c in own["results"]} == {customer1.customer.pk}


# -- roles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "permission", "granted"),
    [
        ("agent", "recovery.acknowledge_complaint", True),
        ("agent", "recovery.resolve_complaint", True),
        ("agent", "recovery.close_loop_complaint", True),
        ("agent", "recovery.withdraw_complaint", True),
        # Reopening undoes a resolution: a supervisor's call, not the resolving agent's.
        ("agent", "recovery.reopen_complaint", False),
        ("agent", "recovery.work_any_complaint", False),
        ("supervisor", "recovery.reopen_complaint", True),
        ("supervisor", "recovery.work_any_complaint", True),
        ("supervisor", "recovery.add_rootcause", False),
        ("manager", "recovery.reopen_complaint", True),
        ("manager", "recovery.add_rootcause", True),
        # Customers act on their own complaints through ownership rules, not permissions.
        ("customer_user", "recovery.view_complaint", False),
        ("customer_user", "recovery.acknowledge_complaint", False),
    ],
)
def test_role_groups_carry_their_permissions(request, persona, permission, granted):
    user = request.getfixturevalue(persona)

    assert user.has_perm(permission) is granted


def test_the_demo_group_grants_nothing(groups):
    assert list(groups[roles.DEMO].permissions.all()) == []


@pytest.mark.django_db
@pytest.mark.parametrize("stored", ["999999999", "-1", "2147483648"])
def test_a_session_naming_no_user_signs_out_rather_than_failing(agent, stored):
    # The session's user is read by a statement compiled once per process: a value that
    # names nobody (or is beyond any id) must read as signed out, as Django's own does.
    client = Client()
    client.force_login(agent)
    session = client.session
    session["_auth_user_id"] = stored
    session.save()

    answer = client.get("/desk/")

    assert answer.status_code == 302
    assert answer["Location"].startswith("/desk/login/")


@pytest.mark.django_db
def test_two_sessions_in_one_process_each_read_their_own_user(agent, supervisor):
    pages = {}
    for user in (agent, supervisor, agent):
        client = Client()
        client.force_login(user)
        page = client.get("/desk/").content.decode()
        pages.setdefault(user.username, []).append(f'data-username="{user.username}"' in page)

    assert pages == {agent.username: [True, True], supervisor.username: [True]}


@pytest.mark.django_db
def test_an_expired_session_reads_as_signed_out(agent):
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    client = Client()
    client.force_login(agent)
    assert client.get("/desk/").status_code == 200
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - timezone.timedelta(seconds=1)
    )

    answer = client.get("/desk/")

    assert answer.status_code == 302
    assert answer["Location"].startswith("/desk/login/")
