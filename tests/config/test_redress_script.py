"""``./redress run`` refuses what it cannot do in one clear line, before migrating anything.

The script runs in a subprocess against a scratch data folder and a stand-in virtualenv whose
programs are this interpreter's, marked as installed so the script installs nothing.
"""

import fcntl
import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT, free_port

ENVIRONMENT_NAMED_IN_USAGE = [
    "PORT",
    "REDRESS_VAR_DIR",
    "REDRESS_VENV",
    "REDRESS_INSTALLER",
    "DATABASE_URL",
    "REDIS_URL",
    "REDRESS_PUBLIC_URL",
]


@pytest.fixture
def venv(tmp_path) -> Path:
    """A virtualenv the script takes as installed: its programs are this interpreter's."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    real_bin = Path(sys.executable).parent
    for program in ["python", "uvicorn", "honcho"]:
        wrapper = venv / "bin" / program
        wrapper.write_text(f'#!/bin/sh\nexec {real_bin / program} "$@"\n')
        wrapper.chmod(0o755)
    declared = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    (venv / f".installed-dev-{declared}").touch()
    return venv


def redress(venv: Path, var: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "PORT", "REDRESS_PUBLIC_URL"}
    }
    environment.update(REDRESS_VENV=str(venv), REDRESS_VAR_DIR=str(var), **env)
    return subprocess.run(
        [str(ROOT / "redress"), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("args", [["run", "--help"], ["run", "-h"], ["test", "--help"]])
def test_help_prints_the_usage_and_the_environment_it_honours(venv, tmp_path, args):
    done = redress(venv, tmp_path / "var", *args)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ./redress run")
    for variable in ENVIRONMENT_NAMED_IN_USAGE:
        assert f"\n  {variable} " in done.stdout
    assert "==>" not in done.stdout
    assert not (tmp_path / "var").exists()


def test_an_unknown_argument_to_run_is_an_error(venv, tmp_path):
    done = redress(venv, tmp_path / "var", "run", "--prot=8001")

    assert done.returncode == 2
    assert "unknown argument '--prot=8001'" in done.stderr
    assert "==>" not in done.stdout


@pytest.mark.parametrize("port", ["abc", "99999", "-1", "0", "80 80"])
def test_an_invalid_port_is_refused_by_the_script(venv, tmp_path, port):
    done = redress(venv, tmp_path / "var", "run", PORT=port)

    assert done.returncode == 2
    assert done.stderr == f"PORT must be a number from 1 to 65535 (got '{port}').\n"
    assert "==>" not in done.stdout


def test_a_data_folder_that_cannot_be_created_stops_the_start_in_one_line(venv, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    var = blocker / "var"

    done = redress(venv, var, "run", PORT=str(free_port()))

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert f"The data folder {var} cannot be written" in done.stderr
    assert "REDRESS_VAR_DIR=" in done.stderr
    assert "Migrating" not in done.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_data_folder_stops_the_start_in_one_line(venv, tmp_path):
    var = tmp_path / "var"
    var.mkdir(mode=0o500)

    done = redress(venv, var, "run", PORT=str(free_port()))

    assert done.returncode == 1
    assert f"The data folder {var} cannot be written" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def busy_port():
    """A port another server listens on, answering like one."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_a_busy_port_stops_the_start_before_migrating_and_never_says_ready(
    venv, tmp_path, busy_port
):
    done = redress(venv, tmp_path / "var", "run", PORT=str(busy_port))

    assert done.returncode == 1
    assert done.stderr == (
        f"Port {busy_port} is in use (another Redress?). Stop it or choose another:"
        " PORT=8001 ./redress run\n"
    )
    assert "Migrating" not in done.stdout
    assert "Ready" not in done.stdout
    assert not (tmp_path / "var" / "redress.sqlite3").exists()


def test_a_second_embedded_start_on_the_same_data_folder_is_refused(venv, tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    with open(var / "redress-run.lock", "w") as held:
        # What the running Redress holds for as long as it runs.
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)

        done = redress(venv, var, "run", PORT=str(free_port()))

    assert done.returncode == 1
    assert f"Another ./redress run already uses the data folder {var}" in done.stderr
    assert "Migrating" not in done.stdout


def test_a_lock_left_by_a_crashed_start_does_not_block(venv, tmp_path, busy_port):
    var = tmp_path / "var"
    var.mkdir()
    (var / "redress-run.lock").write_text("")  # the file stays; its lock died with its owner

    done = redress(venv, var, "run", PORT=str(busy_port))

    # Past the lock: what stops this start is the port, checked next.
    assert "already uses the data folder" not in done.stderr
    assert f"Port {busy_port} is in use" in done.stderr
