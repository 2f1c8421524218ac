"""Everything ``./redress run`` does before starting the server, in one Django process.

Migrates only when a migration is unapplied (checking costs a fraction of a ``migrate``
run), seeds the demo where demos are allowed, and writes the welcome text to a file the
start-up prints once the server answers: no second Django start after the server is up.
"""

import io
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def unapplied_migrations() -> int:
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


class Command(BaseCommand):
    help = "Migrate if needed, seed the demo and write the welcome text (for ./redress run)."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="public address")
        parser.add_argument("--welcome-file", required=True, help="where to write the welcome")

    def handle(self, *args, url: str, welcome_file: str, **options):
        started = time.monotonic()
        pending = unapplied_migrations()
        if pending:
            self.stdout.write(f"Applying {pending} migrations…")
            call_command("migrate", interactive=False, verbosity=0)
            self.stdout.write(f"Database migrated in {time.monotonic() - started:.0f}s.")
        else:
            self.stdout.write("Database up to date: nothing to migrate.")
        if settings.REDRESS_DEMO:
            call_command("seed_demo", stdout=self.stdout._out, stderr=self.stderr._out)
        welcome = io.StringIO()
        call_command("welcome", url=url, stdout=welcome)
        Path(welcome_file).write_text(welcome.getvalue())
