"""Every HTML page of Redress, enumerated from the URL conf, is served under the strict
Content-Security-Policy: no 'unsafe-inline', no 'unsafe-eval', and nothing inline in the
page that such a policy would block (a <script> without src, a <style> without the nonce, a
style attribute).

Each page is fetched as a persona its access rule admits (tests/security/test_access_matrix
.py), so the page itself is rendered, not a refusal. The Django admin is walked too, as a
superuser: its index, each app's index, and each registered model's list, add form and the
change form of one row.
"""

import re

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse

from tests.factories import UserFactory
from tests.security.test_access_matrix import (  # noqa: F401 (world is a fixture)
    ADMIN_PREFIX,
    HTTP_RULES,
    PERSONAS,
    fill,
    url_patterns,
    world,
)

# Whom to send, in order of preference: the first the route's rule admits.
PREFERRED = ("manager", "supervisor", "agent_in", "customer_a", "anonymous")


def _persona_for(rule, personas):
    by_name = {persona.name: persona for persona in personas}
    for name in PREFERRED:
        if name in rule.allowed:
            return by_name[name]
    return None


def strict_policy_faults(url: str, response) -> list[str]:
    """What on this HTML response a strict policy would forbid or not enforce."""
    faults = []
    header = response.get("Content-Security-Policy", "")
    if not header:
        return [f"{url}: no Content-Security-Policy"]
    for word in ("'unsafe-inline'", "'unsafe-eval'"):
        if word in header:
            faults.append(f"{url}: {word} in the policy")
    nonce = re.search(r"'nonce-([^']+)'", header)
    html = response.content.decode()
    if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html):
        faults.append(f"{url}: an inline <script>")
    for attributes in re.findall(r"<style([^>]*)>", html):
        if nonce is None or f'nonce="{nonce.group(1)}"' not in attributes:
            faults.append(f"{url}: a <style> without the response's nonce")
    if re.search(r"<[a-zA-Z][^>]*\sstyle=", html):
        faults.append(f"{url}: a style attribute")
    return faults


def _is_html(response) -> bool:
    return response.get("Content-Type", "").startswith("text/html")


@pytest.mark.django_db
def test_every_page_in_the_url_conf_is_under_the_strict_policy(world):  # noqa: F811
    personas = [factory(world) for factory in PERSONAS]
    pages = [p for p in url_patterns() if not p.startswith(ADMIN_PREFIX)]
    faults, checked = [], []
    for pattern in pages:
        rule = HTTP_RULES[pattern]
        persona = _persona_for(rule, personas)
        if rule.method != "GET" or persona is None:
            continue
        url = fill(pattern, world)
        response = persona.http().get(url)
        assert response.status_code < 500, (url, persona.name, response.status_code)
        if _is_html(response):
            checked.append(url)
            faults += strict_policy_faults(url, response)
    assert not faults, "\n".join(faults)
    # The walk reached the pages, not only JSON: the desk, the portal, insights, API docs.
    for page in ("/", "/desk/", "/desk/board/", "/insights/", "/api/docs/"):
        assert page in checked, page


@pytest.mark.django_db
def test_every_admin_page_is_under_the_strict_policy(world):  # noqa: F811
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(root)
    as_root = RequestFactory().get("/admin/")
    as_root.user = root
    urls = [reverse("admin:index")]
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        urls.append(reverse("admin:app_list", args=[meta.app_label]))
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        if model_admin.has_add_permission(as_root):
            urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
        row = model._default_manager.order_by("pk").first()
        if row is not None:
            urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.pk]))
    faults = []
    for url in dict.fromkeys(urls):
        response = browser.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert _is_html(response), url
        faults += strict_policy_faults(url, response)
    assert not faults, "\n".join(faults)
