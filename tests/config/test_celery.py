"""How Celery processes start: a worker's database connections and frozen start-up objects,
a web process's broker connection (``config/celery.py``)."""

import gc
import logging
import time
from types import SimpleNamespace

import pytest
from django.db import connections

from config import celery as celery_config
from tests.conftest import reset_celery_connections


def test_a_worker_started_by_the_command_keeps_its_connections_and_checks_them(monkeypatch):
    for alias in connections:
        # Put back what the suite runs with, whatever the handler sets.
        monkeypatch.setitem(connections.settings[alias], "CONN_MAX_AGE", 0)
        monkeypatch.setitem(connections.settings[alias], "CONN_HEALTH_CHECKS", False)

    celery_config.keep_database_connections(sender="worker@host", instance=None, conf=None)

    for alias in connections:
        assert connections.settings[alias]["CONN_MAX_AGE"] == celery_config.WORKER_CONN_MAX_AGE
        assert connections.settings[alias]["CONN_HEALTH_CHECKS"] is True


def test_connections_are_closed_as_django_does_around_each_task_but_not_an_eager_one(
    monkeypatch,
):
    closed = []
    monkeypatch.setattr("django.db.close_old_connections", lambda: closed.append(True))
    queued = SimpleNamespace(request=SimpleNamespace(is_eager=False))
    eager = SimpleNamespace(request=SimpleNamespace(is_eager=True))

    celery_config.close_old_database_connections(sender=queued)
    assert closed == [True]
    # An eager task runs inside its caller's transaction: its connection is not the task's.
    celery_config.close_old_database_connections(sender=eager)
    assert closed == [True]


def test_a_web_process_connects_to_the_broker_before_its_first_task(celery_on_redis):
    # Without it the first change after a start waited 90-160 ms for this to happen.
    with celery_on_redis.producer_or_acquire() as producer:
        assert producer.connection.connected is False

    celery_config.connect_producer()

    with celery_on_redis.producer_or_acquire() as producer:
        assert producer.connection.connected is True


def test_a_broker_down_at_start_up_is_logged_and_not_waited_for(celery_on_redis, caplog):
    celery_on_redis.conf.broker_url = "redis://127.0.0.1:1/0"
    reset_celery_connections()
    started = time.monotonic()

    with caplog.at_level(logging.WARNING, logger="config.celery"):
        celery_config.connect_producer()

    # One attempt within the connect timeout (2 s), not the publish retries.
    assert time.monotonic() - started < 10
    assert "Broker unreachable at start-up" in caplog.text


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()


def test_a_worker_exempts_what_it_loaded_at_start_from_garbage_collection(unfrozen):
    gc.unfreeze()
    assert gc.get_freeze_count() == 0

    celery_config.freeze_worker_startup_objects(sender=None)

    # Django, Celery and the app's modules: well over a hundred thousand objects.
    assert gc.get_freeze_count() > 50_000
