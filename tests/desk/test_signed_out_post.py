"""A form sent after the session ended: the sign-in page says it was not saved, and signing
in leads back to the page the form was on, not to its POST-only URL (a 405 or an empty form).

Personas: ``agent`` (whose session has ended: an anonymous client).
"""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db

NOT_SAVED = "You were signed out, so what you sent was not saved."


def sign_in_query(answer) -> dict[str, list[str]]:
    assert answer.status_code == 302
    location = urlsplit(answer["Location"])
    assert location.path == "/desk/login/"
    return parse_qs(location.query)


@pytest.mark.parametrize("url", ["/desk/bulk/", "/desk/views/new/", "/desk/views/1/delete/"])
def test_a_post_leads_back_to_the_page_the_form_was_on(url):
    answer = Client().post(url, {"name": "x"}, HTTP_REFERER="http://testserver/desk/team/?q=card")

    assert sign_in_query(answer) == {"next": ["/desk/team/?q=card"], "expired": ["1"]}


@pytest.mark.parametrize(
    "referer",
    [
        None,
        "https://evil.example/desk/team/",
        "http://testserver//evil.example/x",
        "javascript:alert(1)",
    ],
)
def test_without_a_same_origin_referer_it_leads_to_the_queue(referer):
    headers = {"HTTP_REFERER": referer} if referer else {}

    answer = Client().post("/desk/bulk/", **headers)

    assert sign_in_query(answer) == {"next": ["/desk/"], "expired": ["1"]}


def test_a_get_still_comes_back_to_itself():
    answer = Client().get("/desk/team/?q=card")

    assert sign_in_query(answer) == {"next": ["/desk/team/?q=card"]}


def test_the_sign_in_page_says_the_form_was_not_saved(agent):
    client = Client()
    location = client.post("/desk/views/1/delete/", HTTP_REFERER="http://testserver/desk/team/")[
        "Location"
    ]

    page = client.get(location)
    assert NOT_SAVED in page.content.decode()

    signed = client.post(location, {"username": "agent", "password": "pw", "next": "/desk/team/"})
    assert signed["Location"] == "/desk/team/"


def test_an_ordinary_sign_in_page_does_not(agent):
    assert NOT_SAVED not in Client().get("/desk/login/?next=/desk/team/").content.decode()


def test_a_post_that_signs_out_a_session_owing_its_code_leads_back_too(agent, settings):
    # Once the second factor is required, a session begun without a code is signed out.
    settings.REDRESS_STAFF_2FA_REQUIRED = True
    TOTPDevice.objects.create(user=agent, name="phone", confirmed=True)
    client = Client()
    client.force_login(agent)

    answer = client.post("/desk/bulk/", HTTP_REFERER="http://testserver/desk/team/")

    assert sign_in_query(answer) == {"next": ["/desk/team/"], "expired": ["1"]}
    assert "_auth_user_id" not in client.session
