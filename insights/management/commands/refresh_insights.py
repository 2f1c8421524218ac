"""``manage.py refresh_insights [--full]``: bring the insight summaries up to date.

Reads do this themselves, and the periodic task every minute; run it after a deploy or a
large import so that the first insight page does not wait for the build, and with
``--full`` after changing a regulatory profile's time zone or the KPI rules.
"""

import time

from django.core.management.base import BaseCommand

from insights.selectors import refresh_summaries_if_needed
from insights.summaries import available


class Command(BaseCommand):
    help = "Rebuild the insight summaries of the days whose complaints changed (or all days)."

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="Rebuild every day.")

    def handle(self, *args, full, **options):
        if not available():
            self.stdout.write("This database keeps no insight summaries (SQLite): nothing to do.")
            return
        started = time.monotonic()
        refreshed = refresh_summaries_if_needed(full=full)
        if refreshed is None:
            self.stdout.write("Insight summaries are up to date.")
            return
        self.stdout.write(
            f"Insight summaries: {refreshed.days} days rebuilt"
            f"{' (all)' if refreshed.full else ''} in {time.monotonic() - started:.1f} s."
        )
