"""The sign-out page: a GET (a typed or bookmarked /desk/logout/) shows a page rather than
the browser's own 405; only its form's POST signs out.

Personas: ``agent`` (signed in), and nobody (already signed out).
"""

import pytest
from django.test import Client

from tests.desk.conftest import signed_in

pytestmark = pytest.mark.django_db


def test_a_signed_in_user_is_offered_a_sign_out_button(agent):
    client = signed_in(agent)

    page = client.get("/desk/logout/")

    assert page.status_code == 200
    text = page.content.decode()
    assert '<form method="post" action="/desk/logout/"' in text
    assert "csrfmiddlewaretoken" in text
    assert "Sign out</button>" in text
    # Looking at the page signs nobody out.
    assert client.get("/desk/").status_code == 200


def test_a_signed_out_visitor_is_offered_a_link_to_sign_in():
    page = Client().get("/desk/logout/")

    assert page.status_code == 200
    text = page.content.decode()
    assert 'href="/desk/login/"' in text
    assert "Sign out</button>" not in text


def test_posting_still_signs_out(agent):
    client = signed_in(agent)

    answer = client.post("/desk/logout/")

    assert answer.status_code == 302
    assert answer["Location"] == "/desk/login/"
    assert client.get("/desk/").status_code == 302
