"""Servers and workers that tests start as real subprocesses, on the test database and Redis."""

import os
import signal
import socket
import subprocess
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
STOP_TIMEOUT_S = 10


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
