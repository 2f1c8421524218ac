"""Every task the beat schedules runs cleanly in embedded mode, on SQLite.

The suite runs on PostgreSQL, so this runs in a fresh interpreter with the embedded
settings (no ``DATABASE_URL`` or ``REDIS_URL``): it migrates a new SQLite database, seeds
the demo (complaints with due clocks, undelivered outbox rows, a history for the insights),
then runs each scheduled task once as the worker would and reports what happened.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from tests.config.test_settings import SETTINGS_VARIABLES

REPO = Path(__file__).resolve().parents[2]

RUN_THE_SCHEDULE = """
import io, json, logging, sys
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from config.celery import app

call_command("migrate", verbosity=0)
call_command("seed_demo", stdout=io.StringIO())

# What a worker does at start: import the task modules (each installed app's tasks.py).
app.loader.import_default_modules()
errors = []
catch = logging.Handler(level=logging.ERROR)
catch.emit = lambda record: errors.append(f"{record.name}: {record.getMessage()}")
logging.getLogger().addHandler(catch)
outcomes = {}
for entry in settings.CELERY_BEAT_SCHEDULE.values():
    result = app.tasks[entry["task"]].apply()
    outcomes[entry["task"]] = [result.state, repr(result.result) if result.failed() else None]
with open(sys.argv[1], "w") as report:
    json.dump({"vendor": connection.vendor, "outcomes": outcomes, "errors": errors}, report)
"""


def test_every_scheduled_task_runs_on_sqlite_without_an_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    # The embedded run's settings, as ``./redress run`` gives them, in a directory of its own.
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="1",
        REDRESS_VAR_DIR=str(tmp_path / "var"),
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    report = tmp_path / "report.json"

    done = subprocess.run(
        [sys.executable, "-c", RUN_THE_SCHEDULE, str(report)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    ran = json.loads(report.read_text())
    assert ran["vendor"] == "sqlite"
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert ran["outcomes"] == {task: ["SUCCESS", None] for task in scheduled}
    assert ran["errors"] == []
