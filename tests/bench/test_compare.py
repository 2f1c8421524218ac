"""bench/compare.py: its command line, the django-helpdesk project it writes, and its plain
failure when the package index cannot be reached. The comparison itself is run by hand."""

import subprocess
import sys
from pathlib import Path

import pytest

from bench import compare
from bench.intake import BenchFailed

ROOT = Path(__file__).resolve().parents[2]


def test_help_runs_without_services():
    result = subprocess.run(
        [sys.executable, "bench/compare.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "--helpdesk-version" in result.stdout
    assert "--rounds" in result.stdout


def test_the_helpdesk_settings_are_a_valid_production_like_module():
    text = compare.helpdesk_settings(
        "postgres://postgres@127.0.0.1:5432/redress_bench_compare_helpdesk", "k" * 64
    )
    settings: dict = {}

    exec(compile(text, "settings.py", "exec"), settings)

    assert settings["DEBUG"] is False
    assert settings["SECRET_KEY"] == "k" * 64
    database = settings["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["NAME"] == "redress_bench_compare_helpdesk"
    assert (database["HOST"], database["PORT"]) == ("127.0.0.1", "5432")
    # A connection per request, as Redress's settings have it.
    assert database["CONN_MAX_AGE"] == 0
    for app in ("helpdesk", "rest_framework.authtoken", "django.contrib.sites"):
        assert app in settings["INSTALLED_APPS"]
    assert settings["HELPDESK_TEAMS_MODE_ENABLED"] is False
    assert settings["HELPDESK_API_ENABLED"] is True
    assert settings["ROOT_URLCONF"] == "helpdesk_bench.urls"


def test_the_helpdesk_database_sits_beside_redresss():
    assert compare.helpdesk_database_url("postgres://postgres@127.0.0.1:5432/redress_cmp") == (
        "postgres://postgres@127.0.0.1:5432/redress_cmp_helpdesk"
    )


def test_an_unreachable_index_fails_plainly_before_installing(tmp_path):
    venv = tmp_path / "helpdesk-venv"

    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    with pytest.raises(BenchFailed, match="cannot reach the package index"):
        compare.ensure_helpdesk(venv, compare.HELPDESK_VERSION, "http://127.0.0.1:9/simple/")

    assert not venv.exists()
