"""The staff's TOTP second factor: enrolment, the code step on desk, admin and API, the
limits on guessing, the required-enrolment setting and the administrator's reset.

Personas: ``agent`` (enrols, signs in), ``manager`` (a complaints manager who resets a lost
phone), ``supervisor`` (staff who may not reset).
"""

import re
from datetime import datetime

import pytest
import time_machine
from axes.models import AccessFailureLog, AccessLog
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from tests.factories import api_token_for

PASSWORD = "correct horse battery"
LIMIT = 4
ADDRESS = "203.0.113.7"


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


@pytest.fixture
def enrolled(agent):
    """The agent, with a password, admin access and a confirmed authenticator app."""
    agent.set_password(PASSWORD)
    agent.is_staff = True
    agent.save()
    TOTPDevice.objects.create(user=agent, name="phone", confirmed=True)
    return agent


def code_of(user, *, wrong=False) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    code = totp(device.bin_key)
    return f"{(code + 1) % 1_000_000:06d}" if wrong else f"{code:06d}"


def password_step(client, user, path="/desk/login/?next=/desk/team/"):
    return client.post(path, {"username": user.username, "password": PASSWORD}, REMOTE_ADDR=ADDRESS)


def code_step(client, code):
    return client.post("/desk/login/code/", {"code": code}, REMOTE_ADDR=ADDRESS)


# -- enrolment ---------------------------------------------------------------------------


def test_a_staff_member_enrols_with_the_qr_code_and_a_first_code(agent):
    client = Client()
    client.force_login(agent)

    page = client.get("/desk/two-factor/").content.decode()
    secret = re.search(r'id="otp-secret">([A-Z2-7]+)<', page).group(1)
    assert "<svg" in page
    assert f"secret={secret}" in page  # the otpauth URI, for apps that take a link
    device = TOTPDevice.objects.get(user=agent)
    assert not device.confirmed

    wrong = client.post("/desk/two-factor/", {"code": f"{(totp(device.bin_key) + 1) % 10**6:06d}"})
    assert wrong.status_code == 400
    assert "That code is not right" in wrong.content.decode()
    assert secret in wrong.content.decode()  # the same key again: no second scan needed

    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=5), tick=False):
        done = client.post("/desk/two-factor/", {"code": f"{totp(device.bin_key):06d}"})

    assert done.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert 'id="second-factor-on"' in client.get("/desk/two-factor/").content.decode()
    # The session that showed the code stays in: it passed the second factor.
    assert client.get("/desk/").status_code == 200


def test_each_visit_to_the_enrolment_page_makes_a_new_secret(agent):
    client = Client()
    client.force_login(agent)

    first = re.search(r'id="otp-secret">(\w+)<', client.get("/desk/two-factor/").content.decode())
    second = re.search(r'id="otp-secret">(\w+)<', client.get("/desk/two-factor/").content.decode())

    assert first.group(1) != second.group(1)
    assert TOTPDevice.objects.filter(user=agent).count() == 1


# -- signing in --------------------------------------------------------------------------


def test_an_enrolled_desk_sign_in_asks_for_the_code_before_signing_in(enrolled):
    client = Client()

    answer = password_step(client, enrolled)

    assert answer.status_code == 302
    assert answer["Location"] == "/desk/login/code/"
    assert "_auth_user_id" not in client.session
    assert client.get("/desk/").status_code == 302  # not in yet

    wrong = code_step(client, code_of(enrolled, wrong=True))
    assert wrong.status_code == 200
    assert "That code is not right" in wrong.content.decode()
    assert "_auth_user_id" not in client.session

    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=3), tick=False):
        right = code_step(client, code_of(enrolled))

    assert right.status_code == 302
    assert right["Location"] == "/desk/team/"
    assert client.session["_auth_user_id"] == str(enrolled.pk)
    assert client.get("/desk/").status_code == 200
    # The audit: the wrong code as a failure, the sign-in once, after the code.
    assert AccessFailureLog.objects.filter(username=enrolled.username).count() == 1
    assert AccessLog.objects.filter(username=enrolled.username).count() == 1


def test_the_admin_sign_in_asks_for_the_code_too(enrolled):
    client = Client()

    answer = password_step(client, enrolled, path="/admin/login/?next=/admin/")

    assert answer.status_code == 302
    assert answer["Location"] == "/desk/login/code/"
    assert "_auth_user_id" not in client.session
    assert code_step(client, code_of(enrolled))["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_admin_sign_in_shows_its_form_to_a_signed_in_account_without_admin_access(agent):
    client = Client()
    client.force_login(agent)  # staff on the desk, but not is_staff

    answer = client.get("/admin/login/?next=/admin/")

    assert answer.status_code == 200
    assert 'name="password"' in answer.content.decode()


def test_the_admin_sign_in_does_not_follow_a_foreign_next(enrolled):
    client = Client()
    password_step(client, enrolled, path="/admin/login/?next=https://evil.example/")

    assert code_step(client, code_of(enrolled))["Location"] == "/admin/"


def test_a_code_too_soon_after_a_wrong_one_is_refused_unchecked(enrolled):
    client = Client()
    password_step(client, enrolled)
    code_step(client, code_of(enrolled, wrong=True))

    answer = code_step(client, code_of(enrolled))

    assert answer.status_code == 429
    assert "Too many wrong codes" in answer.content.decode()
    assert "_auth_user_id" not in client.session


def test_wrong_codes_count_towards_the_sign_in_lockout(enrolled):
    client = Client()
    password_step(client, enrolled)
    now = timezone.now()
    for number in range(LIMIT):
        # Past the device's own back-off (1, 2, 4, 8 s), so only the lockout is left to stop it.
        with time_machine.travel(now + timezone.timedelta(seconds=20 * number), tick=False):
            code_step(client, code_of(enrolled, wrong=True))

    with time_machine.travel(now + timezone.timedelta(seconds=20 * LIMIT), tick=False):
        answer = code_step(client, code_of(enrolled))
        fresh = password_step(Client(), enrolled)

    assert answer.status_code == 429
    assert "Too many failed attempts" in answer.content.decode()
    assert "_auth_user_id" not in client.session
    assert fresh.status_code == 429  # the password door is closed as well


def test_an_unanswered_code_step_expires(enrolled, settings):
    client = Client()
    password_step(client, enrolled)

    later = timezone.now() + timezone.timedelta(seconds=settings.REDRESS_2FA_PENDING_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        answer = code_step(client, code_of(enrolled))

    assert answer.status_code == 302
    assert answer["Location"] == "/desk/login/"
    assert "_auth_user_id" not in client.session


def test_a_session_begun_before_enrolment_must_sign_in_again_once_required(agent, settings):
    settings.REDRESS_STAFF_2FA_REQUIRED = True
    client = Client()
    client.force_login(agent)
    TOTPDevice.objects.create(user=agent, name="phone", confirmed=True)

    answer = client.get("/desk/")

    assert answer.status_code == 302
    assert answer["Location"].startswith("/desk/login/")
    assert "_auth_user_id" not in client.session


# -- enrolment required ------------------------------------------------------------------


def test_required_enrolment_sends_staff_to_enrol_first(agent, settings):
    settings.REDRESS_STAFF_2FA_REQUIRED = True
    agent.set_password(PASSWORD)
    agent.save()
    client = Client()

    signed_in = password_step(client, agent)
    desk = client.get("/desk/")
    api = client.get("/api/complaints/")
    token = APIClient().post(
        "/api/auth/token/", {"username": agent.username, "password": PASSWORD}, format="json"
    )

    assert signed_in.status_code == 302
    assert desk.status_code == 302
    assert desk["Location"] == "/desk/two-factor/?next=%2Fdesk%2F"
    assert client.get(desk["Location"]).status_code == 200
    assert api.status_code == 403
    assert api.json()["error"] == "second_factor_required"
    assert token.status_code == 403
    assert "second factor" in token.json()["message"]


def test_required_enrolment_leaves_customers_alone(customer_user, settings):
    settings.REDRESS_STAFF_2FA_REQUIRED = True
    client = Client()
    client.force_login(customer_user)

    assert client.get("/api/complaints/").status_code == 200


def test_a_token_issued_before_enrolment_was_required_opens_nothing_once_it_is(agent, settings):
    # Tokens are checked on every request, not only when issued: a token from the days
    # before REDRESS_STAFF_2FA_REQUIRED must not dodge the enrolment it now demands.
    key = api_token_for(agent)
    settings.REDRESS_STAFF_2FA_REQUIRED = True

    answer = APIClient().get("/api/complaints/", HTTP_AUTHORIZATION=f"Token {key}")

    assert answer.status_code == 401
    assert "second factor" in answer.json()["message"]


def test_a_customers_token_still_works_when_staff_enrolment_is_required(customer_user, settings):
    key = api_token_for(customer_user)
    settings.REDRESS_STAFF_2FA_REQUIRED = True

    answer = APIClient().get("/api/complaints/", HTTP_AUTHORIZATION=f"Token {key}")

    assert answer.status_code == 200


def test_enrolling_revokes_the_tokens_issued_before(agent):
    before = api_token_for(agent)
    client = Client()
    client.force_login(agent)
    client.get("/desk/two-factor/")
    device = TOTPDevice.objects.get(user=agent)

    client.post("/desk/two-factor/", {"code": f"{totp(device.bin_key):06d}"})

    assert TOTPDevice.objects.get(user=agent).confirmed
    answer = APIClient().get("/api/complaints/", HTTP_AUTHORIZATION=f"Token {before}")
    assert answer.status_code == 401


# -- API tokens --------------------------------------------------------------------------


def token_request(user, **extra):
    return APIClient().post(
        "/api/auth/token/",
        {"username": user.username, "password": PASSWORD, **extra},
        format="json",
        REMOTE_ADDR=ADDRESS,
    )


def test_an_enrolled_account_needs_its_code_for_an_api_token(enrolled):
    missing = token_request(enrolled)
    wrong = token_request(enrolled, otp=code_of(enrolled, wrong=True))
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=5), tick=False):
        right = token_request(enrolled, otp=code_of(enrolled))

    assert missing.status_code == 400
    assert missing.json()["details"] == {"otp": ["This field is required for this account."]}
    assert wrong.status_code == 400
    assert wrong.json()["details"] == {"code": ["wrong code"]}
    assert right.status_code == 200, right.json()
    assert right.json()["token"]
    assert AccessFailureLog.objects.filter(username=enrolled.username).count() == 1


def test_a_code_too_soon_at_the_token_endpoint_is_429_with_retry_after_and_iso_time(enrolled):
    token_request(enrolled, otp=code_of(enrolled, wrong=True))

    answer = token_request(enrolled, otp=code_of(enrolled))

    assert answer.status_code == 429
    assert answer.json()["error"] == "too_many_attempts"
    assert int(answer["Retry-After"]) >= 1
    locked_until = datetime.fromisoformat(answer.json()["details"]["locked_until"])
    assert locked_until.tzinfo is not None
    assert locked_until > timezone.now()


def test_an_unenrolled_account_gets_a_token_with_the_password_alone(agent):
    agent.set_password(PASSWORD)
    agent.save()

    assert token_request(agent).status_code == 200


# -- reset by an administrator -----------------------------------------------------------


def reset_action(client, user):
    return client.post(
        "/admin/auth/user/",
        {"action": "reset_second_factor", "_selected_action": [user.pk]},
    )


def test_a_complaints_manager_resets_a_lost_phone_and_it_is_recorded(enrolled, manager):
    manager.is_staff = True
    manager.save()
    client = Client()
    client.force_login(manager)

    answer = reset_action(client, enrolled)

    assert answer.status_code == 302
    assert not TOTPDevice.objects.filter(user=enrolled).exists()
    entry = LogEntry.objects.get(object_id=str(enrolled.pk))
    assert entry.user == manager
    assert "Second factor reset" in entry.get_change_message()
    # Back to the password alone.
    assert password_step(Client(), enrolled)["Location"] == "/desk/team/"


def test_a_supervisor_may_not_reset_a_second_factor(enrolled, supervisor):
    supervisor.is_staff = True
    supervisor.save()
    client = Client()
    client.force_login(supervisor)

    reset_action(client, enrolled)

    assert TOTPDevice.objects.filter(user=enrolled).exists()
    assert not LogEntry.objects.exists()
