"""Sign-in lockout (django-axes) on the desk, the admin and the token endpoint, and its audit.

Personas: ``agent`` (the account under attack), ``supervisor`` (another account, signing in
from the attacker's address). Failures are counted per account and per client address.
"""

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

PASSWORD = "correct horse battery"
LIMIT = 4


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


@pytest.fixture
def target(agent):
    agent.set_password(PASSWORD)
    agent.save()
    agent.is_staff = True  # so that the admin sign-in would let it in, too
    agent.save()
    return agent


def desk_sign_in(client, username, password, address="203.0.113.7"):
    return client.post(
        "/desk/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def admin_sign_in(client, username, password, address="203.0.113.7"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def token_sign_in(username, password, address="203.0.113.7"):
    return APIClient().post(
        "/api/auth/token/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
    )


@pytest.mark.parametrize("sign_in", [desk_sign_in, admin_sign_in], ids=["desk", "admin"])
def test_the_right_password_is_refused_after_too_many_wrong_ones(target, sign_in):
    client = Client()
    for _ in range(LIMIT - 1):
        assert sign_in(client, target.username, "wrong").status_code == 200

    locked = sign_in(client, target.username, "wrong")
    right = sign_in(client, target.username, PASSWORD)

    for answer in (locked, right):
        assert answer.status_code == 429
        assert "Too many failed attempts; try again in 15 minutes." in answer.content.decode()
        assert answer["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session


def test_the_account_is_locked_from_every_address(target):
    for number in range(LIMIT):
        desk_sign_in(Client(), target.username, "wrong", address=f"198.51.100.{number}")

    answer = desk_sign_in(Client(), target.username, PASSWORD, address="192.0.2.1")

    assert answer.status_code == 429


def test_the_address_is_locked_for_every_account(target, supervisor):
    for number in range(LIMIT):
        token_sign_in(f"guess{number}", "wrong")
    supervisor.set_password(PASSWORD)
    supervisor.save()

    refused = token_sign_in(supervisor.username, PASSWORD)
    elsewhere = token_sign_in(supervisor.username, PASSWORD, address="192.0.2.1")

    assert refused.status_code == 429
    assert refused.json() == {
        "error": "too_many_attempts",
        "message": "Too many failed attempts; try again in 15 minutes.",
        "details": {"retry_after_minutes": 15},
    }
    assert elsewhere.status_code == 200, elsewhere.json()


def test_the_token_endpoint_counts_towards_the_desk_lockout(target):
    for _ in range(LIMIT):
        assert token_sign_in(target.username, "wrong").status_code in {400, 429}

    assert token_sign_in(target.username, PASSWORD).status_code == 429
    assert desk_sign_in(Client(), target.username, PASSWORD).status_code == 429


def test_a_locked_out_user_can_sign_in_after_the_cool_off(target, settings):
    for _ in range(LIMIT):
        desk_sign_in(Client(), target.username, "wrong")
    assert desk_sign_in(Client(), target.username, PASSWORD).status_code == 429

    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME):
        answer = desk_sign_in(Client(), target.username, PASSWORD)

    assert answer.status_code == 302


def test_sign_ins_are_audited_successes_and_failures(target):
    desk_sign_in(Client(), target.username, "wrong", address="198.51.100.9")
    token_sign_in(target.username, PASSWORD, address="198.51.100.10")
    desk_sign_in(Client(), target.username, PASSWORD, address="198.51.100.11")

    failures = AccessFailureLog.objects.filter(username=target.username)
    successes = AccessLog.objects.filter(username=target.username).order_by("attempt_time")
    assert [f.ip_address for f in failures] == ["198.51.100.9"]
    assert [(s.ip_address, s.path_info) for s in successes] == [
        ("198.51.100.10", "/api/auth/token/"),
        ("198.51.100.11", "/desk/login/"),
    ]
    assert AccessAttempt.objects.filter(username=target.username).exists()


@pytest.mark.parametrize("password", ["short1", "password123", "12345678901", "agent123"], ids=str)
def test_weak_passwords_are_refused_by_the_validators(agent, password):
    with pytest.raises(ValidationError):
        validate_password(password, user=agent)
