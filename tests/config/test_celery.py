"""A Celery worker's database connections (``config/celery.py``)."""

from types import SimpleNamespace

from django.db import connections

from config import celery as celery_config


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
