"""Filters on the log handler: one line per client error, not a warning and a traceback.

Django logs every 4xx answer on ``django.request`` at WARNING, and a ``PermissionDenied``
with its traceback. A 4xx is the client's mistake, answered as designed: it is worth one
INFO line, and a WARNING stays the sign that something here needs a look.
"""

import logging
import re


class ClientErrorsAsInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        status_code = getattr(record, "status_code", None)
        # django.security.* (a bad Host header, a suspicious request) is answered 400 too.
        client_error = record.name.startswith("django.security.") or (
            record.name == "django.request" and status_code and 400 <= status_code < 500
        )
        if client_error:
            record.levelno = logging.INFO
            record.levelname = logging.getLevelName(logging.INFO)
            record.exc_info = None
            record.exc_text = None
        return True


# Paths and query strings that carry a secret: an API token (``?token=`` on a socket) or a
# signed link (tracking, receipt, survey, address confirmation). An access log is read by
# more people than the database, and a logged token is a working credential.
_SECRET_IN_PATH = re.compile(
    r"(?P<keep>(?:[?&]token=)|(?:/(?:track|received|survey|surveys|confirm)/))[^/?&\s\"]+"
)


def redact_secrets(text: str) -> str:
    return _SECRET_IN_PATH.sub(r"\g<keep>[redacted]", text)


class RedactSecretsInPaths(logging.Filter):
    """uvicorn's access and websocket lines name the full path with its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_secrets(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.msg, str) and not record.args:
            record.msg = redact_secrets(record.msg)
        return True
