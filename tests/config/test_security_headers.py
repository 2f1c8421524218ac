"""Every page carries a Content-Security-Policy without 'unsafe-inline', and the usual set.

Inline <style> blocks that remain (Swagger UI's page) carry the response's nonce; the
browser tests check that the pages raise no CSP violation (tests/desk/test_browser.py).
tests/security/test_csp_every_page.py walks every page of the URL conf and the admin.
"""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

ANONYMOUS_PAGES = ["/", "/desk/login/", "/api/docs/", "/api/schema/"]
STAFF_PAGES = ["/desk/", "/desk/board/", "/insights/", "/insights/trends/", "/insights/kpis/"]


def policy_of(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_secure_headers(url: str, response) -> None:
    assert response.status_code == 200, (url, response.status_code)
    policy = policy_of(response)
    assert "'unsafe-inline'" not in response["Content-Security-Policy"], url
    assert "'unsafe-eval'" not in response["Content-Security-Policy"], url
    assert policy["default-src"] == ["'self'"], url
    assert policy["object-src"] == ["'none'"], url
    assert policy["frame-ancestors"] == ["'none'"], url
    assert policy["base-uri"] == ["'self'"], url
    # A nonce only where the page uses one (django-csp adds it when a template reads it).
    assert policy["script-src"][0] == "'self'", url
    assert policy["style-src"][0] == "'self'", url
    assert response["X-Content-Type-Options"] == "nosniff", url
    assert response["X-Frame-Options"] == "DENY", url
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin", url
    assert response["Cross-Origin-Opener-Policy"] == "same-origin", url
    assert "camera=()" in response["Permissions-Policy"], url
    assert "geolocation=()" in response["Permissions-Policy"], url


@pytest.mark.parametrize("url", ANONYMOUS_PAGES)
def test_anonymous_pages_carry_the_security_headers(url):
    assert_secure_headers(url, Client().get(url))


@pytest.mark.parametrize("url", STAFF_PAGES)
def test_staff_pages_carry_the_security_headers(url, supervisor, manager):
    browser = Client()
    browser.force_login(manager if url.startswith("/insights/") else supervisor)
    assert_secure_headers(url, browser.get(url))


def test_each_response_gets_a_fresh_nonce():
    first, second = (policy_of(Client().get("/api/docs/"))["style-src"] for _ in range(2))
    assert first[1].startswith("'nonce-")
    assert first != second


def test_the_inline_style_left_in_swagger_ui_carries_the_nonce():
    url = "/api/docs/"
    response = Client().get(url)
    (nonce,) = [v for v in policy_of(response)["style-src"] if v.startswith("'nonce-")]
    html = response.content.decode()
    styles = re.findall(r"<style([^>]*)>", html)
    assert styles, url
    assert all(f'nonce="{nonce[7:-1]}"' in attributes for attributes in styles), styles
    assert "<script>" not in html, url


@pytest.mark.parametrize("url", ["/", "/desk/login/"])
def test_no_page_keeps_an_inline_style_or_script(url):
    html = Client().get(url).content.decode()
    assert "<style" not in html
    assert " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
