"""API tokens: hashed at rest, expiring, revocable, and closed to demo accounts in production.

Personas: ``manager`` (may read insights), ``agent`` (another token holder), and a demo
manager (the ``seed_demo`` kind of account, in the demo group).
"""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from recovery import roles
from recovery.services.api_tokens import api_token_issue
from tests.factories import UserFactory

KPIS = "/api/insights/kpis/"
PASSWORD = "correct horse battery"


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def issue_over_http(user) -> dict:
    answer = APIClient().post(
        "/api/auth/token/", {"username": user.username, "password": PASSWORD}, format="json"
    )
    assert answer.status_code == 200, answer.json()
    return answer.json()


@pytest.fixture
def manager_with_password(manager):
    manager.set_password(PASSWORD)
    manager.save()
    return manager


@pytest.fixture
def demo_manager(groups):
    user = UserFactory(username="manager1")
    user.groups.add(groups[roles.COMPLAINTS_MANAGER], groups[roles.DEMO])
    return user


# -- demo accounts ------------------------------------------------------------------------


def test_a_demo_accounts_token_is_refused_once_demos_are_off(demo_manager, settings):
    # Issued while demos were on (a demo database restored into production, say).
    settings.REDRESS_DEMO = True
    token = api_token_issue(user=demo_manager)[1]
    assert with_token(token).get(KPIS).status_code == 200

    settings.REDRESS_DEMO = False
    answer = with_token(token).get(KPIS)

    assert answer.status_code == 401
    assert answer.json()["error"] == "authentication_failed"


def test_an_ordinary_accounts_token_works_with_demos_off(manager, settings):
    settings.REDRESS_DEMO = False
    token = api_token_issue(user=manager)[1]

    assert with_token(token).get(KPIS).status_code == 200


# -- at rest and in time ------------------------------------------------------------------


def test_only_a_hash_of_the_token_is_stored(manager_with_password):
    token = issue_over_http(manager_with_password)["token"]

    with connection.cursor() as cursor:
        cursor.execute("SELECT digest, token_key FROM knox_authtoken")
        rows = cursor.fetchall()
    assert len(rows) == 1
    digest, key = rows[0]
    assert token not in digest
    assert token.startswith(key) and len(key) < len(token) // 4
    # And the old plain-text table is gone (recovery migration 0014).
    assert "authtoken_token" not in connection.introspection.table_names()


def test_a_token_expires_after_the_configured_hours(manager_with_password, settings):
    issued = issue_over_http(manager_with_password)
    expiry = AuthToken.objects.get().expiry
    expected = timezone.now() + timedelta(hours=settings.REDRESS_TOKEN_TTL_HOURS)
    assert abs((expiry - expected).total_seconds()) < 60
    assert issued["expiry"]

    with time_machine.travel(expiry - timedelta(minutes=1)):
        assert with_token(issued["token"]).get(KPIS).status_code == 200
    with time_machine.travel(expiry + timedelta(minutes=1)):
        assert with_token(issued["token"]).get(KPIS).status_code == 401


# -- revocation ---------------------------------------------------------------------------


def test_the_owner_lists_and_revokes_one_token(manager_with_password, agent):
    kept = issue_over_http(manager_with_password)["token"]
    revoked = issue_over_http(manager_with_password)["token"]
    api_token_issue(user=agent)  # someone else's: never listed, never revocable here

    listed = with_token(kept).get("/api/auth/tokens/").json()
    assert sorted(t["key"] for t in listed) == sorted([kept[:15], revoked[:15]])
    assert [t["current"] for t in listed if t["key"] == kept[:15]] == [True]

    answer = with_token(kept).delete(f"/api/auth/tokens/{revoked[:15]}/")

    assert answer.status_code == 204
    assert with_token(revoked).get(KPIS).status_code == 401
    assert with_token(kept).get(KPIS).status_code == 200
    agents_key = AuthToken.objects.get(user=agent).token_key
    refused = with_token(kept).delete(f"/api/auth/tokens/{agents_key}/")
    assert refused.status_code == 404
    assert AuthToken.objects.filter(user=agent).exists()


def test_revoking_all_signs_out_everywhere(manager_with_password):
    tokens = [issue_over_http(manager_with_password)["token"] for _ in range(3)]

    assert with_token(tokens[0]).delete("/api/auth/tokens/").status_code == 204

    assert [with_token(t).get(KPIS).status_code for t in tokens] == [401, 401, 401]


def test_a_password_change_revokes_every_token(manager_with_password, agent):
    token = issue_over_http(manager_with_password)["token"]
    others = api_token_issue(user=agent)[1]

    manager_with_password.set_password("a new and different password")
    manager_with_password.save()

    assert with_token(token).get(KPIS).status_code == 401
    assert with_token(others).get("/api/complaints/").status_code == 200


def test_saving_the_same_password_or_other_fields_keeps_tokens(manager_with_password):
    token = issue_over_http(manager_with_password)["token"]

    manager_with_password.first_name = "Renamed"
    manager_with_password.save()
    manager_with_password.set_password(PASSWORD)  # re-hashed, same password
    manager_with_password.save()

    assert with_token(token).get(KPIS).status_code == 200


def test_deactivating_the_account_revokes_every_token(manager_with_password):
    token = issue_over_http(manager_with_password)["token"]

    manager_with_password.is_active = False
    manager_with_password.save(update_fields=["is_active"])
    manager_with_password.is_active = True
    manager_with_password.save(update_fields=["is_active"])

    assert AuthToken.objects.count() == 0
    assert with_token(token).get(KPIS).status_code == 401


# -- the desk page ------------------------------------------------------------------------


def test_the_desk_page_lists_the_users_tokens_and_revokes_with_csrf(agent, manager):
    token = api_token_issue(user=agent)[1]
    api_token_issue(user=manager)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(agent)

    page = browser.get("/desk/api-tokens/")

    assert page.status_code == 200
    assert list(page.context["tokens"]) == list(AuthToken.objects.filter(user=agent))
    assert token[:15] in page.content.decode()
    revoke = f"/desk/api-tokens/{token[:15]}/revoke/"
    assert browser.post(revoke).status_code == 403  # no CSRF token: refused, nothing revoked
    assert AuthToken.objects.filter(user=agent).exists()

    csrf = page.context["csrf_token"]
    answer = browser.post(revoke, {"csrfmiddlewaretoken": str(csrf)})

    assert answer.status_code == 302
    assert not AuthToken.objects.filter(user=agent).exists()
    assert AuthToken.objects.filter(user=manager).exists()


def test_the_desk_revokes_all_of_the_users_tokens(agent, manager):
    for _ in range(2):
        api_token_issue(user=agent)
    api_token_issue(user=manager)
    browser = Client()
    browser.force_login(agent)

    answer = browser.post("/desk/api-tokens/revoke-all/", follow=True)

    assert answer.status_code == 200
    assert "2 token(s) revoked." in answer.content.decode()
    assert AuthToken.objects.filter(user=agent).count() == 0
    assert AuthToken.objects.filter(user=manager).count() == 1
