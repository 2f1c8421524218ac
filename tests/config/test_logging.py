"""What the server log says about a client's mistake: one INFO line, once.

Read from the handler the settings configure, as a terminal running Redress shows it.
"""

import io
import logging
import sys

import pytest
from django.test import Client


@pytest.fixture
def server_log():
    """What the configured console handler writes while the test runs."""
    # pytest's capturing handlers sit next to it; the settings' is a plain StreamHandler.
    (handler,) = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_an_agent_opening_insights_logs_one_info_line_and_no_traceback(agent, server_log):
    browser = Client()
    browser.force_login(agent)

    response = browser.get("/insights/")

    assert response.status_code == 403
    lines = server_log.getvalue().splitlines()
    assert lines == [lines[0]]
    assert " INFO django.request: Forbidden (Permission denied): /insights/" in lines[0]


def test_a_page_not_found_is_logged_once_at_info(db, server_log):
    response = Client().get("/no-such-page/")

    assert response.status_code == 404
    lines = server_log.getvalue().splitlines()
    assert len(lines) == 1
    assert " INFO django.request: Not Found: /no-such-page/" in lines[0]


def test_django_has_no_console_of_its_own_that_would_log_each_line_twice():
    assert logging.getLogger("django").handlers == []


def test_a_server_error_is_still_a_warning_or_worse_with_its_traceback(server_log):
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "boom", (), None)
    record.status_code = 500
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    logging.getLogger("django.request").handle(record)

    assert "ERROR django.request: boom" in server_log.getvalue()
    assert "Traceback" in server_log.getvalue()
