#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        if settings.configured:
            raise  # settings loaded: a command's own error, whose traceback helps
        # The environment is incomplete (SECRET_KEY unset without DJANGO_DEBUG=1, a malformed
        # variable): the operator needs the one line saying what to set, not a traceback.
        sys.stderr.write(
            f'Redress is not configured: {exc} See docs/operations.md, "Environment variables".\n'
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
