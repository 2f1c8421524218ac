"""Single sign-on for staff, against a real OpenID Connect provider (tests/oidc_provider.py)
run as its own process: discovery, JWKS, RS256 ID tokens, the authorization-code flow.

The browser's part is played by Django's test client on Redress's side and httpx on the
provider's: follow Redress to the provider, submit its login form, bring the code back.

People at the provider: ``alice`` (an agent of the billing team by her groups), ``mallory``
(groups that give no Redress role).
"""

import json
import re
import subprocess
import sys
from urllib.parse import urlparse

import httpx
import pytest
from axes.models import AccessFailureLog, AccessLog
from django.contrib.auth import get_user_model
from django.test import Client

from recovery import oidc, roles
from recovery.models import SsoIdentity
from tests.processes import ROOT

CLIENT_ID = "redress-test"
CLIENT_SECRET = "provider-secret-for-tests"
ALICE = {
    "password": "alice-password",
    "claims": {
        "sub": "alice-0001",
        "preferred_username": "alice",
        "email": "alice@example.com",
        "given_name": "Alice",
        "family_name": "Archer",
        "groups": ["complaints-agents", "cx-billing", "staff-everyone"],
    },
}


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    people = tmp_path_factory.mktemp("oidc") / "people.json"
    people.write_text("{}")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.oidc_provider", str(people), CLIENT_ID, CLIENT_SECRET],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(process.stdout.readline().split()[1])
        yield {"url": f"http://127.0.0.1:{port}", "people": people}
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def sso(provider, settings, groups, team, other_team):
    """Redress configured for the provider by its issuer alone (endpoints discovered)."""
    settings.REDRESS_OIDC_ENABLED = True
    settings.REDRESS_OIDC_ISSUER = provider["url"]
    settings.REDRESS_OIDC_DISCOVERY_URL = f"{provider['url']}/.well-known/openid-configuration"
    settings.REDRESS_OIDC_PROVIDER_NAME = "Example ID"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.REDRESS_OIDC_ROLE_CLAIMS = {
        "complaints-agents": roles.AGENT,
        "complaints-supervisors": roles.SUPERVISOR,
        "complaints-managers": roles.COMPLAINTS_MANAGER,
    }
    settings.REDRESS_OIDC_TEAM_CLAIMS = {"cx-billing": team.slug, "cx-delivery": other_team.slug}
    oidc._discovered.clear()
    provider["people"].write_text(json.dumps({"alice": ALICE}))
    return provider


def people_are(provider, **people):
    provider["people"].write_text(json.dumps(people))


def sign_in(client: Client, username: str, password: str, next_url: str = "/desk/team/"):
    """The whole flow as a browser runs it; Redress's last answer."""
    start = client.get("/oidc/authenticate/", {"next": next_url})
    assert start.status_code == 302, start.content
    with httpx.Client(timeout=10) as browser:
        form = browser.get(start["Location"])
        assert form.status_code == 200
        fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form.text))
        fields = {name: value.replace("&amp;", "&") for name, value in fields.items()}
        back = browser.post(
            f"{urlparse(start['Location'])._replace(path='/authorize', query='').geturl()}",
            data={**fields, "username": username, "password": password},
        )
    assert back.status_code == 302, back.text
    callback = urlparse(back.headers["Location"])
    assert callback.path == "/oidc/callback/"
    return client.get(f"{callback.path}?{callback.query}")


def team_slugs(user) -> set[str]:
    return set(user.teams.values_list("slug", flat=True))


def role_names(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_a_new_staff_member_is_created_with_role_and_team_from_claims(sso):
    client = Client()

    answer = sign_in(client, "alice", "alice-password")

    assert answer.status_code == 302
    assert answer["Location"] == "/desk/team/"
    alice = get_user_model().objects.get(sso_identities__subject="alice-0001")
    assert (alice.username, alice.email, alice.first_name) == (
        "alice",
        "alice@example.com",
        "Alice",
    )
    assert not alice.has_usable_password()
    assert role_names(alice) == {roles.AGENT}
    assert team_slugs(alice) == {"billing"}
    assert client.session["_auth_user_id"] == str(alice.pk)
    assert client.get("/desk/").status_code == 200
    # Audited as a password sign-in is.
    assert AccessLog.objects.filter(username="alice", path_info="/oidc/callback/").exists()


def test_the_next_sign_in_follows_the_changed_claims(sso):
    sign_in(Client(), "alice", "alice-password")
    moved = {
        **ALICE,
        "claims": {**ALICE["claims"], "groups": ["complaints-supervisors", "cx-delivery"]},
    }
    people_are(sso, alice=moved)

    answer = sign_in(Client(), "alice", "alice-password")

    assert answer.status_code == 302
    alice = get_user_model().objects.get(username="alice")
    assert role_names(alice) == {roles.SUPERVISOR}
    assert team_slugs(alice) == {"delivery"}
    assert SsoIdentity.objects.filter(user=alice).count() == 1


def test_a_complaints_manager_lands_on_the_dashboard_unless_next_says_otherwise(sso):
    manager = {
        **ALICE,
        "claims": {**ALICE["claims"], "groups": ["complaints-managers", "staff-everyone"]},
    }
    people_are(sso, alice=manager)

    assert sign_in(Client(), "alice", "alice-password", next_url="")["Location"] == (
        "/insights/dashboard/"
    )
    assert sign_in(Client(), "alice", "alice-password")["Location"] == "/desk/team/"


def test_an_agent_signing_in_by_sso_without_next_lands_on_their_queue(sso):
    assert sign_in(Client(), "alice", "alice-password", next_url="")["Location"] == "/desk/"


def test_a_single_sign_on_session_is_not_asked_for_our_second_factor(sso, settings):
    settings.REDRESS_STAFF_2FA_REQUIRED = True
    client = Client()

    sign_in(client, "alice", "alice-password")

    # The provider vouched for her factors; Redress does not send her to enrol.
    assert client.get("/desk/").status_code == 200


def test_claims_that_map_to_no_role_are_refused_with_a_page(sso):
    mallory = {**ALICE, "claims": {**ALICE["claims"], "sub": "m-1", "groups": ["staff-everyone"]}}
    people_are(sso, mallory=mallory)
    client = Client()

    answer = sign_in(client, "mallory", "alice-password")

    assert answer.status_code == 403
    assert "gives you no role in Redress" in answer.content.decode()
    assert "_auth_user_id" not in client.session
    assert not SsoIdentity.objects.filter(subject="m-1").exists()
    assert not get_user_model().objects.filter(email="alice@example.com").exists()
    assert AccessFailureLog.objects.filter(path_info="/oidc/callback/").exists()


def test_a_customer_account_never_signs_in_by_sso(sso, customer_user):
    SsoIdentity.objects.create(user=customer_user, issuer=sso["url"], subject="alice-0001")
    before = role_names(customer_user)
    client = Client()

    answer = sign_in(client, "alice", "alice-password")

    assert answer.status_code == 403
    assert "Customers do not sign in here." in answer.content.decode()
    assert "_auth_user_id" not in client.session
    assert role_names(customer_user) == before  # the claims' agent role was not given


def test_a_deactivated_account_stays_refused(sso):
    sign_in(Client(), "alice", "alice-password")
    get_user_model().objects.filter(username="alice").update(is_active=False)
    client = Client()

    answer = sign_in(client, "alice", "alice-password")

    assert answer.status_code == 403
    assert "deactivated" in answer.content.decode()
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.get(username="alice").is_active


@pytest.mark.parametrize(
    "quirk", ["expired", "wrong_audience", "wrong_nonce", "wrong_issuer", "bad_signature"]
)
def test_an_id_token_that_fails_a_check_is_refused(sso, quirk):
    people_are(sso, alice={**ALICE, "quirk": quirk})
    client = Client()

    answer = sign_in(client, "alice", "alice-password")

    assert answer.status_code == 403
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.filter(username="alice").exists()


def test_the_login_page_offers_sso_only_when_configured(sso, settings):
    offered = Client().get("/desk/login/").content.decode()
    settings.REDRESS_OIDC_ENABLED = False
    plain = Client().get("/desk/login/").content.decode()

    assert "Sign in with Example ID" in offered
    assert "Sign in with" not in plain
    assert Client().get("/oidc/authenticate/").status_code == 404


def test_an_unreachable_provider_is_a_page_not_a_500(sso, settings):
    settings.REDRESS_OIDC_DISCOVERY_URL = "http://127.0.0.1:9/.well-known/openid-configuration"
    oidc._discovered.clear()

    answer = Client().get("/oidc/authenticate/")

    assert answer.status_code == 502
    assert "cannot be reached" in answer.content.decode()


def test_a_callback_without_a_matching_state_is_refused(sso):
    answer = Client().get("/oidc/callback/", {"code": "x", "state": "never-issued"})

    assert answer.status_code == 403
