"""Filters on the log handler: one line per client error, not a warning and a traceback.

Django logs every 4xx answer on ``django.request`` at WARNING, and a ``PermissionDenied``
with its traceback. A 4xx is the client's mistake, answered as designed: it is worth one
INFO line, and a WARNING stays the sign that something here needs a look.
"""

import logging


class ClientErrorsAsInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        status_code = getattr(record, "status_code", None)
        if record.name == "django.request" and status_code and 400 <= status_code < 500:
            record.levelno = logging.INFO
            record.levelname = logging.getLevelName(logging.INFO)
            record.exc_info = None
            record.exc_text = None
        return True
