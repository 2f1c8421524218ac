"""The embedded runtime: a Celery worker and beat scheduler inside the ASGI process.

Used only when no ``REDIS_URL`` is configured (the one-command demo run). The broker is
kombu's in-memory transport, which is process-local, so producer and worker must share the
process. Production runs ``celery worker`` and ``celery beat`` as their own processes.
"""

import logging
import threading

from celery.beat import EmbeddedService
from celery.worker import WorkController

from config.celery import app as celery_app

logger = logging.getLogger(__name__)

_started = False
_lock = threading.Lock()


def start_embedded_runtime() -> bool:
    """Start the in-process worker and beat once per process; returns whether it started now.

    Guarded by a lock and a flag: the ASGI lifespan may run more than once in a process (tests,
    reloads), and two workers on one in-memory queue would only compete for the same tasks.
    """
    global _started
    with _lock:
        if _started:
            return False
        _started = True
    celery_app.finalize()
    celery_app.set_current()
    worker = WorkController(
        app=celery_app,
        hostname="embedded@redress",
        pool="solo",
        concurrency=1,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )
    threading.Thread(target=worker.start, name="celery-embedded-worker", daemon=True).start()
    beat = EmbeddedService(celery_app, thread=True, scheduler_cls="celery.beat:Scheduler")
    beat.start()
    logger.info("Embedded Celery worker and beat started (in-memory broker).")
    return True
