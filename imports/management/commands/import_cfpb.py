"""``manage.py import_cfpb PATH [PATH ...]``: import CFPB consumer-complaint CSV exports.

The work is in ``imports.cfpb``; this command reads the arguments, shows progress
and reports. Skipped rows go to stderr as ``file:line: reason``; the summary to stdout.
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from common.progress import ProgressBar
from imports import cfpb


class Command(BaseCommand):
    help = (
        "Import CFPB Consumer Complaint Database CSV exports as complaint history. "
        "Idempotent: a complaint already imported (by Complaint ID) is left as it is."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=cfpb.BATCH_SIZE,
            help=f"Rows written per transaction (default {cfpb.BATCH_SIZE}).",
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not show a progress bar."
        )

    def handle(self, *args, paths, batch_size, no_progress, verbosity, **options):
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise CommandError(f"No such file: {', '.join(missing)}")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        # The bar writes to the raw stream: Django's wrapper would end every redraw with a
        # newline. call_command(stderr=...) passes the stream it captures in ``options``.
        stream = options.get("stderr") or sys.stderr
        bar = ProgressBar(stream) if verbosity > 0 and not no_progress else None

        def report(problem: cfpb.Problem) -> None:
            if bar is not None:
                bar.clear()
            self.stderr.write(f"{problem}")

        summary = cfpb.import_files(
            paths,
            batch_size=batch_size,
            report=report,
            progress=bar.update if bar is not None else None,
        )
        if bar is not None:
            bar.finish()
        if verbosity > 1:
            for counts in summary.files:
                self.stdout.write(f"{counts.path}: {self._counts(counts)}")
        self.stdout.write(f"CFPB import: {self._counts(summary)}")

    @staticmethod
    def _counts(counts) -> str:
        return (
            f"{counts.read} rows read, {counts.created} created, "
            f"{counts.already_present} already present, {counts.skipped} skipped"
        )
