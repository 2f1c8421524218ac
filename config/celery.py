"""The Celery application.

Broker and schedule come from Django settings (``CELERY_*``), so the same code runs on the
embedded in-memory broker and on Redis in production.
"""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("redress")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A worker process keeps its database connection from task to task, for this long at most:
# opening one costs 5-30 ms and a PostgreSQL backend process per task, a tenth to a fifth of
# the time from a change to its notification. Five minutes bounds how long a connection
# outlives a configuration change or a failover.
WORKER_CONN_MAX_AGE = 300


@signals.celeryd_init.connect
def keep_database_connections(**kwargs) -> None:
    """Keep a worker's connections between tasks; checked before use, dropped when broken.

    Only the ``celery worker`` command sends this signal, not the embedded worker: that one
    shares the ASGI process, where every request runs in a fresh thread and a kept
    connection is never reused (config/settings.py).
    """
    from django.db import connections

    for alias in connections:
        connections.settings[alias]["CONN_MAX_AGE"] = WORKER_CONN_MAX_AGE
        # A kept connection may have died with the server since the last task: ping it
        # before its first use in each task.
        connections.settings[alias]["CONN_HEALTH_CHECKS"] = True


@signals.task_prerun.connect
@signals.task_postrun.connect
def close_old_database_connections(sender=None, **kwargs) -> None:
    """What Django does around each request: close connections broken or past their age.

    Celery's own closing of every connection around every task is turned off by
    ``CELERY_DB_REUSE_MAX`` (config/settings.py); with ``CONN_MAX_AGE`` 0 (the embedded
    worker) this still closes them every time. A task run eagerly runs inside its caller's
    transaction, whose connection is not the task's to close (Celery's fix-up skips it too).
    """
    from django.db import close_old_connections

    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    close_old_connections()
