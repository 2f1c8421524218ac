"""Servers and workers that tests start as real subprocesses, on the test database and Redis."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis
from celery import Celery
from django.conf import settings

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
STOP_TIMEOUT_S = 10
# A cold start imports Django, DRF, Channels and Celery; 60 s covers a loaded 2-core box.
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def url_of_the_test_database() -> str:
    database = settings.DATABASES["default"]
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    return (
        f"postgres://{database['USER']}{password}@{database['HOST']}:{database['PORT']}"
        f"/{database['NAME']}"
    )


def subprocess_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings_test",
        DATABASE_URL=url_of_the_test_database(),
        REDIS_URL=settings.REDIS_URL,
        # Customer emails of the transition are sent by the worker; keep them in memory.
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


class Child:
    """A subprocess this test started and stops, with its output in a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], scratch: Path):
        self.name = name
        self.log_path = scratch / f"{name}.log"
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- {self.name} log ---\n" + "\n".join(text.splitlines()[-lines:])


def wait_until_worker_idle(worker: Child, node_name: str, timeout_s: float) -> None:
    """The Celery worker ``node_name`` answers a ping with nothing queued, twice in a row.

    Once it has started: it is up, and has drained what earlier test runs left queued.
    Before a test's teardown empties the database: it is done with what the test set off (a
    solo worker answers only between tasks, and a delivery's commit enqueues its emails), so
    the flush does not deadlock with a delivery's commit.

    Asked through an app of its own: the test process's app talks to an in-memory broker
    (tests/conftest.py), and its control channel caches the pools it first used. Not the
    current app: the tasks the test process sends would otherwise go through it, to its
    default queue, not the one the worker reads.
    """
    probe = Celery("redress-test-probe", broker=settings.REDIS_URL, set_as_current=False)
    queue = redis.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + timeout_s
    quiet = 0
    try:
        while quiet < 2:
            worker.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"{node_name} not idle in {timeout_s} s\n{worker.log()}")
            idle = not queue.llen(celery_app.conf.task_default_queue) and bool(
                probe.control.ping(destination=[node_name], timeout=1)
            )
            quiet = quiet + 1 if idle else 0
            time.sleep(0.1)
    finally:
        probe.close()
        queue.close()


def uvicorn_command(port: int, *extra: str) -> list[str]:
    """The Procfile's web process, on ``port``, quiet."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        HOST,
        "--port",
        str(port),
        "--lifespan",
        "on",
        "--ws-per-message-deflate",
        "false",
        "--no-access-log",
        "--log-level",
        "warning",
        *extra,
    ]


def solo_worker_command(node_name: str) -> list[str]:
    """A Celery worker of ``config`` with one process, quiet, named ``node_name``."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool",
        "solo",
        "--hostname",
        node_name,
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "warning",
    ]


def start_web_server(env: dict[str, str], scratch: Path, *extra: str) -> tuple[Child, str]:
    """uvicorn serving ``config.asgi`` once it answers HTTP; the child and its base URL."""
    port = free_port()
    server = Child("uvicorn", uvicorn_command(port, *extra), env, scratch)
    base_url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            httpx.get(f"{base_url}/api/schema/", timeout=5, trust_env=False)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        return server, base_url
    server.stop()
    raise AssertionError(f"server not ready in {START_TIMEOUT_S} s\n{server.log()}")
