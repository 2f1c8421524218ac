"""Where signing in leads without a ``next``: a complaints manager and the head of CX to the
dashboard, agents and supervisors to their queue; a ``next`` always wins. Single sign-on's
landing is in tests/recovery/test_sso.py.

Personas: ``manager`` (complaints manager), ``agent``, ``supervisor``; the factory's
password is ``pw``.
"""

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from recovery import roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DASHBOARD = "/insights/dashboard/"


def sign_in(client, user, path="/desk/login/"):
    return client.post(path, {"username": user.username, "password": "pw"})


def test_a_complaints_manager_lands_on_the_dashboard(manager):
    client = Client()

    answer = sign_in(client, manager)

    assert answer.status_code == 302
    assert answer["Location"] == DASHBOARD
    assert client.get(DASHBOARD).status_code == 200


def test_the_head_of_cx_lands_on_the_dashboard_too(groups):
    head = UserFactory(username="head")
    head.groups.add(groups[roles.HEAD_OF_CX])

    assert sign_in(Client(), head)["Location"] == DASHBOARD


@pytest.mark.parametrize("persona", ["agent", "supervisor"])
def test_agents_and_supervisors_keep_their_queue(persona, request):
    user = request.getfixturevalue(persona)

    assert sign_in(Client(), user)["Location"] == "/desk/"


def test_a_next_wins_over_the_dashboard(manager):
    answer = sign_in(Client(), manager, "/desk/login/?next=/desk/team/")

    assert answer["Location"] == "/desk/team/"


def test_a_foreign_next_is_not_followed_and_the_manager_lands_on_the_dashboard(manager):
    answer = sign_in(Client(), manager, "/desk/login/?next=https://evil.example/")

    assert answer["Location"] == DASHBOARD


def test_a_manager_with_a_second_factor_lands_on_the_dashboard_after_the_code(manager):
    TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    client = Client()

    assert sign_in(client, manager)["Location"] == "/desk/login/code/"
    device = TOTPDevice.objects.get(user=manager)
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=3), tick=False):
        answer = client.post("/desk/login/code/", {"code": f"{totp(device.bin_key):06d}"})

    assert answer.status_code == 302
    assert answer["Location"] == DASHBOARD


def test_a_signed_in_manager_opening_the_login_page_goes_to_the_dashboard(manager):
    client = Client()
    client.force_login(manager)

    assert client.get("/desk/login/")["Location"] == DASHBOARD
