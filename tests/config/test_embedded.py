"""The embedded runtime: a Celery worker and beat inside the web process (``config.embedded``).

The suite's settings point Celery at Redis (``REDIS_URL`` is set for the tests), so each test
here switches the Celery app to the in-memory broker itself and puts the configuration back
afterwards. Tasks are published over an explicit connection because the app keeps the
producer pool of whichever broker it met first in this process.
"""

import asyncio
import gc
import logging
import threading
import uuid

import pytest
from asgiref.testing import ApplicationCommunicator
from celery import _state as celery_state
from celery.backends.cache import CacheBackend

from config import embedded
from config.asgi import application
from config.celery import app as celery_app

WORKER_THREAD = "celery-embedded-worker"
# The solo worker polls the in-memory queue about once a second; 15 s is ample on a loaded
# machine and still fails fast when nothing consumes the queue.
ROUND_TRIP_SECONDS = 15
BEAT_TICK_SECONDS = 0.5


@celery_app.task(name="tests.config.report_worker_thread", ignore_result=False)
def report_worker_thread(token: str) -> dict:
    """Echo the token and name the thread that ran it: proves who consumed the message."""
    return {"token": token, "thread": threading.current_thread().name}


beat_ticks = threading.Event()


@celery_app.task(name="tests.config.record_beat_tick")
def record_beat_tick() -> None:
    beat_ticks.set()


@pytest.fixture(autouse=True)
def unfrozen():
    """A lifespan start-up freezes the process's objects (``config.heap``); not the suite's."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def embedded_worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == WORKER_THREAD and t.is_alive()]


@pytest.fixture
def in_memory_celery():
    """Celery on ``memory://`` with results in process memory, for one test only."""
    saved_broker = celery_app.conf.broker_url
    saved_schedule = celery_app.conf.beat_schedule
    saved_join_blocks = celery_state.task_join_will_block()
    celery_app.conf.broker_url = "memory://"
    # Only the test's own tick: the real schedule would sweep a database these tests hold.
    celery_app.conf.beat_schedule = {
        "test-tick": {"task": "tests.config.record_beat_tick", "schedule": BEAT_TICK_SECONDS}
    }
    beat_ticks.clear()
    # Results only for the test's own task (the app ignores results); kept on the task so
    # the app's process-wide cached backend is left untouched.
    report_worker_thread.backend = CacheBackend(app=celery_app, url="memory://")
    yield
    # Stop whatever a test started, so no worker lingers to consume other tests' messages.
    embedded.stop_embedded_runtime()
    report_worker_thread.backend = None
    celery_app.conf.beat_schedule = saved_schedule
    celery_app.conf.broker_url = saved_broker
    # A started worker marks the process as a worker for good; later tests in this process
    # that wait on a result must not inherit that.
    celery_state._set_task_join_will_block(saved_join_blocks)


def round_trip(token: str) -> dict:
    with celery_app.connection_for_write() as connection:
        result = report_worker_thread.apply_async(args=[token], connection=connection)
    # The embedded worker marks the whole process as a worker, and Celery refuses a blocking
    # get() inside a worker unless told that this caller is not a task.
    return result.get(timeout=ROUND_TRIP_SECONDS, disable_sync_subtasks=False)


def test_a_task_round_trips_through_the_in_process_worker(in_memory_celery):
    assert embedded.start_embedded_runtime() is True

    token = uuid.uuid4().hex
    answer = round_trip(token)

    # Run by the embedded worker thread, not eagerly in the caller's thread.
    assert answer == {"token": token, "thread": WORKER_THREAD}


def test_the_embedded_beat_sends_scheduled_tasks_to_the_embedded_worker(in_memory_celery):
    embedded.start_embedded_runtime()

    assert beat_ticks.wait(timeout=ROUND_TRIP_SECONDS)


def test_starting_twice_starts_one_worker(in_memory_celery):
    assert embedded_worker_threads() == []

    assert embedded.start_embedded_runtime() is True
    assert embedded.start_embedded_runtime() is False

    assert len(embedded_worker_threads()) == 1


def test_stop_ends_the_worker_and_allows_a_fresh_start(in_memory_celery):
    embedded.start_embedded_runtime()

    assert embedded.stop_embedded_runtime() is True
    assert embedded_worker_threads() == []
    assert embedded.stop_embedded_runtime() is False

    assert embedded.start_embedded_runtime() is True
    token = uuid.uuid4().hex
    assert round_trip(token)["token"] == token


def _drive_lifespan(between=None) -> tuple[dict, dict, object]:
    """Run the ASGI lifespan of the real application: startup, ``between()``, shutdown."""

    async def drive():
        lifespan = ApplicationCommunicator(
            application, {"type": "lifespan", "asgi": {"version": "3.0"}}
        )
        await lifespan.send_input({"type": "lifespan.startup"})
        started = await lifespan.receive_output(timeout=ROUND_TRIP_SECONDS)
        # Blocking work (waiting on a result) goes to a thread, as it would in a server.
        outcome = await asyncio.to_thread(between) if between else None
        await lifespan.send_input({"type": "lifespan.shutdown"})
        stopped = await lifespan.receive_output(timeout=ROUND_TRIP_SECONDS)
        await lifespan.wait(timeout=ROUND_TRIP_SECONDS)
        return started, stopped, outcome

    return asyncio.run(drive())


@pytest.fixture
def celery_errors():
    """Errors Celery logs. Not ``caplog``: starting a worker re-runs Django's logging set-up,
    which replaces the root logger's handlers, pytest's among them."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(level=logging.ERROR)
    handler.emit = records.append
    celery_logger = logging.getLogger("celery")
    celery_logger.addHandler(handler)
    yield records
    celery_logger.removeHandler(handler)


def test_lifespan_starts_the_embedded_runtime_and_stops_it_on_shutdown(
    in_memory_celery, settings, celery_errors, db
):
    # ``db``: a served process has database connections open when the lifespan starts.
    settings.REDRESS_EMBEDDED = True
    token = uuid.uuid4().hex

    def while_running():
        return {"answer": round_trip(token), "workers": len(embedded_worker_threads())}

    started, stopped, seen = _drive_lifespan(while_running)

    assert started == {"type": "lifespan.startup.complete"}
    assert seen == {"answer": {"token": token, "thread": WORKER_THREAD}, "workers": 1}
    assert stopped == {"type": "lifespan.shutdown.complete"}
    assert embedded_worker_threads() == []
    # Celery logs, rather than raises, errors of its start-up hooks (such as Django refusing
    # to close connections from the event loop), so a clean start is one with no errors.
    assert [r.getMessage() for r in celery_errors] == []


def test_lifespan_starts_no_worker_when_redis_is_configured(in_memory_celery, settings):
    # Production: worker and beat are their own processes (Procfile), never in the web one.
    settings.REDRESS_EMBEDDED = False

    started, stopped, seen = _drive_lifespan(lambda: len(embedded_worker_threads()))

    assert started == {"type": "lifespan.startup.complete"}
    assert seen == 0
    assert stopped == {"type": "lifespan.shutdown.complete"}


def test_lifespan_start_up_connects_to_the_broker_and_freezes_what_it_loaded(
    in_memory_celery, settings, monkeypatch
):
    settings.REDRESS_EMBEDDED = False
    connected = []
    monkeypatch.setattr("config.celery.connect_producer", lambda: connected.append(True))

    started, _, frozen = _drive_lifespan(gc.get_freeze_count)

    assert started == {"type": "lifespan.startup.complete"}
    assert connected == [True]
    assert frozen > 50_000
