"""``./redress run`` refuses what it cannot do in one clear line, before migrating anything.

The script runs in a subprocess against a scratch data folder and a stand-in virtualenv whose
programs are this interpreter's, marked as installed so the script installs nothing.
"""

import hashlib
import os
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
