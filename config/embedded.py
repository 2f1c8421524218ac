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

_lock = threading.Lock()
# What start made, so stop can shut it down: (worker, its thread, beat); None when stopped.
_running: tuple[WorkController, threading.Thread, object] | None = None
# A warm shutdown lets the task in hand finish; the solo worker polls the in-memory queue
# every couple of seconds, so this is ample and still bounds a stuck shutdown.
STOP_TIMEOUT_SECONDS = 10


def start_embedded_runtime() -> bool:
    """Start the in-process worker and beat once per process; returns whether it started now.

    Guarded by a lock held for the whole start: the ASGI lifespan may run more than once in a
    process (tests, reloads), and two workers on one in-memory queue would only compete for
    the same tasks.
    """
    global _running
    with _lock:
        if _running is not None:
            return False
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
        thread = threading.Thread(target=worker.start, name="celery-embedded-worker", daemon=True)
        thread.start()
        beat = EmbeddedService(celery_app, thread=True, scheduler_cls="celery.beat:Scheduler")
        beat.start()
        _running = (worker, thread, beat)
    logger.info("Embedded Celery worker and beat started (in-memory broker).")
    return True


def stop_embedded_runtime() -> bool:
    """Stop the in-process worker and beat (ASGI lifespan shutdown); returns whether it ran.

    A warm stop: the task in hand finishes; tasks still queued in memory are lost, while the
    outbox rows they were for stay in the database, undelivered.
    """
    global _running
    with _lock:
        if _running is None:
            return False
        worker, thread, beat = _running
        beat.stop()
        worker.stop()
        thread.join(timeout=STOP_TIMEOUT_SECONDS)
        _running = None
    logger.info("Embedded Celery worker and beat stopped.")
    return True
