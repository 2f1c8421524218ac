"""Fixtures of the web page tests: a fresh cache per test (the form's rate limit counts in
it), and the reference data the public form offers."""

import uuid

import pytest
from django.test import Client

from recovery.models import Category, Touchpoint


@pytest.fixture(autouse=True)
def _own_cache(settings):
    # The complaint form counts submissions per address in the cache; each test starts at 0.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"web-tests-{uuid.uuid4().hex}",
        }
    }


@pytest.fixture
def touchpoint(db):
    return Touchpoint.objects.create(name="Website", slug="website")


@pytest.fixture
def category(team):
    return Category.objects.create(name="Card payments", slug="card-payments", default_team=team)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# The browser tests' servers: a module's tests share one live Redress and one Chromium
# (started on the first test that asks, per module), and each test that uses them asks for
# ``settled`` (``pytest.mark.usefixtures("settled")`` on the module). Their helpers are
# imported when used: the other tests of this folder start no browser.


@pytest.fixture(scope="module")
def live(django_db_setup):
    from tests.desk.live import live_redress

    with live_redress() as running:
        yield running


@pytest.fixture(scope="module")
def browser(live):
    from tests.desk.live import chromium

    with chromium() as running:
        yield running


@pytest.fixture
def settled(live, browser, transactional_db):
    """Torn down before the database is emptied: the live processes are done by then."""
    yield
    live.settle(browser)
