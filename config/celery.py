"""The Celery application.

Broker and schedule come from Django settings (``CELERY_*``), so the same code runs on the
embedded in-memory broker and on Redis in production.
"""

import logging
import os

from celery import Celery, signals

from config.heap import freeze_startup_objects

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("redress")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)

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
        # The web's pool is for a process whose requests each run in a new thread; a worker
        # runs its tasks in one thread per process, and a pool made before the prefork pool
        # forks would hand its children connections their parent also holds.
        connections.settings[alias].get("OPTIONS", {}).pop("pool", None)
        connections.settings[alias]["CONN_MAX_AGE"] = WORKER_CONN_MAX_AGE
        # A kept connection may have died with the server since the last task: ping it
        # before its first use in each task.
        connections.settings[alias]["CONN_HEALTH_CHECKS"] = True


@signals.worker_ready.connect
@signals.worker_process_init.connect
def freeze_worker_startup_objects(**kwargs) -> None:
    """Exempt what a worker loaded at start from garbage collection (``config.heap``).

    The solo and thread pools run tasks in the process that reports ready; the prefork pool
    runs them in children, each frozen once it is initialised.
    """
    freeze_startup_objects()


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


def connect_producer() -> None:
    """Make this process ready to send tasks before its first change commits.

    Otherwise the first task a web process sends pays for finishing the app, importing the
    broker transport and connecting: 90-160 ms measured, by which the first change after
    every start would be notified late. One attempt, within the broker's connect timeout:
    a broker down now is the fast path's and the redelivery sweep's business, not start-up's.
    """
    try:
        app.finalize(auto=True)
        app.backend  # noqa: B018 -- loading the result backend is part of the first send
        with app.producer_or_acquire() as producer:
            producer.connection.connect()
            producer.maybe_declare(app.amqp.queues[app.conf.task_default_queue])
    except Exception:
        logger.warning("Broker unreachable at start-up; the first task will connect.")
