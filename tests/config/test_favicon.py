"""The site's icon: linked from every page, and answered at /favicon.ico (browsers ask)."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_favicon_ico_is_served_not_a_404():
    response = Client().get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/vnd.microsoft.icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
    assert "max-age=86400" in response["Cache-Control"]


def test_pages_link_the_svg_and_ico_icons_and_both_are_served():
    client = Client()
    page = client.get("/").content.decode()

    assert '<link rel="icon" href="/static/redress/img/favicon.svg" type="image/svg+xml">' in page
    assert 'href="/static/redress/img/favicon.ico"' in page
    svg = client.get("/static/redress/img/favicon.svg")
    assert svg.status_code == 200
    assert b"<svg" in b"".join(svg.streaming_content)
