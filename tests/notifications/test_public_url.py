"""The public URL emailed links start with: checked at start-up, and set from the port by
``./redress run``."""

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from notifications.checks import public_url

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "https://complaints.example.com",
        "https://complaints.example.com/",
        "http://[::1]:9000",
    ],
)
def test_a_root_url_with_scheme_and_host_passes(settings, url):
    settings.REDRESS_PUBLIC_URL = url
    assert public_url(None) == []


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("complaints.example.com", "scheme"),
        ("ftp://complaints.example.com", "scheme"),
        ("https://", "no host"),
        ("https://:8000", "no host"),
        ("http://localhost:eighty", "does not parse"),
        ("https://example.com/redress", "root"),
        ("https://example.com/?next=1", "root"),
        ("", "scheme"),
    ],
)
def test_a_url_that_would_break_every_emailed_link_stops_start_up(settings, url, why):
    settings.REDRESS_PUBLIC_URL = url
    (problem,) = public_url(None)
    assert problem.id == "redress.E201"
    assert problem.is_serious()
    assert repr(url) in problem.msg and why in problem.msg


def _fake_virtualenv(tmp_path: Path) -> Path:
    """A virtualenv whose python and uvicorn only print what they were given.

    Marked installed for the current pyproject.toml, so the script goes straight to running.
    """
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for name in ("python", "uvicorn"):
        tool = venv / "bin" / name
        tool.write_text(
            f'#!/bin/sh\necho "{name} $* REDRESS_PUBLIC_URL=$REDRESS_PUBLIC_URL"\n',
            encoding="utf-8",
        )
        tool.chmod(0o755)
    declared = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:16]
    (venv / f".installed-runtime-{declared}").touch()
    return venv


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "9123"}, "http://127.0.0.1:9123"),
        (
            {"PORT": "9123", "REDRESS_PUBLIC_URL": "https://complaints.example.com"},
            "https://complaints.example.com",
        ),
    ],
)
def test_redress_run_gives_emailed_links_the_port_it_serves_on(tmp_path, environment, expected):
    venv = _fake_virtualenv(tmp_path)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "REDRESS_VENV": str(venv),
        "REDRESS_VAR_DIR": str(tmp_path / "var"),
        **environment,
    }
    run = subprocess.run(
        [str(REPO / "redress"), "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = run.stdout.splitlines()
    # The migrating step (which runs the start-up checks) sees the URL the server will send
    # links with.
    (prepare,) = [line for line in lines if line.startswith("python manage.py prepare_demo ")]
    assert prepare.endswith(f"REDRESS_PUBLIC_URL={expected}")
    # The server is started by a launcher that first binds the port (redress, run()).
    (server,) = [line for line in lines if "/bin/uvicorn config.asgi:application" in line]
    assert server.startswith(f"python - {environment.get('PORT', '8000')} ")
    assert server.endswith(f"REDRESS_PUBLIC_URL={expected}")
