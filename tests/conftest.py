"""Personas and helpers shared by the whole suite.

Personas (each a real user in a real role group):
- ``agent``: frontline agent on ``team`` — works its queue;
- ``other_agent``: agent on ``other_team`` — must not work ``team``'s complaints;
- ``supervisor``: supervisor of ``team`` — may reopen, works any team;
- ``manager``: complaints manager;
- ``customer_user`` / ``other_customer_user``: two customers with a portal login each;
- ``outsider``: authenticated, no role at all.
"""

import os

import pytest
from rest_framework.test import APIClient

from recovery import roles
from recovery.services import intake, lifecycle
from tests.factories import CustomerFactory, RootCauseFactory, TeamFactory, UserFactory


def pytest_collection_modifyitems(items):
    # Tests that start Celery workers or servers share the Redis broker queue: run them in
    # one xdist process, one after another, so no worker takes another test's tasks.
    on_sqlite = os.environ.get("REDRESS_TEST_DATABASE") == "sqlite"
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.xdist_group("real-services"))
        needs_postgresql = item.get_closest_marker("postgresql")
        if on_sqlite and needs_postgresql:
            reason = needs_postgresql.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(reason=f"needs PostgreSQL: {reason}"))


# The rows the migrations wrote (role groups, taxonomy, policies, calendars, templates...),
# as the test database held them before any test ran.
_migration_data: dict[str, str] = {}


@pytest.fixture(scope="session", autouse=True)
def _snapshot_migration_data(request):
    # Only where some test restores it: a run of database-free tests sets up no database.
    if not any(_is_transactional(item) for item in request.session.items):
        return
    from django.db import connection

    request.getfixturevalue("django_db_setup")
    with request.getfixturevalue("django_db_blocker").unblock():
        _migration_data["default"] = connection.creation.serialize_db_to_string()


def _is_transactional(item) -> bool:
    marker = item.get_closest_marker("django_db")
    return bool(marker and marker.kwargs.get("transaction")) or any(
        name in item.fixturenames for name in ("transactional_db", "live_server")
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A ``transaction=True`` test ends by emptying every table, migration data included.

    pytest-django orders such tests last, but xdist hands a group of them (the real-services
    group) to a worker that goes on to ordinary tests, which expect what the migrations wrote:
    put it back, as Django's ``serialized_rollback`` would, before such a test.
    """
    yield
    if not _migration_data or nextitem is None or _is_transactional(nextitem):
        return
    if not _is_transactional(item):
        return
    from pytest_django.plugin import blocking_manager_key

    with item.config.stash[blocking_manager_key].unblock():
        _restore_migration_data()


def _restore_migration_data() -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command(
        "flush", verbosity=0, interactive=False, reset_sequences=False, inhibit_post_migrate=True
    )
    connection.creation.deserialize_db_from_string(_migration_data["default"])


@pytest.fixture
def migration_data(transactional_db):
    """For a ``transaction=True`` test that needs what the migrations wrote (SLA policies,
    calendars, role groups, templates): a transactional test before it on the same worker
    ended by emptying every table."""
    _restore_migration_data()


@pytest.fixture(autouse=True)
def _configuration_read_afresh():
    """Each test starts as a new process would: no configuration copies, out of any request.

    Tests roll their database back, and a request the test client ran may end without its
    ``request_finished`` (an exception it re-raises): copies read under another test's data
    must not answer this one (escalation.configuration).
    """
    from escalation import configuration

    configuration.forget()
    configuration.scope_finished()
    yield
    configuration.forget()
    configuration.scope_finished()


@pytest.fixture(autouse=True, scope="session")
def _no_worker_behind_the_test_process():
    """Tasks the test process enqueues (on commit) go to an in-memory broker.

    No worker consumes them here; sent to Redis they would pile up and later be run, stale,
    by the real worker processes that some tests start (those get REDIS_URL from their
    environment and use the real broker).
    """
    from config.celery import app

    app.conf.broker_url = "memory://"
    reset_celery_connections()


def reset_celery_connections() -> None:
    """Drop pooled broker connections so the next publish uses ``conf.broker_url``."""
    from kombu import pools

    from config.celery import app

    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None
    # kombu keeps producer pools in a registry of its own, keyed by broker URL: the next
    # publish to the same URL would get the pool closed above ("Acquire on closed pool"),
    # which the fast path logs as a broker outage and leaves to the redelivery sweep.
    pools.reset()


@pytest.fixture
def celery_on_redis(settings):
    """This process talks to the real broker (for tests that start a real worker)."""
    from config.celery import app

    saved = app.conf.broker_url
    app.conf.broker_url = settings.REDIS_URL
    reset_celery_connections()
    yield app
    app.conf.broker_url = saved
    reset_celery_connections()


@pytest.fixture(scope="session")
def dovecot_server():
    """A real Dovecot IMAP server for the session (tests/mailservers.py); mark users ``slow``.

    Skipped where dovecot is not installed, except in CI (``CI=true``), where .ci/run
    installs it and its absence is a failure, not a silent skip.
    """
    from tests.mailservers import Dovecot, dovecot_binary

    if dovecot_binary() is None:
        message = "dovecot is not installed (Debian: apt-get install dovecot-imapd)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = Dovecot().start()
    yield server
    server.stop()


@pytest.fixture
def dovecot(dovecot_server):
    """The session's Dovecot, its user's INBOX emptied for this test."""
    dovecot_server.empty()
    return dovecot_server


@pytest.fixture
def groups(db):
    return roles.ensure_role_groups()


def _staff(username, group, team=None):
    user = UserFactory(username=username)
    user.groups.add(group)
    if team is not None:
        team.members.add(user)
    return user


@pytest.fixture
def team(db):
    return TeamFactory(name="Billing", slug="billing")


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Delivery", slug="delivery")


@pytest.fixture
def agent(groups, team):
    return _staff("agent", groups[roles.AGENT], team)


@pytest.fixture
def other_agent(groups, other_team):
    return _staff("other_agent", groups[roles.AGENT], other_team)


@pytest.fixture
def supervisor(groups, team):
    return _staff("supervisor", groups[roles.SUPERVISOR], team)


@pytest.fixture
def manager(groups):
    return _staff("manager", groups[roles.COMPLAINTS_MANAGER])


def _customer_user(username, groups):
    user = UserFactory(username=username)
    user.groups.add(groups[roles.CUSTOMER])
    CustomerFactory(user=user, name=username.title(), email=f"{username}@example.com")
    return user


@pytest.fixture
def customer_user(groups):
    return _customer_user("customer", groups)


@pytest.fixture
def other_customer_user(groups):
    return _customer_user("other_customer", groups)


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider")


@pytest.fixture
def root_causes(db):
    billing = RootCauseFactory(code="billing", name="Billing")
    return {
        "billing": billing,
        "billing.duplicate-charge": RootCauseFactory(
            code="billing.duplicate-charge", name="Duplicate charge", parent=billing
        ),
        "billing.refund-delay": RootCauseFactory(
            code="billing.refund-delay", name="Refund delayed", parent=billing
        ),
    }


def api_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


# ``make_complaint(routed_to=AS_ROUTED)`` keeps the team intake's routing chose.
AS_ROUTED = "as routed"


@pytest.fixture
def default_sla(db):
    """The default calendar, ladder and Standard policy, which a data migration adds: a
    transactional test run before flushed them, so they are put back (idempotent)."""
    import importlib

    from django.apps import apps

    importlib.import_module("escalation.migrations.0002_default_policy").add_defaults(apps, None)


@pytest.fixture
def make_complaint(customer_user, team):
    """Submit a complaint as the customer, then put it in ``team`` unless told otherwise:
    ``routed_to=None`` leaves it in no team (as complaints from before routing are), and
    ``AS_ROUTED`` where routing sent it."""

    def make(*, by=None, routed_to=team, **fields):
        actor = by or customer_user
        complaint, _ = intake.complaint_submit(
            actor=actor,
            intake=intake.ComplaintIntake(
                subject=fields.pop("subject", "Charged twice"),
                description=fields.pop("description", "My card was charged twice."),
                **fields,
            ),
        )
        if routed_to is not AS_ROUTED:
            complaint.team = routed_to
            complaint.save(update_fields=["team"])
        return complaint

    return make


def acknowledge(complaint, actor):
    return lifecycle.complaint_acknowledge(
        complaint=complaint,
        actor=actor,
        message=f"We have your complaint {complaint.reference}.",
        next_steps="We will investigate and reply within 5 days.",
    )


def resolve(complaint, actor, causes=("billing.duplicate-charge",)):
    return lifecycle.complaint_resolve(
        complaint=complaint,
        actor=actor,
        outcome="upheld",
        summary="Refunded the duplicate charge.",
        root_causes=list(causes),
    )


def close_loop(complaint, actor):
    return lifecycle.complaint_close_loop(
        complaint=complaint,
        actor=actor,
        what_we_found="A retry in the payment gateway.",
        what_we_did="Refunded the charge.",
        what_will_change="The gateway no longer retries settled payments.",
    )


@pytest.fixture
def colleague(groups, team):
    """A third agent on ``team``, with default preferences: a team member told of every
    routine step (the team's supervisors are told only what needs them)."""
    return _staff("colleague", groups[roles.AGENT], team)


@pytest.fixture
def teammate(groups, team):
    """A second agent on ``team``: acts where ``agent`` must be told (nobody is told of their
    own action)."""
    return _staff("teammate", groups[roles.AGENT], team)


@pytest.fixture(params=["live", "summaries"])
def insight_path(request, settings):
    """Run a test twice: insights aggregated from the complaints, and added up from the
    per-day summaries (PostgreSQL; on SQLite both runs aggregate the complaints)."""
    settings.INSIGHT_SUMMARIES = request.param == "summaries"
    return request.param
