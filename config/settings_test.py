"""Settings for the test suite: real PostgreSQL and Redis on this machine unless overridden."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "redress-test-secret-key-not-for-production")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/redress")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from .settings import *  # noqa: F403

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# Hashing passwords properly dominates test time; tests don't need it to be slow.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
REDRESS_DEMO = True
# Each test process (a pytest-xdist worker) sends its tasks to a broker queue of its own,
# and the servers and Celery workers its tests start inherit the name: a worker started by
# one process never takes another process's tasks (and runs them on the wrong test
# database, so that the other test waits for a delivery that never comes).
CELERY_TASK_DEFAULT_QUEUE = f"redress-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
_TEST_THROTTLE_RATES = {"token": "1000/minute", "survey": "1000/minute"}
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": _TEST_THROTTLE_RATES}  # noqa: F405

# REDRESS_TEST_DATABASE=sqlite runs the tests on the embedded mode's database: a SQLite file
# (not Django's default in-memory test database, which threads and a second connection
# would not share) in a directory of its own, with the embedded settings' lock options.
# Redis stays: only the database differs between the two ways to run.
if os.environ.get("REDRESS_TEST_DATABASE", "postgresql") == "sqlite":
    _sqlite_dir = Path(tempfile.mkdtemp(prefix="redress-test-sqlite-"))
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _sqlite_dir / "redress.sqlite3",
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                # A test database need not survive a power cut: no fsync per commit (tests
                # that commit, and the migrations, waited on the disk more than they ran).
                # The journal stays a rollback journal, so locking is the embedded mode's.
                "init_command": "PRAGMA synchronous=OFF; PRAGMA journal_mode=MEMORY",
            },
            "TEST": {"NAME": str(_sqlite_dir / "test.sqlite3")},
        }
    }
# The suite's races run 20 threads beside the test's own connection, each on a connection of
# its own: with the production pool of 20 one of them waited the pool's timeout out. A test
# that sets REDRESS_DB_POOL_SIZE for a server it starts keeps its size.
if "pool" in DATABASES["default"].get("OPTIONS", {}) and not os.environ.get("REDRESS_DB_POOL_SIZE"):
    DATABASES["default"]["OPTIONS"]["pool"]["max_size"] = 40
# The per-process configuration copies (escalation.configuration) are off for the suite:
# tests that roll rows back would otherwise meet copies of another test's rows. The tests of
# the cache and of the query budgets switch it on.
REDRESS_CONFIGURATION_CACHE = False
# Files attached in tests go to the temporary folder, never into the checkout; the live
# servers the browser tests start read the same folder.
if not os.environ.get("REDRESS_ATTACHMENT_DIR"):
    REDRESS_ATTACHMENT_DIR = Path(tempfile.gettempdir()) / "redress-test-attachments"
